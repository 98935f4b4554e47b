"""Stateless replicas: two ``maillage serve`` processes, each with its own home, on one PostgreSQL
catalogue, behind a client that sends requests to each in turn. A resource written through one is
matched by the other within a second (each follows the catalogue with its poller)."""

from __future__ import annotations

import itertools
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from _server import Server, create_key, free_port  # noqa: E402  (scripts/ is not a package)

pytestmark = pytest.mark.skipif(not PG_ADMIN_URL, reason="no PostgreSQL server: set MAILLAGE_TEST_POSTGRES_URL "
                                                          "(.ci/postgres.sh starts one)")


@pytest.fixture
def database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert PG_ADMIN_URL is not None
    name = f"maillage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Balanced:
    """A test client that sends each request to the next replica in turn (a port-balancing proxy)."""

    def __init__(self, bases: list[str], token: str) -> None:
        self.clients = [httpx.Client(base_url=b, headers={"Authorization": f"Bearer {token}"}, timeout=30)
                        for b in bases]
        self._turn = itertools.cycle(range(len(bases)))

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, httpx.Response]:
        """``(replica index, response)``."""
        i = next(self._turn)
        return i, self.clients[i].request(method, path, **kwargs)

    def close(self) -> None:
        for c in self.clients:
            c.close()


def _matched(client: httpx.Client, rid: str, words: str) -> bool:
    r = client.post("/v1/match", json={"text": words, "territory": "75056", "k": 50})
    assert r.status_code == 200, r.text[:300]
    return rid in {m["resource_id"] for m in r.json()["matches"]}


def test_two_serve_processes_on_one_database_see_each_others_writes_within_a_second(
    tmp_path: Path, database: str
) -> None:
    import os

    common = {**os.environ, "MAILLAGE_DATABASE_URL": database, "MAILLAGE_MODEL": "hashing:64",
              "MAILLAGE_SECRET_KEY": secrets.token_hex(32), "MAILLAGE_RATE_PER_KEY": "1000000",
              "MAILLAGE_RATE_PER_IP": "1000000", "MAILLAGE_DEMO_WHEN_EMPTY": "true",
              "MAILLAGE_SYNC_INTERVAL_S": "0.5", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    servers = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        servers.append(Server(home, free_port(), {**common, "MAILLAGE_HOME": str(home)}))
    client: Balanced | None = None
    try:
        servers[0].start()  # the first one loads the demo catalogue into the empty database
        servers[0].wait_ready(120)
        servers[1].start()
        servers[1].wait_ready(120)
        token = create_key(servers[0].env, "replicas")
        client = Balanced([s.base for s in servers], token)
        providers = client.clients[0].get("/v1/providers", params={"limit": 5}).json()["items"]
        lags = []
        for n in range(4):  # writes alternate between the replicas; each is read through the other
            rid, words = f"res-replica-{n}", f"zorglubium{n} quaternavire{n}"
            body = {"id": rid, "kind": "financement", "provider_id": providers[0]["id"], "coverage": ["FR"],
                    "title": f"Aide {words}", "description": f"Ressource d'essai {words}.", "active": True}
            writer, r = client.request("POST", "/v1/resources", json=body)
            assert r.status_code in (200, 201), r.text[:300]
            written = time.monotonic()
            other = client.clients[1 - writer]
            assert other.get(f"/v1/resources/{rid}").status_code == 200  # the database: at once
            while not _matched(other, rid, words):
                assert time.monotonic() - written < 1.0, f"{rid} written through replica {writer} is not " \
                                                          "matched by the other after a second"
                time.sleep(0.05)
            lags.append(time.monotonic() - written)
            assert _matched(client.clients[writer], rid, words)  # and by the writer itself
        assert len(lags) == 4 and max(lags) < 1.0
        deleter, r = client.request("DELETE", "/v1/resources/res-replica-0")
        assert r.status_code in (200, 204), r.text[:300]
        gone = time.monotonic()
        while _matched(client.clients[1 - deleter], "res-replica-0", "zorglubium0 quaternavire0"):
            assert time.monotonic() - gone < 1.0, "a deletion through one replica still matched by the other"
            time.sleep(0.05)
    finally:
        if client is not None:
            client.close()
        for s in servers:
            s.kill()
        for s in servers:
            log = s.log_since_start()
            assert "Traceback" not in log, log[-3000:]
