"""Demand against supply: per theme × territory and per need, how many initiatives the catalogue
leaves without a feasible resource.

For each cell (an initiative with several themes or needs counts in each of them):

* ``initiatives``: the initiatives of the cell;
* ``sans_eligible``: those whose served list is empty (no eligible resource at all);
* ``rien_ne_convient``: those for which nothing fits (no eligible resource, or none reaching the
  relevance threshold when a calibration is served: ``Recommendation.nothing_fits``);
* ``bloquees``: those whose best suggestions all fail one same criterion, and the criterion that
  blocks most of them;
* ``ecartees``: those for which at least one of their best suggestions fails a hard criterion (an
  eligibility wall met, even when other suggestions remain).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from matcher.labels import NEED
from matcher.observatory.places import NO_NEED, Place, needs_of, place_of, themes_of
from matcher.observatory.table import Column, Table
from matcher.observatory.verdicts import Verdict
from matcher.schemas import Initiative, Need

__all__ = ["CRITERION_FR", "GAP_COLUMNS", "gap_rows", "gap_tables"]

CRITERION_FR = {
    "territory": "territoire", "legal_form": "type de structure", "stage": "stade du projet",
    "amount": "montant", "dates": "dates", "capacity": "places ou budget", "needs": "besoins",
    "conditions": "conditions de la source",
}
"""French names of the criteria (:class:`matcher.schemas.Criterion`)."""

GAP_COLUMNS = [
    Column("initiatives", "Initiatives", "count"),
    Column("sans_eligible", "Sans ressource éligible", "count"),
    Column("part_sans_eligible", "Part sans ressource éligible", "share", of="sans_eligible"),
    Column("rien_ne_convient", "Rien ne convient", "count"),
    Column("part_rien_ne_convient", "Part rien ne convient", "share", of="rien_ne_convient"),
    Column("bloquees", "Bloquées par un critère", "count"),
    Column("part_bloquees", "Part bloquées", "share", of="bloquees"),
    Column("critere_bloquant", "Critère qui bloque le plus", of="bloquees"),
    Column("ecartees", "Écartées d'au moins une de leurs meilleures pistes", "count"),
    Column("part_ecartees", "Part écartées d'une meilleure piste", "share", of="ecartees"),
]

Key = tuple[str, ...]


def _tally(cells: dict[Key, list[Verdict]]) -> list[tuple[Key, dict[str, Any]]]:
    out: list[tuple[Key, dict[str, Any]]] = []
    for key, vs in cells.items():
        n = len(vs)
        none = sum(v.no_eligible for v in vs)
        fits = sum(v.nothing_fits for v in vs)
        blocked = [v.blocked_by for v in vs if v.blocked_by is not None]
        turned = sum(any(s.failures for s in v.best) for v in vs)
        top = sorted(Counter(blocked).items(), key=lambda kv: (-kv[1], kv[0]))
        out.append((key, {
            "initiatives": n, "sans_eligible": none, "part_sans_eligible": none / n,
            "rien_ne_convient": fits, "part_rien_ne_convient": fits / n,
            "bloquees": len(blocked), "part_bloquees": len(blocked) / n,
            "critere_bloquant": CRITERION_FR.get(top[0][0], top[0][0]) if top else "",
            "ecartees": turned, "part_ecartees": turned / n,
        }))
    # The cells most left without anything first; ties by their labels, so the order is reproducible.
    out.sort(key=lambda kv: (-kv[1]["rien_ne_convient"], -kv[1]["initiatives"], kv[0]))
    return out


def gap_rows(initiatives: Sequence[Initiative], verdicts: Sequence[Verdict],
             keys: Callable[[Initiative, Place], list[Key]]) -> list[tuple[Key, dict[str, Any]]]:
    """Cells keyed by ``keys(initiative, place)`` (several keys: counted in each), tallied, worst first."""
    cells: dict[Key, list[Verdict]] = {}
    for ini, v in zip(initiatives, verdicts, strict=True):
        for key in dict.fromkeys(keys(ini, place_of(ini))):
            cells.setdefault(key, []).append(v)
    return _tally(cells)


def _need_label(value: str) -> str:
    return NEED[Need(value)] if value != NO_NEED else value


def _table(name: str, title: str, dims: list[Column], rows: list[tuple[Key, dict[str, Any]]],
           note: str = "") -> Table:
    body = [dict(zip((c.key for c in dims), key, strict=True)) | values for key, values in rows]
    return Table(name, title, [*dims, *GAP_COLUMNS], body, note, basis="initiatives")


def gap_tables(initiatives: Sequence[Initiative], verdicts: Sequence[Verdict]) -> list[Table]:
    """The demand-against-supply tables: per theme, per département, per theme × région, theme × département,
    theme × kind of territory, and per need."""
    theme, region = Column("theme", "Thème"), Column("region", "Région")
    dep, kind = Column("departement", "Département"), Column("type_territoire", "Type de territoire")
    return [
        _table("ecarts_theme", "Initiatives sans piste, par thème", [theme],
               gap_rows(initiatives, verdicts, lambda i, p: [(t,) for t in themes_of(i)]),
               note="Une initiative à plusieurs thèmes compte dans chacun ; les quartiers prioritaires sont "
                    "ceux que la fiche de l'initiative désigne par le thème « quartiers prioritaires » (aucune "
                    "liste des quartiers n'est livrée avec Maillage)."),
        _table("ecarts_departement", "Initiatives sans piste, par département", [dep],
               gap_rows(initiatives, verdicts, lambda i, p: [(p.departement_name,)])),
        _table("ecarts_theme_region", "Initiatives sans piste, par thème et région", [theme, region],
               gap_rows(initiatives, verdicts, lambda i, p: [(t, p.region_name) for t in themes_of(i)])),
        _table("ecarts_theme_departement", "Initiatives sans piste, par thème et département", [theme, dep],
               gap_rows(initiatives, verdicts, lambda i, p: [(t, p.departement_name) for t in themes_of(i)])),
        _table("ecarts_theme_type_territoire", "Initiatives sans piste, par thème et type de territoire",
               [theme, kind], gap_rows(initiatives, verdicts, lambda i, p: [(t, p.kind) for t in themes_of(i)]),
               note="Type de territoire : rural ou urbain selon la population de la commune (3 500 habitants) "
                    "ou la faible densité du département ; ce n'est pas la grille de densité de l'INSEE, "
                    "qu'aucune donnée livrée ne contient."),
        _table("ecarts_besoin", "Initiatives sans piste, par besoin", [Column("besoin", "Besoin")],
               gap_rows(initiatives, verdicts, lambda i, p: [(_need_label(n),) for n in needs_of(i)])),
    ]
