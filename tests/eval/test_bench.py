from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eval.bench import main, noise_norm_for, run_bench, size_label, synthetic_catalogue
from indexes import HashingEncoder

SIZE_KEYS = [
    "build_s", "memory_bytes_per_item", "memory_resident_bytes_per_item", "retrieve_vector.p50_ms",
    "retrieve_vector.p99_ms", "retrieve_filtered.p50_ms", "retrieve_text.p50_ms", "retrieve_text.p99_ms",
    "retrieve_short_text.p50_ms", "retrieve_short_text.p99_ms", "rank_after_encoding.p50_ms",
    "rank_after_encoding.p99_ms",
]


def test_quick_bench_writes_every_figure_with_its_baseline_and_ratio(tmp_path: Path) -> None:
    figures = run_bench(sizes=(1_000,), out=tmp_path, home=tmp_path / "home", queries=12, seed=0,
                        encoder=HashingEncoder(64), quick=True, log=lambda _: None)
    for key in [f"1k.{k}" for k in SIZE_KEYS]:
        assert figures[key] > 0, key
        assert figures[f"baseline.{key}"] > 0, key
        assert math.isfinite(figures[f"{key}.ratio"]) and figures[f"{key}.ratio"] > 0, key
    assert figures["encode.texts_per_s"] > 0
    assert 0 < figures["1k.recall_at_10"] <= 1
    assert figures["live_update_visible"] == 1.0
    assert figures["1k.hnsw"] == 0.0  # 1k items stay below the HNSW threshold
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["meta"]["model"] == "hashing:64" and saved["meta"]["sizes"] == [1_000]
    assert {k: v for k, v in saved.items() if k != "meta"} == figures
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_synthetic_catalogue_stays_near_its_demo_sources() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((40, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    noise = noise_norm_for(base)
    ids, x, texts = synthetic_catalogue(base, [f"t{i}" for i in range(40)], 500, rng, noise)
    assert len(ids) == len(set(ids)) == 500 and x.shape == (500, 16) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    source = np.array([int(t[1:]) for t in texts])
    assert np.mean((x @ base.T).argmax(axis=1) == source) > 0.95  # each item is nearest its own source


def test_size_labels_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert [size_label(n) for n in (1_000, 10_000, 100_000, 1_500)] == ["1k", "10k", "100k", "1500"]
    with pytest.raises(ValueError, match="sizes must be"):
        run_bench(sizes=(10,), encoder=HashingEncoder(64))
    with pytest.raises(SystemExit):
        main(["--sizes", "ten"])
    assert "a size is a number" in capsys.readouterr().err
