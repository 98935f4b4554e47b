"""End to end on the demo catalogue: loading, and what a matcher must and must never suggest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from indexes import Encoder, HashingEncoder, load_encoder
from matcher import territory
from matcher.demo_catalogue import load_demo
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.store import Catalogue, sqlite_url

TODAY = date(2026, 12, 1)  # the anchors' expected resources are all open then

# initiative → (resources a sensible matcher ranks in its top 3, resources that must never appear)
ANCHORS = {
    "ini-0001": ({"res-0032", "res-0035", "res-0144"}, {"res-0033", "res-0034", "res-0156", "res-0069"}),
    "ini-0002": ({"res-0062", "res-0076", "res-0046"}, {"res-0061"}),
    "ini-0004": ({"res-0071", "res-0035"}, {"res-0070", "res-0153", "res-0055"}),
    "ini-0005": ({"res-0068", "res-0143"}, {"res-0128", "res-0071"}),
    "ini-0008": ({"res-0084", "res-0021", "res-0152"}, {"res-0076"}),
    "ini-0009": ({"res-0072", "res-0002"}, {"res-0074"}),
}


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    store = Catalogue.open(sqlite_url(tmp_path_factory.mktemp("demo") / "maillage.db"))
    report = load_demo(store, today=TODAY)
    assert report.rejected == 0, [str(e) for e in report.errors[:5]]
    yield store
    store.close()


def _recommender(store: Catalogue, encoder: Encoder, root: Path) -> Recommender:
    return Recommender(ResourceIndex.build(store, encoder, root), encoder)


def test_demo_catalogue_size_and_variety(demo_store: Catalogue) -> None:
    counts = demo_store.counts()
    assert counts["resources"] >= 120 and counts["initiatives"] >= 300 and counts["providers"] >= 30
    resources = demo_store.resources()
    assert {r.kind.value for r in resources} == {
        "financement", "appel_a_projets", "besoin_service_public", "accompagnement", "donnees", "expertise", "lieu"
    }
    inis = demo_store.initiatives()
    assert {i.legal_form.value for i in inis if i.legal_form} >= {
        "collectif", "association", "entreprise_ess", "entreprise", "collectivite", "etablissement_public"
    }
    assert {i.stage.value for i in inis if i.stage} == {
        "idee", "prototype", "experimentation", "deploiement", "changement_echelle"
    }
    kinds = {territory.territory_kind(i.territory) for i in inis}
    assert {"urban", "rural", "overseas"} <= kinds


def test_loading_twice_changes_nothing(demo_store: Catalogue) -> None:
    report = load_demo(demo_store, today=TODAY)
    assert sum(report.inserted.values()) == 0 and sum(report.updated.values()) == 0


def test_dates_move_forward_in_later_years(tmp_path: Path) -> None:
    store = Catalogue.open(sqlite_url(tmp_path / "m.db"))
    load_demo(store, today=date(2029, 5, 1))
    assert store.get_resource("res-0032").closes_at == date(2029, 3, 31)


def test_no_initiative_ever_gets_a_closed_inactive_or_out_of_territory_resource(
    demo_store: Catalogue, tmp_path: Path
) -> None:
    rec = _recommender(demo_store, HashingEncoder(256), tmp_path / "idx")
    resources = {r.id: r for r in demo_store.resources()}
    for ini in demo_store.initiatives():
        for m in rec.recommend(ini, 20, today=TODAY).matches:
            r = resources[m.resource_id]
            assert r.active, (ini.id, r.id)
            assert r.is_open(TODAY), (ini.id, r.id)
            assert territory.covers(r.coverage, ini.territory), (ini.id, r.id, r.coverage)


@pytest.mark.model
def test_anchors_get_a_sensible_resource_near_the_top(
    demo_store: Catalogue, tmp_path: Path, e5_folder: Path
) -> None:
    encoder = load_encoder("multilingual-e5-small", models_dir=e5_folder.parent)
    rec = _recommender(demo_store, encoder, tmp_path / "idx")
    for ini_id, (expected, never) in ANCHORS.items():
        matches = rec.recommend(demo_store.get_initiative(ini_id), 50, today=TODAY).matches
        ids = [m.resource_id for m in matches]
        assert expected & set(ids[:3]), (ini_id, ids[:5])
        assert not never & set(ids), (ini_id, never & set(ids))
        assert all(m.reasons for m in matches)
