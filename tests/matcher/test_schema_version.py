"""Upgrades from every shipped revision to the head keep the data and leave a working store; a database
at a revision this code does not know is refused (tests/service/test_migrate_cli.py: by the CLI too).

The chain is read from the migrations themselves (Alembic's script directory), so revisions added later
are walked too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from matcher import tables
from matcher.schema_version import SchemaTooNewError, known_revisions, schema_state
from matcher.store import Catalogue, sqlite_url
from tests.conftest import open_store, small_catalogue


def at_revision(url: str, revision: str) -> None:
    """A catalogue at ``revision`` holding the small catalogue's providers and resources, inserted as the
    first revision's columns allow (later columns take their defaults or stay null)."""
    cat = Catalogue.open(url, migrate=False)
    cat.migrate(revision)
    providers, resources, _ = small_catalogue()
    now = datetime.now(UTC)
    with cat.engine.begin() as conn:
        conn.execute(tables.providers.insert(), [
            {"id": p.id, "name": p.name, "kind": p.kind.value, "source": p.source, "data": p.model_dump(mode="json"),
             "content_hash": "old", "updated_at": now} for p in providers])
        conn.execute(text(
            "INSERT INTO resources (id, kind, provider_id, title, active, closes_at, source, data, content_hash, "
            "updated_at) VALUES (:id, :kind, :provider_id, :title, :active, :closes_at, :source, :data, "
            ":content_hash, :updated_at)"),
            [{"id": r.id, "kind": r.kind.value, "provider_id": r.provider_id, "title": r.title, "active": True,
              "closes_at": r.closes_at, "source": r.source, "data": r.model_dump_json(), "content_hash": "old",
              "updated_at": now} for r in resources])
    cat.close()


def test_the_chain_is_linear_and_starts_at_the_first_migration() -> None:
    revisions = known_revisions()
    assert revisions[0] == "0001" and len(revisions) == len(set(revisions)) >= 4


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("start", known_revisions())
def test_upgrade_from_each_revision_keeps_the_data_and_the_store_works(backend: str, start: str,
                                                                        tmp_path: Path) -> None:
    providers, resources, initiatives = small_catalogue()
    with open_store(backend, tmp_path) as fresh:  # a fresh database, emptied back to nothing
        url = fresh.engine.url.render_as_string(hide_password=False)
        tables.metadata.drop_all(fresh.engine)
        with fresh.engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        fresh.close()
        at_revision(url, start)
        engine = create_engine(url)
        state = schema_state(engine)
        engine.dispose()
        assert state.current == start and state.pending == tuple(known_revisions()[known_revisions().index(start)
                                                                                     + 1:])
        cat = Catalogue.open(url)
        try:
            assert [p.id for p in cat.providers()] == sorted(p.id for p in providers)
            assert [r.id for r in cat.resources()] == sorted(r.id for r in resources)
            assert cat.get_resource("res-jardin-93").title == resources[0].title
            engine = create_engine(url)
            assert schema_state(engine).pending == ()
            engine.dispose()
            cat.upsert_initiatives(initiatives)
            assert cat.upsert_resources(resources[:1]) == (0, 1)
            assert cat.counts()["initiatives"] == 1
        finally:
            cat.close()


def make_newer(url: str) -> None:
    Catalogue.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()


def test_a_database_newer_than_the_code_is_refused_by_the_store(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "maillage.db")
    make_newer(url)
    with pytest.raises(SchemaTooNewError, match=r"9999_from_the_future.*ne rétrograde pas"):
        Catalogue.open(url)
    engine = create_engine(url)
    with engine.connect() as conn:  # refused before anything was touched
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_from_the_future"
    engine.dispose()
