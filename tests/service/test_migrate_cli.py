"""``maillage migrate`` shows the current and target revisions and applies the chain; a database at a
revision this code does not know is a one-line French error, exit 2, for ``migrate``, ``serve`` and the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from matcher.schema_version import known_revisions, schema_state
from matcher.store import sqlite_url
from service.cli import app
from tests.matcher.test_schema_version import at_revision, make_newer

runner = CliRunner()


@pytest.mark.parametrize("command", [["migrate"], ["migrate", "--dry-run"], ["serve"], ["status"]])
def test_a_database_newer_than_the_code_is_a_one_line_french_error_exit_2(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path))
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    make_newer(sqlite_url(tmp_path / "maillage.db"))
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "9999_from_the_future" in result.output and "plus récente de Maillage" in result.output
    assert "Traceback" not in result.output


def test_migrate_shows_the_revisions_and_applies_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path))
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    url = sqlite_url(tmp_path / "maillage.db")
    at_revision(url, "0001")
    head = known_revisions()[-1]
    result = runner.invoke(app, ["migrate", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Révision actuelle : 0001" in result.output and f"Révision cible    : {head}" in result.output
    assert "rien n'a été appliqué" in result.output
    engine = create_engine(url)
    assert schema_state(engine).current == "0001"
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"le schéma est à la révision {head}" in result.output and schema_state(engine).current == head
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0 and "à jour" in result.output
    engine.dispose()


def test_the_service_does_not_start_on_a_database_newer_than_the_code(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from matcher.schema_version import SchemaTooNewError
    from service.api import create_app
    from tests.service.conftest import make_settings

    settings = make_settings(tmp_path / "home")
    make_newer(settings.db_url)
    with pytest.raises(SchemaTooNewError, match="9999_from_the_future"), TestClient(create_app(settings)):
        pass
