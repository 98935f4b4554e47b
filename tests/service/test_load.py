"""The load test's smoke run (hashing encoder, 1k resources, 3 s steps), so that the script cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_load_test_quick_run_measures_and_survives_a_rebuild(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "load_test.py"), "--quick", "--home", str(tmp_path / "home"),
         "--out", str(out), "--plot", str(tmp_path / "load.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["meta"]["resources"] == 1000 and figures["meta"]["encoder"] == "hashing:64"
    assert figures["search"] and all(step["requests"] > 0 for step in figures["search"])
    one, two, rebuild = (figures["runs"][k] for k in ("1x", "2x", "1x_rebuild"))
    assert two["offered_rps"] == 2 * one["offered_rps"]
    for run_ in (one, two, rebuild):
        assert run_["requests"] > 0 and run_["p50_ms"] <= run_["p99_ms"] <= run_["max_ms"]
        assert run_["shed"] == 0  # nothing shed at these rates; shed answers are counted apart from errors
    assert one["errors"] == {} and rebuild["errors"] == {}
    swap = rebuild["rebuild"]
    assert swap["status"] == 202 and swap["version_after"] != swap["version_before"] and swap["error"] is None
    assert (tmp_path / "load.png").stat().st_size > 0
