"""``maillage backup`` then ``maillage restore`` into a new installation gives the same matches, on SQLite
and on PostgreSQL; a restore refuses an altered backup and a non-empty target, and touches nothing then."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import PG_ADMIN_URL
from tests.service.test_cli import write

runner = CliRunner()
QUERIES = [["--text", "jardin partagé compost potager", "--territory", "93066"],
           ["--text", "covoiturage transport solidaire", "--territory", "48"],
           ["--initiative", "ini-jardin"]]


@pytest.fixture
def pg_databases() -> Iterator[list[str]]:
    """URLs of two fresh PostgreSQL databases (dropped after)."""
    if not PG_ADMIN_URL:
        pytest.skip("no PostgreSQL server: set MAILLAGE_TEST_POSTGRES_URL (.ci/postgres.sh starts one)")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = [f"maillage_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield [make_url(PG_ADMIN_URL).set(database=n).render_as_string(hide_password=False) for n in names]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def use(monkeypatch: pytest.MonkeyPatch, home: Path, db_url: str | None) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(home))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    if db_url:
        monkeypatch.setenv("MAILLAGE_DATABASE_URL", db_url)
    else:
        monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)


def fill(tmp_path: Path) -> None:
    """The small catalogue through the CLI, an outcome, and an index built by a first match."""
    from tests.conftest import small_catalogue

    providers, resources, initiatives = small_catalogue()
    for what, records in (("providers", providers), ("resources", resources), ("initiatives", initiatives)):
        path = write(tmp_path / f"{what}.jsonl", [r.model_dump(mode="json") for r in records])
        result = runner.invoke(app, ["import", what, str(path)])
        assert result.exit_code == 0, result.output


def matches() -> list[list[tuple[str, float | None]]]:
    """Ranked ids and scores of every query in :data:`QUERIES`."""
    ranked = []
    for query in QUERIES:
        result = runner.invoke(app, ["match", *query, "--json", "-k", "5"])
        assert result.exit_code == 0, result.output
        ranked.append([(m["resource_id"], m["score"]) for m in json.loads(result.stdout)])
    assert any(ranked), "the queries must match something, or the comparison proves nothing"
    return ranked


def round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, urls: tuple[str | None, str | None]) -> None:
    use(monkeypatch, tmp_path / "home-a", urls[0])
    fill(tmp_path)
    before = matches()
    result = runner.invoke(app, ["backup", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "saved" / "manifest.json").read_text())
    assert any(name.startswith("home/indexes/") for name in manifest["files"])
    assert "home/cache/embeddings.sqlite" in manifest["files"]
    use(monkeypatch, tmp_path / "home-b", urls[1])
    result = runner.invoke(app, ["restore", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    assert "Restauration faite" in result.output
    assert matches() == before


def test_backup_then_restore_gives_the_same_matches_on_sqlite(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    round_trip(tmp_path, monkeypatch, (None, None))
    assert (tmp_path / "home-b" / "maillage.db").is_file()


def test_backup_then_restore_gives_the_same_matches_on_postgresql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_databases: list[str]) -> None:
    round_trip(tmp_path, monkeypatch, (pg_databases[0], pg_databases[1]))
    assert not (tmp_path / "home-b" / "maillage.db").exists()


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use(monkeypatch, tmp_path / "home-a", None)
    fill(tmp_path)
    matches()
    result = runner.invoke(app, ["backup", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    return tmp_path / "saved"


def test_backup_refuses_an_existing_destination(saved: Path) -> None:
    result = runner.invoke(app, ["backup", str(saved)])
    assert result.exit_code == 2 and "existe déjà" in result.output


def test_restore_refuses_a_non_empty_home_unless_forced(saved: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home-b"
    use(monkeypatch, home, None)
    home.mkdir()
    (home / "secret_key").write_text("kept")
    result = runner.invoke(app, ["restore", str(saved)])
    assert result.exit_code == 2 and "n'est pas vide" in result.output and "--force" in result.output
    assert [p.name for p in home.iterdir()] == ["secret_key"] and (home / "secret_key").read_text() == "kept"
    result = runner.invoke(app, ["restore", str(saved), "--force"])
    assert result.exit_code == 0, result.output
    assert (home / "maillage.db").is_file() and (home / "indexes" / "CURRENT").is_file()
    saved_key = saved / "home" / "secret_key"  # replaced when the backup has one, else left as it was
    assert (home / "secret_key").read_bytes() == (saved_key.read_bytes() if saved_key.exists() else b"kept")


@pytest.mark.parametrize("damage", ["change", "remove", "add", "symlink"])
def test_restore_refuses_an_altered_backup_and_touches_nothing(saved: Path, tmp_path: Path, damage: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    victim = next(p for p in sorted((saved / "home" / "indexes").rglob("*")) if p.is_file())
    if damage == "change":
        victim.write_bytes(victim.read_bytes() + b"\0")
    elif damage == "remove":
        victim.unlink()
    elif damage == "add":
        (saved / "home" / "intrus.txt").write_text("?")
    else:  # a link would make the restore copy a file from outside the backup into the home
        outside = tmp_path / "outside.txt"
        outside.write_text("hors de la sauvegarde")
        (saved / "home" / "lien.txt").symlink_to(outside)
    home = tmp_path / "home-b"
    use(monkeypatch, home, None)
    result = runner.invoke(app, ["restore", str(saved)])
    assert result.exit_code == 2, result.output
    assert "altérée" in result.output and "rien n'a été restauré" in result.output
    assert not home.exists() or not any(home.iterdir())


def test_restore_of_something_else_says_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, tmp_path / "home", None)
    (tmp_path / "notes").mkdir()
    result = runner.invoke(app, ["restore", str(tmp_path / "notes")])
    assert result.exit_code == 2 and "n'est pas une sauvegarde de Maillage" in result.output


def test_restore_over_a_postgresql_catalogue_needs_force_then_replaces_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_databases: list[str]) -> None:
    use(monkeypatch, tmp_path / "home-a", pg_databases[0])
    fill(tmp_path)
    before = matches()
    assert runner.invoke(app, ["backup", str(tmp_path / "saved")]).exit_code == 0
    result = runner.invoke(app, ["import", "resources", str(write(tmp_path / "more.jsonl", [
        {"id": "res-later", "kind": "financement", "provider_id": "prov-93", "title": "Jardins partagés, après",
         "description": "jardin partagé compost potager quartier", "coverage": ["93"], "recurrence": "permanent"}]))])
    assert result.exit_code == 0, result.output
    assert matches() != before
    use(monkeypatch, tmp_path / "home-b", pg_databases[0])  # an empty home, the same (non-empty) database
    result = runner.invoke(app, ["restore", str(tmp_path / "saved")])
    assert result.exit_code == 2 and "contient déjà des tables" in result.output, result.output
    result = runner.invoke(app, ["restore", str(tmp_path / "saved"), "--force"])
    assert result.exit_code == 0, result.output
    assert matches() == before
