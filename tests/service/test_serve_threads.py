"""``maillage serve --workers N`` shares the CPUs left to encoding among its workers (each keeps one
for its own pipeline), unless ``MAILLAGE_ENCODER_THREADS`` says otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app


@pytest.mark.parametrize(("cpus", "workers", "given", "expected"),
                         [(8, 2, None, "3"), (2, 2, None, "1"), (16, 4, None, "3"), (8, 2, "5", "5"),
                          (8, 1, None, None)])
def test_workers_share_the_encoder_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int,
                                           given: str | None, expected: str | None) -> None:
    import uvicorn

    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path))
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv("MAILLAGE_ENCODER_THREADS", "1")  # recorded, so that what serve sets is undone after
    monkeypatch.delenv("MAILLAGE_ENCODER_THREADS")
    if given is not None:
        monkeypatch.setenv("MAILLAGE_ENCODER_THREADS", given)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run",
                        lambda *a, **kw: seen.update(kw, threads=os.environ.get("MAILLAGE_ENCODER_THREADS")))
    result = CliRunner().invoke(app, ["serve", "--workers", str(workers)])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == workers and seen["threads"] == expected
