"""The observatory on small catalogues whose answer is known by construction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.observatory import Column, Observatory, Table, observe, suppress
from matcher.observatory.blocks import rule_of
from matcher.observatory.report import write_report
from matcher.observatory.timeline import month_ends
from matcher.observatory.verdicts import Failure
from matcher.recommender import Recommender
from matcher.schemas import Initiative, Outcome, Provider, Resource
from matcher.store import Catalogue

TODAY = date(2026, 12, 1)
TEXT = "jardin partagé compost potager quartier"


def _resources(n: int = 4) -> list[Resource]:
    return [Resource(id=f"res-{i}", kind="financement", provider_id="prov-a" if i % 2 else "prov-b",
                     title=f"Aide aux jardins partagés {i}", description=f"Soutien aux projets de {TEXT}.",
                     coverage=["FR"], eligible_legal_forms=["association"], recurrence="permanent",
                     needs_covered=["financement"])
            for i in range(n)]


def _initiatives(collectifs: int, associations: int, month: int = 1) -> list[Initiative]:
    made = datetime(2026, month, 10, tzinfo=UTC)
    out = [Initiative(id=f"col-{month}-{i:02d}", title=f"Jardin du quartier {i}", description=f"Un {TEXT}.",
                      territory="93066", legal_form="collectif", needs=["financement"], themes=["lien social"],
                      created_at=made, updated_at=made)
           for i in range(collectifs)]
    out += [Initiative(id=f"asso-{month}-{i:02d}", title=f"Jardin associatif {i}", description=f"Un {TEXT}.",
                       territory="48095", legal_form="association", needs=["financement"], themes=["lien social"],
                       created_at=made, updated_at=made)
            for i in range(associations)]
    return out


def _observe(store: Catalogue, tmp_path: Path, initiatives: list[Initiative], *, min_cell: int = 5,
             outcomes: list[Outcome] | None = None, timeline: bool = False) -> Observatory:
    store.upsert_providers([Provider(id="prov-a", name="Financeur A"), Provider(id="prov-b", name="Financeur B")])
    store.upsert_resources(_resources())
    store.upsert_initiatives(initiatives)
    if outcomes:
        store.append_outcomes(outcomes)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, tmp_path / "indexes")
    return observe(Recommender(index, encoder), store.initiatives(), store.outcomes(), today=TODAY,
                   min_cell=min_cell, timeline=timeline)


def _row(table: Table, **where: object) -> dict[str, object]:
    rows = [r for r in table.rows if all(r.get(k) == v for k, v in where.items())]
    assert len(rows) == 1, (where, table.rows)
    return rows[0]


def test_reserved_to_associations_blocks_every_collectif(store: Catalogue, tmp_path: Path) -> None:
    obs = _observe(store, tmp_path, _initiatives(collectifs=10, associations=2))
    assert obs.headline["initiatives"] == 12
    assert obs.headline["sans_eligible"] == 10 and obs.headline["bloquees"] == 10
    crit = _row(obs.table("blocages_criteres"), critere="type de structure")
    assert crit["exclues"] == 10 and crit["bloquees"] == 10
    assert len(obs.table("blocages_criteres").rows) == 1  # nothing else fails
    clause = _row(obs.table("blocages_clauses"), clause="Ouvert aux structures : association")
    assert clause["ecarte"] == "pas à collectif citoyen" and clause["exclues"] == 10 and clause["bloquees"] == 10
    assert clause["ressources"] == 4
    assert clause["initiatives_concernees"] == [f"col-1-{i:02d}" for i in range(10)]
    assert "porter le projet avec l'une d'elles" in str(clause["conseil"])
    # Every resource is a best suggestion of all 12, eligible for the 2 associations only: 17 % < 20 %.
    rare = obs.table("ressources_peu_accessibles").rows
    assert sorted(r["ressource"] for r in rare) == [f"res-{i}" for i in range(4)]
    assert all(r["suggeree"] == 12 and r["eligibles"] == "< 5" and r["exclues"] == 10 for r in rare)
    per_provider = obs.table("blocages_financeurs").rows
    assert {r["financeur"] for r in per_provider} == {"Financeur A", "Financeur B"}
    assert all(r["critere"] == "type de structure" for r in per_provider)
    cell = _row(obs.table("ecarts_theme_departement"), theme="lien social", departement="Seine-Saint-Denis")
    assert cell["initiatives"] == 10 and cell["sans_eligible"] == 10 and cell["part_sans_eligible"] == "100.0 %"
    assert cell["critere_bloquant"] == "type de structure" and cell["ecartees"] == 10
    lozere = _row(obs.table("ecarts_departement"), departement="Lozère")
    assert lozere["ecartees"] == 0 and lozere["initiatives"] == "< 5"
    supply = obs.table("offre_departement")
    assert len(supply.rows) == 101
    seine_offer = _row(supply, code="93")
    assert seine_offer["ressources_ouvertes"] == 4 and seine_offer["ressources_locales"] == 0
    assert seine_offer["initiatives"] == 10 and seine_offer["rien_ne_convient"] == 10


def test_small_cells_are_suppressed(store: Catalogue, tmp_path: Path) -> None:
    obs = _observe(store, tmp_path, _initiatives(collectifs=3, associations=6))
    clause = _row(obs.table("blocages_clauses"), clause="Ouvert aux structures : association")
    assert clause["exclues"] == "< 5" and clause["bloquees"] == "< 5"
    assert clause["initiatives_concernees"] == "(liste masquée : moins de 5 initiatives)"
    seine = _row(obs.table("ecarts_departement"), departement="Seine-Saint-Denis")
    assert seine["initiatives"] == "< 5" and seine["part_sans_eligible"] == "—"
    lozere = _row(obs.table("ecarts_departement"), departement="Lozère")
    assert lozere["initiatives"] == 6 and lozere["sans_eligible"] == 0
    assert seine["critere_bloquant"] == "—"  # drawn from 3 blocked initiatives: hidden with their count
    # The same catalogue with a threshold of 3 publishes the cell and its list.
    again = suppress(Table("t", "t", [Column("n", "n", "count"), Column("ids", "ids", "ids")],
                           [{"n": 3, "ids": ["a", "b", "c"]}], basis="n"), 3)
    assert again.rows == [{"n": 3, "ids": ["a", "b", "c"]}]
    with pytest.raises(ValueError, match="min_cell"):
        suppress(again, 0)


def test_suppression_of_one_table() -> None:
    table = Table("t", "t", [Column("label", "L"), Column("n", "N", "count"), Column("k", "K", "count"),
                             Column("share", "S", "share", of="k"), Column("res", "R", "number"),
                             Column("ids", "I", "ids")],
                  [{"label": "x", "n": 7, "k": 2, "share": 2 / 7, "res": 1, "ids": list("abcdefg")},
                   {"label": "y", "n": 4, "k": 0, "share": 0.0, "res": 3, "ids": list("abcd")}], basis="n")
    rows = suppress(table, 5).rows
    assert rows[0] == {"label": "x", "n": 7, "k": "< 5", "share": "—", "res": 1, "ids": list("abcdefg")}
    assert rows[1]["n"] == "< 5" and rows[1]["k"] == 0 and rows[1]["share"] == "0.0 %" and rows[1]["res"] == 3
    assert rows[1]["ids"] == "(liste masquée : moins de 5 initiatives)"


def test_clause_rule_drops_the_amount_sought() -> None:
    rule = rule_of(Failure("amount", "Montant de 5 000 € à 9 000 € ; 1 234 € recherchés, sous le minimum.", None))
    assert rule == ("Montant de 5 000 € à 9 000 €", "")
    assert rule_of(Failure("stage", "Stades acceptés : déploiement ; pas « idée ».", None)) == (
        "Stades acceptés : déploiement", "pas « idée »")


def test_two_runs_write_the_same_csv(store: Catalogue, tmp_path: Path) -> None:
    inis = _initiatives(collectifs=6, associations=5)
    first = _observe(store, tmp_path, inis, timeline=True)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, tmp_path / "indexes2")
    second = observe(Recommender(index, encoder), list(reversed(store.initiatives())), store.outcomes(), today=TODAY)
    a, b = tmp_path / "a", tmp_path / "b"
    write_report(first, a)
    write_report(second, b)
    csvs = sorted(p.name for p in a.glob("*.csv"))
    assert len(csvs) == len(first.tables) >= 10
    for name in csvs:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("report.md", "report.html", "departements.png", "criteres.png"):
        assert (a / name).is_file(), name
    assert "Observatoire" in (a / "report.md").read_text(encoding="utf-8")


def test_two_workers_give_the_figures_of_one(store: Catalogue, tmp_path: Path) -> None:
    inis = _initiatives(collectifs=7, associations=6) + _initiatives(collectifs=3, associations=4, month=3)
    alone = _observe(store, tmp_path, inis, timeline=True)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, tmp_path / "indexes2")
    forked = observe(Recommender(index, encoder), store.initiatives(), store.outcomes(), today=TODAY,
                     timeline=True, workers=2)
    assert alone.headline == forked.headline and alone.headline["bloquees"] > 0
    assert [t.to_dict() for t in alone.tables] == [t.to_dict() for t in forked.tables]


def test_timeline_counts_the_initiatives_created_by_each_month_end(store: Catalogue, tmp_path: Path) -> None:
    inis = _initiatives(collectifs=5, associations=0, month=1) + _initiatives(collectifs=0, associations=6, month=3)
    won = [Outcome(initiative_id="asso-3-00", resource_id="res-0", decision="obtained",
                   occurred_at=datetime(2026, 4, 2, tzinfo=UTC))]
    obs = _observe(store, tmp_path, inis, outcomes=won, timeline=True)
    rows = {r["mois"]: r for r in obs.table("evolution_mensuelle").rows}
    assert list(rows)[:4] == ["2026-01", "2026-02", "2026-03", "2026-04"] and list(rows)[-1] == "2026-12"
    assert rows["2026-01"]["initiatives"] == 5 and rows["2026-01"]["sans_eligible"] == 5
    assert rows["2026-02"]["recalcule"] == "non" and rows["2026-02"]["initiatives"] == 5
    assert rows["2026-03"]["initiatives"] == 11 and rows["2026-03"]["sans_eligible"] == 5
    assert rows["2026-03"]["obtenu"] == 0 and rows["2026-04"]["obtenu"] == "< 5"
    assert rows["2026-04"]["recalcule"] == "oui"


def test_month_ends() -> None:
    assert month_ends(date(2023, 11, 5), date(2024, 2, 1)) == [date(2023, 11, 30), date(2023, 12, 31),
                                                              date(2024, 1, 31), date(2024, 2, 29)]


def test_supply_counts_the_open_resources_that_reach_each_departement() -> None:
    from matcher.observatory.supply import supply_table

    res = {r.id: r for r in [
        Resource(id="commune", kind="lieu", provider_id="p", title="Local à Saint-Denis", coverage=["93066"]),
        Resource(id="region", kind="financement", provider_id="p", title="Aide régionale", coverage=["R11"]),
        Resource(id="close", kind="financement", provider_id="p", title="Close", coverage=["FR"],
                 closes_at=date(2025, 1, 1)),
    ]}
    rows = {r["code"]: r for r in supply_table(res, [], [], today=TODAY).rows}
    assert rows["93"]["ressources_ouvertes"] == 2 and rows["93"]["ressources_locales"] == 2
    assert rows["75"]["ressources_ouvertes"] == 1 and rows["48"]["ressources_ouvertes"] == 0
