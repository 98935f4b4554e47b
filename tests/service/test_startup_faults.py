"""Start-up survives a damaged disk (issue 17 item 7): a garbage embedding cache is moved aside, and a
corrupt snapshot that cannot be rebuilt (a full disk) gives way to the newest sound older one."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexes import current
from matcher.indexing import ResourceIndex, resource_document
from matcher.schemas import MatchQuery, Resource
from service.api import create_app
from service.engine import Engine
from service.settings import Settings
from tests.service.conftest import make_settings, seed

QUERY = MatchQuery(text="jardin partagé compost potager", territory="93066")


def test_a_garbage_embedding_cache_is_moved_aside_and_the_engine_starts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path / "home")
    seed(settings)
    settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
    settings.cache_path.write_bytes(b"\x00garbage, not SQLite\x00" * 500)
    eng = Engine(settings)
    with caplog.at_level("WARNING"):
        eng.start(demo_when_empty=False, poll_interval=None)
    try:
        assert eng.recommend(QUERY, 3).matches
        aside = list(settings.cache_path.parent.glob(settings.cache_path.name + ".corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"\x00garbage")
        assert "moved aside" in caplog.text
    finally:
        eng.close()


def _disk_full(*args: object, **kwargs: object) -> ResourceIndex:
    raise OSError(errno.ENOSPC, "No space left on device")


def _two_snapshots_the_newest_corrupt(tmp_path: Path) -> tuple[Settings, dict[str, str], str, str]:
    """Snapshot A, then catalogue changes, then snapshot B (published), then B truncated."""
    settings = make_settings(tmp_path / "home")
    tokens = seed(settings)
    eng = Engine(settings)
    eng.start(demo_when_empty=False, poll_interval=None)
    older = eng.state.version
    store = eng.store
    edited = store.get_resource("res-jardin-93").model_copy(update={"title": "Vergers et ruchers de quartier"})
    eng.upsert_resources([edited, Resource(id="res-compost", kind="financement", provider_id="prov-etat",
                                           title="Composteurs collectifs", coverage=["FR"],
                                           description="compost collectif jardin partagé potager")])
    eng.delete_resource("res-mobilite")
    eng.rebuild(wait=True)
    newer = eng.state.version
    assert newer != older
    eng.close()
    folder = current(settings.index_dir)
    assert folder is not None and folder.name == newer
    dense = folder / "dense.faiss"
    dense.write_bytes(dense.read_bytes()[:10])  # truncated as on a full disk
    return settings, tokens, older, newer


def test_a_corrupt_snapshot_on_a_full_disk_falls_back_to_the_older_one_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, tokens, older, newer = _two_snapshots_the_newest_corrupt(tmp_path)
    monkeypatch.setattr(ResourceIndex, "build", classmethod(_disk_full))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        h = {"Authorization": f"Bearer {tokens['read-only']}"}
        status = client.get("/v1/index", headers=h).json()
        assert status["version"] == older and status["fallback_from"] == newer
        assert "index antérieur" in status["note"] and "espace disque" in status["note"]
        match = client.post("/v1/match", headers=h, json={"text": "jardin partagé compost potager",
                                                          "territory": "93066"})
        assert match.status_code == 200
        engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
        served = engine.rec.index.resources
        # The catalogue as it is, not as the older snapshot knew it: added, edited, deleted.
        assert "res-compost" in served and "res-mobilite" not in served
        assert served["res-jardin-93"].title == "Vergers et ruchers de quartier"
        doc = resource_document(served["res-jardin-93"], engine.rec.index.providers.get("prov-93"))
        np.testing.assert_allclose(engine.rec.index.dense.reconstruct("res-jardin-93"),
                                   engine.encoder.encode_documents([doc])[0], rtol=1e-5, atol=1e-6)


def test_with_no_older_sound_snapshot_the_disk_error_stops_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _, older, _ = _two_snapshots_the_newest_corrupt(tmp_path)
    for folder in settings.index_dir.iterdir():
        if folder.name == older:
            (folder / "manifest.json").write_text("{", encoding="utf-8")
    monkeypatch.setattr(ResourceIndex, "build", classmethod(_disk_full))
    eng = Engine(settings)
    with pytest.raises(OSError, match="No space left"):
        eng.start(demo_when_empty=False, poll_interval=None)
    eng.close()
