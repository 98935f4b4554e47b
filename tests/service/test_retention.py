"""Retention (issue 19): widget submissions without staff follow-up expire after
``MAILLAGE_RETENTION_MONTHS``; ``maillage retention run`` erases them through the erasure path,
``--dry-run`` lists them; the console shows what will expire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.retention import expiring, months_before
from matcher.schemas import Decision, Initiative, Outcome
from matcher.store import Catalogue
from service.cli import app
from tests.service.conftest import Api, make_settings, seed

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)  # the CLI runs at its own now
runner = CliRunner()


def _submission(iid: str, *, months_ago: int, days_more: int = 0, source: str = "widget:Portail",
                edited: bool = False) -> Initiative:
    created = months_before(NOW, months_ago) - timedelta(days=days_more)
    return Initiative(id=iid, title=f"Projet {iid}", description="Un projet de quartier", territory="93066",
                      source=source, consent=True, created_at=created,
                      updated_at=created + (timedelta(days=3) if edited else timedelta(seconds=1)))


def _fill(store: Catalogue) -> None:
    store.upsert_initiatives([
        _submission("web-old", months_ago=13),
        _submission("web-due-today", months_ago=12),
        _submission("web-young", months_ago=11),
        _submission("web-decided", months_ago=20),
        _submission("web-edited", months_ago=20, edited=True),
        _submission("ini-staff", months_ago=30, source="manual"),
    ])
    store.append_outcomes([Outcome(initiative_id="web-decided", resource_id="res-jardin-93",
                                   decision=Decision.shortlisted)])


def test_months_are_calendar_months() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2025, 1, 15, tzinfo=UTC)


def test_only_unattended_widget_submissions_past_the_period_expire(api: Api) -> None:
    store = Catalogue.open(api.settings.db_url)
    _fill(store)
    assert [e.initiative.id for e in expiring(store, months=12, now=NOW)] == ["web-old", "web-due-today"]
    soon = expiring(store, months=12, now=NOW, within=timedelta(days=40))
    assert [e.initiative.id for e in soon] == ["web-old", "web-due-today", "web-young"]
    with pytest.raises(ValueError, match="at least 1"):
        expiring(store, months=0, now=NOW)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = make_settings(tmp_path / "home")
    seed(settings)
    _fill(Catalogue.open(settings.db_url))
    monkeypatch.setenv("MAILLAGE_HOME", str(settings.home))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    return settings.home


def test_retention_run_dry_run_lists_then_run_erases(home: Path) -> None:
    store = Catalogue.open(f"sqlite:///{home / 'maillage.db'}")
    listed = runner.invoke(app, ["retention", "run", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert "web-old" in listed.output and "rien n'a été effacé" in listed.output and "web-young" not in listed.output
    assert len(store.get_initiatives(["web-old", "web-young"])) == 2
    done = runner.invoke(app, ["retention", "run"])
    assert done.exit_code == 0, done.output
    assert "initiative(s) effacée(s)" in done.output
    left = store.get_initiatives(["web-old", "web-due-today", "web-young", "web-decided", "web-edited", "ini-staff"])
    assert sorted(left) == ["ini-staff", "web-decided", "web-edited", "web-young"]
    actions = [e.action for e in store.audit_page(limit=10)[0]]
    assert actions == ["retention.run", "initiative.erase", "initiative.erase"]
    again = runner.invoke(app, ["retention", "run"])
    assert again.exit_code == 0 and "Aucun projet expiré" in again.output


def test_the_console_shows_what_will_expire(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app
    from tests.service.test_web import _sign_in

    settings = make_settings(tmp_path / "home")
    tokens = seed(settings)
    store = Catalogue.open(settings.db_url)
    now = datetime.now(UTC)
    store.upsert_initiatives([
        Initiative(id="web-soon", title="Projet bientôt expiré", territory="93066", source="widget:Portail",
                   consent=True, created_at=months_before(now, 12) + timedelta(days=10),
                   updated_at=months_before(now, 12) + timedelta(days=10)),
        Initiative(id="web-fresh", title="Projet récent", territory="93066", source="widget:Portail", consent=True),
    ])
    with TestClient(create_app(settings)) as client:
        _sign_in(client, tokens["staff"])
        page = client.get("/console/donnees")
        assert page.status_code == 200
        assert "Projet bientôt expiré" in page.text and "Projet récent" not in page.text
        assert "expire bientôt" in page.text and "12 mois" in page.text
        assert "Journal des actions" not in page.text  # the audit log is for admins
        assert re.search(r'href="/console/donnees"[^>]*aria-current="page"', page.text)
