"""Admission control (issue 17, item 2): a flood from one key is shed with 429/503 and Retry-After, never
504 or 500; other keys and the probes are answered meanwhile; work queued past its deadline never runs;
abandoned work stops at the pipeline's next stage and gives its thread back.

The engine is slowed deterministically: a text starting with ``lent`` blocks in ``Engine.recommend``
until the test releases it, one starting with ``bloque`` until its request's deadline is cancelled or
passed (a stage longer than the request's budget). Assertions are on statuses and counts, not times."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from matcher import deadline as deadline_mod
from matcher.presentation import Presenter
from matcher.schemas import MatchQuery
from service.api import create_app
from service.engine import Engine
from tests.service.conftest import make_settings, seed

SAFETY_S = 10.0  # bounds every wait of these tests; never reached when the code is right


@dataclass
class SlowEngine:
    """Counts ``Engine.recommend`` calls per first word of the text and holds the slow ones."""

    release: threading.Event = field(default_factory=threading.Event)
    calls: Counter[str] = field(default_factory=Counter)
    presented: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recommend, present = Engine.recommend, Presenter.present
        tag: dict[int, str] = {}

        def slowed(engine: Engine, query: Any, k: int, **kw: Any) -> Any:
            word = query.text.split()[0] if isinstance(query, MatchQuery) else "stored"
            with self.lock:
                self.calls[word] += 1
            tag[threading.get_ident()] = word
            if word == "lent":
                self.release.wait(SAFETY_S)
            elif word == "bloque":  # a stage that outlasts the request's budget, then the next checkpoint
                end = time.monotonic() + SAFETY_S
                while time.monotonic() < end and (d := deadline_mod.current()) is not None and not d.expired:
                    time.sleep(0.005)
            return recommend(engine, query, k, **kw)

        def counted(presenter: Presenter, *args: Any, **kw: Any) -> Any:
            with self.lock:
                self.presented[tag.get(threading.get_ident(), "?")] += 1
            return present(presenter, *args, **kw)

        monkeypatch.setattr(Engine, "recommend", slowed)
        monkeypatch.setattr(Presenter, "present", counted)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowEngine]:
    engine = SlowEngine()
    engine.install(monkeypatch)
    yield engine
    engine.release.set()


def run_app(tmp_path: Path, body: Callable[[FastAPI, httpx.AsyncClient, dict[str, str]], Awaitable[None]],
            **settings: object) -> None:
    """``body(app, client, tokens)`` against the app on an in-process transport, engine started."""
    values = make_settings(tmp_path / "home", **settings)
    tokens = seed(values)
    app = create_app(values)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=SAFETY_S) as client:
                await body(app, client, tokens)

    asyncio.run(main())


def match(client: httpx.AsyncClient, token: str, text: str) -> Awaitable[httpx.Response]:
    return client.post("/v1/match", json={"text": text}, headers={"Authorization": f"Bearer {token}"})


async def until(predicate: Callable[[], bool]) -> None:
    end = time.monotonic() + SAFETY_S
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.01)


def shed_answer(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert int(response.headers["Retry-After"]) >= 1


LONG = "lent " + "jardin partagé et atelier vélo " * 10  # 305 characters: 4 units at 100 a unit, capped at 2


def test_flood_from_one_key_is_shed_while_others_and_probes_are_served(tmp_path: Path, slow: SlowEngine) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        flood = [asyncio.ensure_future(match(client, tokens["staff"], LONG)) for _ in range(10)]
        await until(lambda: sum(t.done() for t in flood) == 9 and slow.calls["lent"] == 1)
        refused = [t.result() for t in flood if t.done()]
        for r in refused:  # the key's share (2 units) is held by its one running match
            shed_answer(r, 429, "key_busy")
        assert "trop de demandes en cours pour cette clé" in refused[0].json()["error"]["message"]
        # refused from the headers, before the body is read: even a malformed body gets the 429
        early = await client.post("/v1/match", content=b"{not json", headers={
            "Authorization": f"Bearer {tokens['staff']}", "Content-Type": "application/json"})
        shed_answer(early, 429, "key_busy")
        other = await match(client, tokens["read-only"], "vite une recyclerie solidaire à Brest")
        assert other.status_code == 200 and slow.calls["vite"] == 1
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"})).text
        assert "maillage_admission_in_flight 1.0" in metrics
        assert 'maillage_admission_shed_total{reason="key_share"} 10.0' in metrics
        slow.release.set()
        statuses = Counter([(await t).status_code for t in flood])
        assert statuses == {200: 1, 429: 9}
        after = await match(client, tokens["staff"], "vite un jardin partagé")
        assert after.status_code == 200

    run_app(tmp_path, body, admission_workers=3, admission_units=6, admission_key_units=2, admission_queue=2,
            admission_chars_per_unit=100)


def test_full_queue_answers_503_and_queued_work_past_its_deadline_never_runs(tmp_path: Path,
                                                                           slow: SlowEngine) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        running = asyncio.ensure_future(match(client, tokens["staff"], LONG))  # the one worker
        await until(lambda: slow.calls["lent"] == 1)
        queued = asyncio.ensure_future(match(client, tokens["read-only"], "attente d'un atelier vélo"))
        await until(lambda: len(app.state.admission.queue) == 1)
        shed_answer(await match(client, tokens["admin"], "attente d'une serre"), 503, "overloaded")
        shed_answer(await queued, 503, "overloaded")  # 0.3 s in the queue: answered, never started
        slow.release.set()
        assert (await running).status_code == 200
        await until(lambda: app.state.admission.running == 0)
        assert slow.calls["attente"] == 0
        assert (await match(client, tokens["read-only"], "vite une recyclerie")).status_code == 200
        metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"})).text
        assert 'maillage_admission_shed_total{reason="queue_full"} 1.0' in metrics
        assert 'maillage_admission_shed_total{reason="queue_timeout"} 1.0' in metrics

    run_app(tmp_path, body, admission_workers=1, admission_units=2, admission_key_units=2, admission_queue=1,
            admission_queue_timeout_s=0.3, admission_chars_per_unit=100)


def test_work_past_its_deadline_stops_at_the_next_stage_with_503_not_504(tmp_path: Path, slow: SlowEngine) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        late = await match(client, tokens["staff"], "bloque un jardin partagé")
        shed_answer(late, 503, "overloaded")
        await until(lambda: app.state.admission.running == 0)  # the thread was given back
        assert slow.calls["bloque"] == 1 and slow.presented["bloque"] == 0  # stopped before explaining
        assert (await match(client, tokens["staff"], "vite un jardin partagé")).status_code == 200
        assert slow.presented["vite"] == 1

    run_app(tmp_path, body, request_timeout_s=1.0)


def test_abandoned_request_stops_its_work_and_frees_the_key_share(tmp_path: Path, slow: SlowEngine) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        gone = asyncio.ensure_future(match(client, tokens["staff"], "bloque " + "x" * 300))
        await until(lambda: slow.calls["bloque"] == 1)
        gone.cancel()  # the client stops waiting: the in-process transport cancels the request
        await until(lambda: app.state.admission.running == 0)
        assert slow.presented["bloque"] == 0 and app.state.admission.per_key == {}
        assert (await match(client, tokens["staff"], "vite " + "x" * 300)).status_code == 200

    run_app(tmp_path, body, admission_key_units=2, admission_chars_per_unit=100)
