"""Durability: the crash test at a short setting, and the index bug it found, pinned by a unit test."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import matcher.store as store_module
from matcher.schemas import Resource, utcnow
from service.engine import Engine
from tests.service.conftest import make_settings, seed

ROOT = Path(__file__).resolve().parents[2]


def test_a_write_that_commits_after_a_later_one_was_applied_still_reaches_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two requests: A is stamped first, B second, but B commits and is applied before A commits.
    settings = make_settings(tmp_path / "home")
    seed(settings)
    engine = Engine(settings)
    engine.start(demo_when_empty=False, poll_interval=None)
    try:
        stamped_earlier = utcnow() - timedelta(seconds=1)
        engine.store.upsert_resources([Resource(id="res-late-b", kind="financement", provider_id="prov-etat",
                                                title="Ressource écrite en second")])
        engine.sync()
        monkeypatch.setattr(store_module, "utcnow", lambda: stamped_earlier)
        engine.store.upsert_resources([Resource(id="res-late-a", kind="financement", provider_id="prov-etat",
                                                title="Ressource écrite en premier")])
        engine.store.delete_resource("res-mobilite")
        monkeypatch.undo()
        assert engine.sync() == 2
        assert "res-late-a" in engine.rec.index.resources and "res-mobilite" not in engine.rec.index.resources
        assert engine.state.count == engine.store.counts()["resources"]
        assert engine.sync() == 0  # the window looked at again holds nothing new
    finally:
        engine.close()


def test_crash_test_passes_at_a_short_setting(tmp_path: Path) -> None:
    report = tmp_path / "crash.json"
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "crash_test.py"), "--kills", "3", "--seed", "7",
         "--home", str(tmp_path / "home"), "--min-run", "1", "--max-run", "2.5", "--rebuild-chance", "0.5",
         "--startup-kill-chance", "0.5", "--max-seconds", "150", "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["kills"] == 3 and summary["failures"] == 0
    assert summary["writes_by_status"].get("no answer", 0) > 0  # the kills did land in the middle of writes
    assert summary["acknowledged_records"] > 50
    assert summary["startup_kills"] >= 1 and sum(summary["rebuilds_requested"].values()) >= 1  # seeded: both covered
    assert all(start["ready_s"] < 60 for start in summary["starts"])
