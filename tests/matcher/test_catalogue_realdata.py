"""The real catalogues of ../shared/data imported whole: every row imported or reported, perimeters
resolved, re-import idempotent. Skipped when the shared data is absent."""

from __future__ import annotations

import pytest

from matcher.importers.catalogues import import_catalogue
from matcher.store import Catalogue
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.realdata
AT = SHARED_DATA / "aides-territoires"
TEE = SHARED_DATA / "tee-programmes" / "programs"


def _need(path: object) -> None:
    if not getattr(path, "exists", lambda: False)():
        pytest.skip(f"real data absent: {path}")


def test_the_274_aids_of_the_aides_territoires_export(store: Catalogue) -> None:
    _need(AT / "aides_periurbain.csv")
    report = import_catalogue(store, "aides-territoires", [AT / "aides_periurbain.csv"])
    print(f"aides-territoires: {report.imported} imported, {len(report.problems)} reported, perimeters resolved "
          f"{report.perimeters_resolved}/{report.perimeters} ({report.perimeter_rate:.1%})")
    assert report.read == 274 and report.imported + len(report.problems) == 274  # 0 rows lost
    assert report.imported == 274 and report.perimeter_rate > 0.9
    unresolved = [w for w in report.warnings if "périmètre" in w.message]
    assert len(unresolved) == report.perimeters - report.perimeters_resolved
    assert all(w.line >= 2 for w in unresolved)  # each names its line of the file
    assert len(store.providers()) == 96  # the 96 distinct financers, each once
    again = import_catalogue(store, "aides-territoires", [AT / "aides_periurbain.csv"])
    assert (again.added, again.updated, again.expired, len(again.unchanged)) == ([], [], [], 274)


def test_the_264_tee_programmes(store: Catalogue) -> None:
    _need(TEE)
    report = import_catalogue(store, "tee", [TEE])
    print(f"tee: {report.imported} imported, {len(report.problems)} reported, perimeters resolved "
          f"{report.perimeters_resolved}/{report.perimeters}")
    assert report.read == 264 and report.imported == 264, [str(p) for p in report.problems[:5]]
    regional = store.get_resource("tee-accelerateur-decarbonation")
    assert regional.eligibility_text is not None and "Plus de 50 salariés" in regional.eligibility_text
    assert sum(r.coverage != ["FR"] for r in store.resources()) >= 60  # the regional programmes
    assert all(r.eligibility_text for r in store.resources())  # every programme shows its conditions
    again = import_catalogue(store, "tee", [TEE])
    assert len(again.unchanged) == 264 and again.updated == []


def test_both_real_sources_together_and_the_drome_feed(store: Catalogue) -> None:
    _need(AT / "aides_periurbain.csv")
    _need(TEE)
    import_catalogue(store, "aides-territoires", [AT / "aides_periurbain.csv"])
    tee = import_catalogue(store, "tee", [TEE])
    assert tee.imported == 264 and len(store.resources()) == 274 + 264 - len(tee.merged)
    feed = import_catalogue(store, "aides-territoires-api", [AT / "feeds" / "departement_drome_data.json"],
                            source="feed-drome")
    assert feed.read == feed.imported + len(feed.problems) and feed.imported >= 1
