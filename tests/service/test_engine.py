"""The serving state: start-up repair, following writes made elsewhere, rebuild and swap under queries."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from indexes import current
from matcher.schemas import MatchQuery, Resource
from matcher.store import Catalogue
from service.engine import Engine
from tests.service.conftest import make_settings, seed

QUERY = MatchQuery(text="jardin partagé compost potager", territory="93066")


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "home")
    seed(settings)
    eng = Engine(settings)
    eng.start(demo_when_empty=False, poll_interval=None)
    yield eng
    eng.close()


def test_a_corrupt_snapshot_is_rebuilt_at_start_and_said(engine: Engine) -> None:
    folder = current(engine.settings.index_dir)
    assert folder is not None
    (folder / "dense.faiss").write_bytes(b"not a faiss index")
    engine.close()
    again = Engine(engine.settings)
    again.start(demo_when_empty=False, poll_interval=None)
    try:
        assert again.state.repaired and "rebuilt" in again.state.repaired
        assert again.rec.recommend(QUERY, 3).matches
    finally:
        again.close()


def test_a_stale_snapshot_is_rebuilt_at_start(engine: Engine) -> None:
    engine.store.delete_resource("res-national-eco")
    engine.close()
    again = Engine(engine.settings)
    again.start(demo_when_empty=False, poll_interval=None)
    try:
        assert "5 in the catalogue" in (again.state.repaired or "") and "rebuilt" in (again.state.repaired or "")
        assert "res-national-eco" not in again.rec.index.resources
    finally:
        again.close()


def test_writes_made_by_another_process_are_followed_within_a_second(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", sync_interval_s=0.1)
    seed(settings)
    eng = Engine(settings)
    eng.start(demo_when_empty=False, poll_interval=0.1)
    try:
        other = Catalogue.open(settings.db_url)  # another worker, or maillage import
        other.upsert_resources([Resource(id="res-compost", kind="financement", provider_id="prov-etat",
                                         title="Composteurs collectifs de quartier", coverage=["FR"],
                                         description="compost collectif jardin partagé potager")])
        other.delete_resource("res-mobilite")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and ("res-compost" not in eng.rec.index.resources
                                                or "res-mobilite" in eng.rec.index.resources):
            time.sleep(0.02)
        assert "res-compost" in eng.rec.index.resources and "res-mobilite" not in eng.rec.index.resources
        ids = [m.resource_id for m in eng.rec.recommend(QUERY, 5).matches]
        assert "res-compost" in ids and "res-mobilite" not in ids
        other.close()
    finally:
        eng.close()


def test_rebuild_swaps_in_without_failing_queries_and_keeps_writes_made_meanwhile(engine: Engine) -> None:
    before = engine.state.version
    errors: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def query() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                with engine.lock.read():
                    assert engine.rec.recommend(QUERY, 3).matches
                answered += 1
            except BaseException as exc:  # any failure is the test's subject
                errors.append(exc)

    threads = [threading.Thread(target=query) for _ in range(2)]
    for t in threads:
        t.start()
    started = engine.rebuild()
    engine.store.upsert_resources([Resource(id="res-late", kind="financement", provider_id="prov-etat",
                                            title="Aide arrivée pendant la reconstruction", coverage=["FR"])])
    engine.sync()
    assert started and engine._rebuild_thread is not None
    engine._rebuild_thread.join(30)
    time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert not errors and answered > 0
    assert engine.state.version != before and not engine.rebuilding
    assert "res-late" in engine.rec.index.resources
