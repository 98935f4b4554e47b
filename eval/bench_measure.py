"""How the benchmark measures: timings of ours and the baseline interleaved query by query, rates,
figures recorded beside their baseline, and the reciprocal-rank fusion the baselines use."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["TOP_K", "files_bytes", "interleaved", "peak_mib", "percentile_ms", "rate", "rrf", "timed", "with_baseline"]

TOP_K = 10
"""The list length that every retrieval figure is measured for."""


def timed(fn: Callable[..., object], *args: object) -> float:
    """Seconds ``fn(*args)`` takes."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def interleaved(ours: Callable[[int], object], base: Callable[[int], object], n_queries: int,
                 repeats: int) -> dict[str, float]:
    """p50/p99 in ms of ``ours(i)`` and ``base(i)`` over queries ``i``: the two alternate query by query
    (and which goes first alternates too); each figure is the median over ``repeats`` passes."""
    for i in range(min(5, n_queries)):
        ours(i), base(i)
    passes: dict[str, list[float]] = {"p50": [], "p99": [], "base_p50": [], "base_p99": []}
    gc.disable()
    try:
        for r in range(repeats):
            a, b = np.empty(n_queries), np.empty(n_queries)
            for i in range(n_queries):
                if (i + r) % 2:
                    a[i], b[i] = timed(ours, i), timed(base, i)
                else:
                    b[i], a[i] = timed(base, i), timed(ours, i)
            for key, values in (("", a * 1e3), ("base_", b * 1e3)):
                passes[f"{key}p50"].append(float(np.percentile(values, 50)))
                passes[f"{key}p99"].append(float(np.percentile(values, 99)))
    finally:
        gc.enable()
    return {k: float(np.median(v)) for k, v in passes.items()}


def rate(encode: Callable[[list[str]], object], texts: list[str], repeats: int) -> float:
    """Texts per second of ``encode(texts)`` in one batch call, median over ``repeats`` (after a warm-up)."""
    encode(texts[:8])
    return float(np.median([len(texts) / timed(encode, texts) for _ in range(repeats)]))


def peak_mib() -> float:
    """The process's peak resident memory so far, in MiB (``ru_maxrss`` is in KiB on Linux)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile_ms(seconds: Sequence[float], q: float, ndigits: int = 2) -> float:
    """The ``q``-th percentile of timings given in seconds, in milliseconds."""
    return round(float(np.percentile(seconds, q)) * 1e3, ndigits)


def files_bytes(paths: Sequence[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def rrf(rankings: Sequence[Sequence[str | None]], k: int, constant: int) -> list[str]:
    """Reciprocal-rank fusion: ``Σ 1 / (constant + rank)`` over the rankings; top ``k`` ids."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate((i for i in ranking if i is not None), start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (constant + rank)
    return sorted(fused, key=lambda i: (-fused[i], i))[:k]


def with_baseline(figures: dict[str, float], key: str, ours: float, base: float | None = None) -> None:
    """Record ``key``; with a baseline, also ``baseline.key`` and ``key.ratio`` (ours / baseline)."""
    figures[key] = float(ours)
    if base is not None:
        figures[f"baseline.{key}"] = float(base)
        figures[f"{key}.ratio"] = float(ours) / float(base) if base else float("nan")
