"""Storage faults answer 503/507 with a French message, reads and matches go on, and each incident is
logged once (issue 17 item 6): a read-only database and a full disk answered 500 with a traceback."""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from service.api import create_app
from service.api.storage_faults import FULL, UNAVAILABLE, Incidents, classify
from tests.conftest import open_store
from tests.service.conftest import Api, make_settings, seed

NEW = {"id": "ini-recyclerie", "title": "Recyclerie de quartier", "territory": "75056"}
MATCH = {"text": "jardin partagé compost potager", "territory": "93066"}


def _read_only(api: Api) -> None:
    """Every new connection of the served catalogue refuses writes, as a read-only file does (the
    tests run as root, whom chmod does not stop: ``PRAGMA query_only`` gives SQLite's same error)."""
    engine = api.client.app.state.engine.store.engine  # type: ignore[attr-defined]

    def query_only(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    event.listen(engine, "connect", query_only)
    engine.dispose()  # reopen: the pooled connections were opened writable


def _stored(api: Api) -> dict[str, Any]:
    h = api.h("staff")
    return {kind: api.client.get(f"/v1/{kind}?limit=100", headers=h).json() for kind in ("initiatives", "resources")}


def test_a_read_only_database_answers_503_in_french_and_matches_go_on(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    before = _stored(api)
    _read_only(api)
    with caplog.at_level(logging.ERROR, logger="maillage.api"):
        for _ in range(4):
            r = api.client.post("/v1/initiatives", json=NEW, headers=api.h("staff"))
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "store_unavailable"
            assert r.json()["error"]["message"] == UNAVAILABLE and "lecture seule" in UNAVAILABLE
            assert r.headers["Retry-After"] == "30"
        r = api.client.delete("/v1/resources/res-mobilite", headers=api.h("staff"))
        assert r.status_code == 503, r.text
    assert api.client.post("/v1/match", json=MATCH, headers=api.h("read-only")).status_code == 200
    assert api.client.post("/v1/initiatives/ini-jardin/match", headers=api.h("staff")).status_code == 200
    assert api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).status_code == 200
    assert api.client.get("/readyz").status_code == 200  # reads work: still ready for matches
    faults = [r for r in caplog.records if "storage fault" in r.getMessage()]
    assert len(faults) == 1 and "read_only" in faults[0].getMessage()  # once per incident
    assert "Traceback" not in caplog.text and "INSERT" not in faults[0].getMessage()
    assert _stored(api) == before  # nothing stored was lost


def _disk_full(*args: object, **kwargs: object) -> Any:
    raise OperationalError("INSERT INTO …", {}, sqlite3.OperationalError("database or disk is full"))


def test_a_full_disk_answers_507_and_loses_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _stored(api)
    store = api.client.app.state.engine.store  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "_upsert", _disk_full)
    r = api.client.post("/v1/initiatives", json=NEW, headers=api.h("staff"))
    assert r.status_code == 507, r.text
    assert r.json()["error"] == {"code": "storage_full", "message": FULL, "details": [],
                                 "request_id": r.headers["X-Request-Id"]}
    body = {"id": "ini-x", "title": "x", "territory": "75056"}
    r = api.client.post("/v1/import/initiatives", content=json.dumps(body).encode(),
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 507, r.text
    assert api.client.post("/v1/match", json=MATCH, headers=api.h("read-only")).status_code == 200
    assert _stored(api) == before
    monkeypatch.undo()  # space freed: writes go through again
    assert api.client.post("/v1/initiatives", json=NEW, headers=api.h("staff")).status_code == 201


def test_an_oserror_of_a_full_disk_answers_507(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def enospc(*args: object, **kwargs: object) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(api.client.app.state.engine, "rebuild", enospc)  # type: ignore[attr-defined]
    r = api.client.post("/v1/index/rebuild", headers=api.h("admin"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "storage_full"


def test_faults_are_told_from_bugs() -> None:
    def wrapped(orig: BaseException) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig)

    assert classify(wrapped(sqlite3.OperationalError("database is locked"))).kind == "locked"  # type: ignore[union-attr]
    assert classify(wrapped(psycopg.errors.DiskFull("could not extend file"))).status == 507  # type: ignore[union-attr]
    ro = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
    assert classify(wrapped(ro)).kind == "read_only"  # type: ignore[union-attr]
    refused = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 '
                                       "failed: Connection refused")
    assert classify(wrapped(refused)).kind == "unreachable"  # type: ignore[union-attr]
    assert classify(OSError(errno.EROFS, "Read-only file system")).status == 503  # type: ignore[union-attr]
    assert classify(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))) is None
    assert classify(OSError(errno.ENOENT, "No such file")) is None
    assert classify(ValueError("database or disk is full")) is None  # only the driver's errors


def test_an_incident_is_logged_once_then_again_after_a_quiet_spell() -> None:
    incidents = Incidents(quiet_s=60)
    fault = classify(OSError(errno.ENOSPC, "full"))
    assert fault is not None
    exc = OSError(errno.ENOSPC, "full")
    said = [incidents.met(fault, exc, "POST /v1/x", now=t) for t in (0, 1, 30, 89, 200, 201)]
    assert said == [True, False, False, False, True, False]
    assert incidents.count("disk_full") == 2


def test_the_schema_documents_the_faults_a_write_can_meet(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"503", "507"} <= set(paths["/v1/initiatives"]["post"]["responses"])
    assert "507" not in paths["/v1/initiatives"]["get"]["responses"]


def test_a_catalogue_down_during_the_key_check_is_logged_once_not_per_request(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    refused = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 '
                                       "failed: Connection refused")

    def down(token: str) -> None:
        raise OperationalError("SELECT …", {}, refused)

    monkeypatch.setattr(api.client.app.state.keys, "authenticate", down)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="maillage.api"):
        for _ in range(5):
            r = api.client.post("/v1/match", json=MATCH, headers=api.h("read-only"))
            assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
            assert "clé d'API ne peut pas être vérifiée" in r.json()["error"]["message"]
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "maillage.api"]
    assert len(logged) == 1 and "unreachable" in logged[0] and "SELECT" not in logged[0]


def test_a_read_only_postgresql_database_answers_503_and_matches_go_on(tmp_path: Path) -> None:
    """The same fault on PostgreSQL (``default_transaction_read_only``, as on a standby or a database
    put read-only by its operator): skipped without ``MAILLAGE_TEST_POSTGRES_URL``."""
    with open_store("postgresql", tmp_path) as store:  # the database is dropped when the block ends
        settings = make_settings(tmp_path / "home", database_url=store.engine.url.render_as_string(hide_password=False))
        tokens = seed(settings)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            name = store.engine.url.database
            with store.engine.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
                conn.commit()
            client.app.state.engine.store.engine.dispose()  # type: ignore[attr-defined]  # reconnect: now read-only
            staff = {"Authorization": f"Bearer {tokens['staff']}"}
            r = client.post("/v1/initiatives", json=NEW, headers=staff)
            assert r.status_code == 503 and r.json()["error"]["message"] == UNAVAILABLE, r.text
            assert client.post("/v1/match", json=MATCH, headers=staff).status_code == 200
            assert client.get("/v1/initiatives/ini-jardin", headers=staff).status_code == 200
