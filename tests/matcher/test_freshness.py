"""Freshness and contact of each suggestion: « vérifiée le JJ/MM/AAAA », a warning past the threshold,
the provider's address when a resource has no page; display only (the ranking does not move); and a
new optional field that leaves stored records' content hashes as they were."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from indexes import HashingEncoder
from matcher.freshness import STALE_AFTER_DAYS, freshness_of
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.schemas import Match, MatchQuery, Provider, Resource
from matcher.store import Catalogue, content_hash

TODAY = date(2026, 12, 2)
EIGHT_MONTHS_AGO = TODAY - timedelta(days=243)
LAST_WEEK = TODAY - timedelta(days=7)
DEMO = Path(__file__).resolve().parents[2] / "matcher" / "demo"


def test_a_record_checked_last_week_is_fresh_and_says_when() -> None:
    f = freshness_of(date(2026, 11, 25), TODAY)
    assert (f.verified, f.stale, f.warning) == ("vérifiée le 25/11/2026", False, None)


def test_a_record_checked_eight_months_ago_carries_the_warning() -> None:
    f = freshness_of(EIGHT_MONTHS_AGO, TODAY)
    assert f.stale and f.verified == f"vérifiée le {EIGHT_MONTHS_AGO:%d/%m/%Y}"
    assert f.warning is not None and "plus de 6 mois" in f.warning and "financeur" in f.warning


def test_the_threshold_is_the_callers_and_its_edge_is_not_stale() -> None:
    assert STALE_AFTER_DAYS == 183
    assert not freshness_of(TODAY - timedelta(days=183), TODAY).stale
    assert freshness_of(TODAY - timedelta(days=184), TODAY).stale
    assert freshness_of(LAST_WEEK, TODAY, stale_after_days=5).stale
    with pytest.raises(ValueError, match="stale_after_days"):
        freshness_of(LAST_WEEK, TODAY, stale_after_days=0)


def test_a_record_never_checked_is_flagged() -> None:
    f = freshness_of(None, TODAY)
    assert f.stale and f.verified == "date de vérification inconnue" and f.warning


def test_an_unknown_date_is_not_said_to_be_a_record_never_checked() -> None:
    # No last_verified means the date is unknown (an export without one), not that nobody checked.
    warning = freshness_of(None, TODAY).warning or ""
    assert "jamais" not in warning and warning.startswith("Date de vérification inconnue")


@pytest.fixture
def index(store: Catalogue, tmp_path: Path) -> ResourceIndex:
    store.upsert_providers([
        Provider(id="prov-ville", name="Ville de Saint-Denis", kind="commune", url="https://ville-saint-denis.fr"),
        Provider(id="prov-sans", name="Fondation sans site", kind="fondation"),
    ])
    words = "jardin partagé compost quartier potager"
    store.upsert_resources([
        Resource(id="res-old", kind="financement", provider_id="prov-ville", title="Aide aux jardins (ancienne)",
                 description=words, url="https://ville-saint-denis.fr/jardins", last_verified=EIGHT_MONTHS_AGO,
                 recurrence="permanent"),
        Resource(id="res-fresh", kind="financement", provider_id="prov-ville", title="Aide aux jardins",
                 description=words, last_verified=LAST_WEEK, recurrence="permanent"),
        Resource(id="res-contact", kind="accompagnement", provider_id="prov-sans", title="Conseil jardins",
                 description=words, contact="jardins@fondation.example.org", last_verified=LAST_WEEK,
                 recurrence="permanent"),
        Resource(id="res-nothing", kind="accompagnement", provider_id="prov-sans", title="Conseil compost",
                 description=words, recurrence="permanent"),
    ])
    return ResourceIndex.build(store, HashingEncoder(64), tmp_path / "indexes")


def _matches(index: ResourceIndex, stale_after_days: int = STALE_AFTER_DAYS) -> dict[str, Match]:
    rec = Recommender(index, HashingEncoder(64), stale_after_days=stale_after_days)
    got = rec.recommend(MatchQuery(text="jardin partagé et compost"), 4, today=TODAY)
    return {m.resource_id: m for m in got.matches}


def test_every_match_says_when_it_was_verified_and_warns_when_old(index: ResourceIndex) -> None:
    by_id = _matches(index)
    old, fresh = by_id["res-old"], by_id["res-fresh"]
    assert old.stale and old.last_verified == EIGHT_MONTHS_AGO
    assert old.stale_warning is not None and "plus de 6 mois" in old.stale_warning
    assert fresh.verified == f"vérifiée le {LAST_WEEK:%d/%m/%Y}"
    assert not fresh.stale and fresh.stale_warning is None


def test_a_resource_without_a_page_shows_its_contact_or_its_providers(index: ResourceIndex) -> None:
    by_id = _matches(index)
    assert by_id["res-old"].contact is None  # its own page is the way in
    assert by_id["res-fresh"].contact == "https://ville-saint-denis.fr"
    assert by_id["res-contact"].contact == "jardins@fondation.example.org"
    assert by_id["res-nothing"].contact is None  # nobody to name


def test_the_threshold_changes_the_flags_and_never_the_ranking(index: ResourceIndex) -> None:
    strict, lenient = _matches(index, stale_after_days=3), _matches(index, stale_after_days=3650)
    assert strict["res-fresh"].stale and not lenient["res-old"].stale
    assert [(m.resource_id, m.score) for m in strict.values()] == [
        (m.resource_id, m.score) for m in lenient.values()]
    with pytest.raises(ValueError, match="stale_after_days"):
        Recommender(index, HashingEncoder(64), stale_after_days=0)


def test_the_new_contact_field_leaves_stored_hashes_as_they_were() -> None:
    """The demo catalogue's hashes, pinned from the code before ``Resource.contact`` existed: a record
    stored then is not seen as changed (re-imported, re-indexed, re-tagged) because of the new field."""
    lines = (DEMO / "resources.jsonl").read_text(encoding="utf-8").splitlines()
    first = Resource.model_validate_json(lines[0])
    assert content_hash(first) == "91b4f66d8d51375d9bc137e7d4e745655cc78a6a5cd462b2641a7860846a8802"
    with_contact = first.model_copy(update={"contact": "contact@ademe.fr"})
    assert content_hash(with_contact) != content_hash(first)
    assert "contact" not in json.loads(lines[0])  # the demo records are left as they were
