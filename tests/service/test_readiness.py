"""No index is built on a request path: the reverse view before the initiative index is ready answers
503 with Retry-After and a French message (JSON for the API, a page in the console), never a 504; once
built, it answers, and later writes rebuild it in the background while the previous one is served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from matcher.indexing import InitiativeIndex
from service.api import create_app
from service.background import BackgroundIndex, IndexNotReady
from service.engine import Engine
from service.settings import Settings
from tests.service.conftest import Api, make_settings, seed
from tests.service.test_web import _sign_in


class HeldEngine(Engine):
    """An engine whose initiative index is built in the background and held until ``release`` is set."""

    release = threading.Event()
    builds = 0

    def start(self, **kwargs: object) -> None:
        def held() -> InitiativeIndex:
            HeldEngine.release.wait(30)
            HeldEngine.builds += 1
            return InitiativeIndex.build(self.store, self.encoder)

        self.initiatives = BackgroundIndex(held, "initiative index")
        super().start(**kwargs, wait_initiatives=False)  # type: ignore[arg-type]


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Api]:
    settings: Settings = make_settings(tmp_path / "home")
    tokens = seed(settings)
    HeldEngine.release.clear()
    HeldEngine.builds = 0
    with TestClient(create_app(settings, engine_factory=HeldEngine), raise_server_exceptions=False) as client:
        yield Api(client, settings, tokens)
        HeldEngine.release.set()


def test_the_reverse_view_answers_503_until_its_index_is_built(held: Api) -> None:
    r = held.client.get("/v1/resources/res-jardin-93/initiatives", headers=held.h("staff"))
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1
    error = r.json()["error"]
    assert error["code"] == "index_not_ready" and "index des initiatives" in error["message"]
    assert "réessayez" in error["message"]
    # the other matches do not wait for it
    assert held.client.post("/v1/match", json={"text": "jardin partagé"}, headers=held.h("staff")).status_code == 200

    _sign_in(held.client, held.tokens["staff"])
    page = held.client.get("/console/ressources/res-jardin-93")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "index des initiatives est en cours de construction" in page.text and "Retry-After" in page.headers
    assert "Aide" in page.text or "jardin" in page.text.lower()  # the resource itself is still shown

    HeldEngine.release.set()
    engine: Engine = held.client.app.state.engine  # type: ignore[attr-defined]
    for _ in range(200):
        if engine.initiatives.ready:
            break
        time.sleep(0.05)
    r = held.client.get("/v1/resources/res-jardin-93/initiatives", headers=held.h("staff"))
    assert r.status_code == 200 and r.json()["matches"][0]["initiative_id"] == "ini-jardin"
    assert "Jardin partagé de la cité" in held.client.get("/console/ressources/res-jardin-93").text


def test_a_write_rebuilds_in_the_background_while_the_previous_index_is_served(held: Api) -> None:
    HeldEngine.release.set()
    engine: Engine = held.client.app.state.engine  # type: ignore[attr-defined]
    for _ in range(200):
        if engine.initiatives.ready:
            break
        time.sleep(0.05)
    first = engine.initiatives.get()
    HeldEngine.release.clear()  # the next build waits: the request must not
    engine.initiatives_changed()
    started = time.monotonic()
    r = held.client.get("/v1/resources/res-jardin-93/initiatives", headers=held.h("staff"))
    assert r.status_code == 200 and time.monotonic() - started < 5
    assert engine.initiatives.get() is first
    HeldEngine.release.set()
    for _ in range(200):
        if engine.initiatives.get() is not first:
            break
        time.sleep(0.05)
    assert engine.initiatives.get() is not first and HeldEngine.builds == 2


def test_a_discarded_index_is_not_served_and_a_build_begun_before_is_dropped() -> None:
    """An erasure discards the reverse index: it is refused at once, and a build that read the old
    data while the discard happened is not published; the next build is."""
    release, started, calls = threading.Event(), threading.Event(), []

    def build() -> int:
        calls.append(len(calls))
        if len(calls) == 2:  # the build running when the discard comes: it read the old data
            started.set()
            release.wait(10)
        return len(calls)

    index = BackgroundIndex(build, "initiative index")
    index.start(wait=True)
    assert index.get() == 1
    index.changed()
    assert started.wait(10)
    index.discard()
    with pytest.raises(IndexNotReady):
        index.get()
    release.set()
    deadline = time.monotonic() + 10
    while not index.ready:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert index.get() == 3  # the second build (begun before the discard) was dropped
    index.close()
