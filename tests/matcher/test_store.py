from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from matcher import tables
from matcher.schema_version import known_revisions
from matcher.schemas import Outcome, Resource
from matcher.store import Catalogue, NotFoundError, content_hash, sqlite_url
from tests.conftest import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalogue]:
    """The same tests on SQLite and on PostgreSQL: one code path for both."""
    with open_store(request.param, tmp_path) as cat:
        yield cat


def test_sqlite_runs_in_wal_mode(store: Catalogue) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("WAL is a SQLite setting")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_migrations_create_the_declared_tables(store: Catalogue) -> None:
    insp = inspect(store.engine)
    for table in tables.metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    Catalogue.open(url).close()
    cat = Catalogue.open(url)
    with cat.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == known_revisions()[-1]


def test_upgrading_a_first_version_catalogue_keeps_its_records(tmp_path: Path) -> None:
    from tests.conftest import small_catalogue

    url = sqlite_url(tmp_path / "old.db")
    old = Catalogue.open(url, migrate=False)
    old.migrate("0001")
    providers, resources, _ = small_catalogue()
    with old.engine.begin() as conn:  # rows as the first version wrote them (no changed_at column)
        conn.execute(tables.providers.insert(), [{"id": p.id, "name": p.name, "kind": p.kind.value,
                                                   "source": p.source, "data": p.model_dump(mode="json"),
                                                   "content_hash": "h", "updated_at": p_time()}
                                                  for p in providers])
    old.close()
    cat = Catalogue.open(url)
    assert [p.id for p in cat.providers()] == sorted(p.id for p in providers)
    assert cat.upsert_resources(resources) == (len(resources), 0)
    live, deleted, newest = cat.resources_changed_since(None)
    assert len(live) == len(resources) and not deleted and newest is not None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_brings_stored_numbers_and_days_inside_the_bounds(backend: str, tmp_path: Path) -> None:
    """A capacity past float range or a day in the year 9999, stored before the bounds existed, is read
    back inside them after the upgrade (capacity at the bound, day unknown), the rest untouched."""
    from tests.conftest import small_catalogue

    providers, resources, _ = small_catalogue()
    with open_store(backend, tmp_path) as cat:
        cat.upsert_providers(providers)
        cat.upsert_resources(resources)
        with cat.engine.begin() as conn:  # back to 0002 (0003 changes data only), rows as the old schema allowed
            conn.execute(text("DROP TABLE ended_sessions"))
            conn.execute(text("DROP TABLE audit_log"))
            for table in ("alert_subscriptions", "alert_items", "alert_outbox", "alert_state"):  # 0006_alerts
                conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0002')"))
            data = resources[0].model_dump(mode="json") | {"capacity": 10**309, "closes_at": "9999-12-31",
                                                           "opens_at": "2026-01-01"}
            conn.execute(tables.resources.update().where(tables.resources.c.id == resources[0].id).values(
                data=data, closes_at=None))
        cat.migrate()
        got = cat.get_resource(resources[0].id)
        assert got.capacity == 10**12 and got.closes_at is None and got.opens_at == date(2026, 1, 1)
        assert got.title == resources[0].title and got.coverage == resources[0].coverage
        assert [r.id for r in cat.resources()] == sorted(r.id for r in resources)
        with cat.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == known_revisions()[-1]


def p_time():  # type: ignore[no-untyped-def]
    from matcher.schemas import utcnow

    return utcnow()


def test_upsert_inserts_updates_and_skips_unchanged(filled_store: Catalogue) -> None:
    res = filled_store.get_resource("res-mobilite")
    assert filled_store.upsert_resources([res]) == (0, 0)
    changed = res.model_copy(update={"title": "Aide à la mobilité solidaire (2e édition)"})
    assert filled_store.upsert_resources([changed]) == (0, 1)
    assert filled_store.get_resource("res-mobilite").title.endswith("(2e édition)")
    new = Resource(id="res-new", kind="lieu", provider_id="prov-etat", title="Tiers-lieu")
    assert filled_store.upsert_resources([new]) == (1, 0)


def test_soft_delete_hides_but_keeps_the_row(filled_store: Catalogue) -> None:
    before = filled_store.resources_hash()
    filled_store.delete_resource("res-mobilite")
    assert "res-mobilite" not in {r.id for r in filled_store.resources()}
    assert filled_store.get_resource("res-mobilite", include_deleted=True).id == "res-mobilite"
    assert filled_store.resources_hash() != before
    with pytest.raises(NotFoundError, match="aucune ressource n'a l'identifiant 'res-mobilite'"):
        filled_store.get_resource("res-mobilite")
    with pytest.raises(NotFoundError):
        filled_store.delete_resource("res-mobilite")


def test_upserting_a_deleted_resource_restores_it(filled_store: Catalogue) -> None:
    res = filled_store.get_resource("res-mobilite")
    filled_store.delete_resource("res-mobilite")
    filled_store.upsert_resources([res])
    assert filled_store.get_resource("res-mobilite").title == res.title


def test_changes_since_skip_rows_whose_content_the_caller_already_holds(filled_store: Catalogue) -> None:
    live, _, newest = filled_store.resources_changed_since(None)
    known = {r.id: content_hash(r) for r in live}  # what a caller computes from the records it got
    edited = filled_store.get_resource("res-mobilite").model_copy(update={"title": "Mobilité solidaire (revue)"})
    filled_store.upsert_resources([edited])
    filled_store.delete_resource("res-entreprises")
    assert newest is not None
    again, deleted, _ = filled_store.resources_changed_since(newest - timedelta(hours=1), known=known)
    assert [r.title for r in again] == ["Mobilité solidaire (revue)"] and deleted == ["res-entreprises"]


def test_outcomes_are_append_only_and_deduplicated_by_id(filled_store: Catalogue) -> None:
    o = Outcome(id="out-1", initiative_id="ini-jardin", resource_id="res-jardin-93", decision="shortlisted")
    assert filled_store.append_outcomes([o]) == 1
    assert filled_store.append_outcomes([o]) == 0
    later = Outcome(id="out-2", initiative_id="ini-jardin", resource_id="res-jardin-93", decision="obtained")
    assert filled_store.append_outcomes([later]) == 1
    assert [x.decision.value for x in filled_store.outcomes(initiative_id="ini-jardin")] == [
        "shortlisted", "obtained"
    ]


def test_outcome_without_id_gets_a_stable_one(filled_store: Catalogue) -> None:
    o = Outcome(initiative_id="ini-jardin", resource_id="res-jardin-93", decision="dismissed", reason="hors sujet")
    assert filled_store.append_outcomes([o]) == 1
    assert filled_store.append_outcomes([o]) == 0  # a retried identical write is not counted twice
    [stored] = filled_store.outcomes()
    assert stored.id and stored.id.startswith("o-") and stored.reason == "hors sujet"


def test_staff_overrides_leave_the_snapshot_signature_alone(filled_store: Catalogue) -> None:
    before = filled_store.outcomes_signature()
    pin = Outcome(initiative_id="ini-jardin", resource_id="res-jardin-93", decision="pinned", reason="vu en comité")
    filled_store.append_outcomes([pin])
    assert filled_store.outcomes_signature() == before
    filled_store.append_outcomes([Outcome(initiative_id="ini-jardin", resource_id="res-jardin-93",
                                          decision="obtained")])
    assert filled_store.outcomes_signature() != before


def test_unknown_ids_raise_not_found(store: Catalogue) -> None:
    with pytest.raises(NotFoundError, match="aucune initiative n'a l'identifiant 'nope'"):
        store.get_initiative("nope")
    with pytest.raises(NotFoundError, match="aucun financeur n'a l'identifiant 'nope'"):
        store.get_provider("nope")


def test_unsupported_database_is_refused() -> None:
    from matcher.store import StoreError

    with pytest.raises(StoreError, match="unsupported database"):
        Catalogue.open("mysql+pymysql://u:p@localhost/db")
