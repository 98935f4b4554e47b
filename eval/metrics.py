"""Ranking metrics, catalogue-level metrics, confidence intervals and paired significance tests.

Every function is pure: lists or arrays in, numbers out. Ranked lists are sequences of resource ids,
best first; ``relevant`` is a collection of ids. :func:`ndcg_at_k` is :func:`matcher.metrics.ndcg_at_k`,
the one implementation that training's gates use too. Gains are binary, except in
:func:`graded_ndcg_at_k` (judged sets: grades 0–3, gain ``2^g − 1``). A query without relevant items
scores 0 everywhere (the harness leaves such queries out of per-query metrics).

Catalogue metrics work on the top-k lists of all queries together:

- ``coverage``: share of the candidate resources that appear in at least one top-k list;
- ``most_exposed``: the resource found in the most top-k lists and the share of lists holding it
  (hubness: one resource offered to everyone);
- ``provider_concentration``: share of all top-k slots held by the top 10 % of providers (by slots),
  and the Gini coefficient of slots over every provider of the candidate set (0: even exposure,
  →1: one provider takes everything).

Confidence intervals are percentile bootstraps over queries (seeded); significance is a paired test
on per-query values (Student's t through scipy, or a paired bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.metrics import ndcg_at_k

__all__ = [
    "CI",
    "average_precision",
    "bootstrap_ci",
    "concentration_from_counts",
    "coverage",
    "gini",
    "graded_ndcg_at_k",
    "hit_at_k",
    "most_exposed",
    "ndcg_at_k",
    "paired_bootstrap_pvalue",
    "paired_ttest_pvalue",
    "precision_at_k",
    "provider_concentration",
    "recall_at_k",
    "reciprocal_rank",
]


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    k = _check_k(k)
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when at least one relevant item is in the top ``k``, else 0.0."""
    k = _check_k(k)
    return float(any(item in relevant for item in ranked[:k]))


def precision_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the ``k`` top slots holding a relevant item; a list shorter than ``k`` counts its
    missing slots as misses (so saying less is never rewarded)."""
    k = _check_k(k)
    return sum(1 for item in ranked[:k] if item in relevant) / k


def graded_ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Graded nDCG@k: ``Σ_{i≤k} (2^g_i − 1) / log2(i + 1)`` over the same sum for the ``k`` highest
    grades of ``grades`` (the ideal order of every judged item, ranked or not).

    ``grades``: item id → grade ≥ 0; items absent from it have grade 0. 0.0 when no grade is
    positive. Duplicates in ``ranked`` are the caller's error (the harness refuses them)."""
    k = _check_k(k)
    if any(g < 0 for g in grades.values()):
        raise ValueError("grades must be >= 0")
    ideal_grades = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    ideal = sum((2.0**g - 1.0) / math.log2(i + 2) for i, g in enumerate(ideal_grades))
    if ideal == 0:
        return 0.0
    dcg = sum((2.0 ** grades.get(item, 0) - 1.0) / math.log2(i + 2) for i, item in enumerate(ranked[:k]))
    return dcg / ideal


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant item in the whole list (0.0 when none is found); MRR is its mean."""
    for i, item in enumerate(ranked):
        if item in relevant:
            return 1.0 / (i + 1)
    return 0.0


def average_precision(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """Average precision over the whole ranked list, divided by the number of relevant items
    (relevant items never retrieved count as precision 0); MAP is its mean."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(ranked):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def coverage(rankings: Sequence[Sequence[str]], candidates: Collection[str], k: int) -> float:
    """Share of ``candidates`` that appear in at least one top-``k`` list (ids outside are ignored)."""
    k = _check_k(k)
    if not candidates:
        return 0.0
    cands = set(candidates)
    seen = {item for ranked in rankings for item in ranked[:k] if item in cands}
    return len(seen) / len(cands)


def most_exposed(rankings: Sequence[Sequence[str]], k: int) -> tuple[float, str | None]:
    """``(share of the lists holding it in their top k, id)`` of the item found in the most top-``k``
    lists (ties: smallest id); ``(0.0, None)`` when no list holds anything."""
    k = _check_k(k)
    counts: dict[str, int] = {}
    for ranked in rankings:
        for item in set(ranked[:k]):
            counts[item] = counts.get(item, 0) + 1
    if not counts:
        return 0.0, None
    item = min(counts, key=lambda i: (-counts[i], i))
    return counts[item] / len(rankings), item


def gini(values: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal; (n-1)/n: one holds everything).

    ``G = Σ_i (2i - n - 1) x_(i) / (n Σ x)`` with ``x`` sorted ascending and ``i`` from 1; 0 when
    the total is 0.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    if x[0] < 0:
        raise ValueError("gini needs non-negative values")
    n = x.size
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


def provider_concentration(
    rankings: Sequence[Sequence[str]],
    provider_of: Mapping[str, str],
    k: int,
    *,
    top_share: float = 0.1,
) -> tuple[float, float]:
    """``(share of top-k slots held by the top ⌈top_share·P⌉ providers, Gini of slots per provider)``.

    ``provider_of`` maps every candidate resource to its provider; its distinct values are the ``P``
    providers (those never shown count with 0 slots). Ids without a provider are ignored.
    """
    k = _check_k(k)
    if not 0 < top_share <= 1:
        raise ValueError(f"top_share must be in (0, 1], got {top_share!r}")
    providers = sorted(set(provider_of.values()))
    slot = {p: n for n, p in enumerate(providers)}
    counts = np.zeros(len(providers), dtype=np.float64)
    for ranked in rankings:
        for item in ranked[:k]:
            p = provider_of.get(item)
            if p is not None:
                counts[slot[p]] += 1
    return concentration_from_counts(counts, top_share=top_share)


def concentration_from_counts(counts: Sequence[float] | np.ndarray, *, top_share: float = 0.1) -> tuple[float, float]:
    """``(share of the total held by the top ⌈top_share·P⌉ of the P entries, Gini)`` of exposure
    counts, one per provider (zeros included); ``(0, 0)`` when nothing was shown."""
    if not 0 < top_share <= 1:
        raise ValueError(f"top_share must be in (0, 1], got {top_share!r}")
    x = np.asarray(counts, dtype=np.float64)
    total = x.sum()
    if x.size == 0 or total == 0:
        return 0.0, 0.0
    top = max(1, math.ceil(top_share * x.size - 1e-9))
    return float(np.sort(x)[::-1][:top].sum() / total), gini(x)


# --- uncertainty -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CI:
    """A point estimate with its bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def bootstrap_ci(
    values: Sequence[float] | np.ndarray | None = None,
    *,
    statistic: Callable[[np.ndarray], float] | None = None,
    n: int | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
) -> CI:
    """Percentile bootstrap CI over queries.

    Either ``values`` (per-query figures; the statistic is their mean) or ``statistic`` and ``n``:
    ``statistic(idx)`` recomputes a catalogue metric on the queries ``idx`` (an ``(n,) int`` array of
    indices drawn with replacement), for figures that are not a mean of per-query values. Such
    figures can be biased under resampling (a resample holds ~63 % distinct queries, so it covers
    fewer resources), so their bootstrap distribution is shifted to centre on the point estimate
    before taking percentiles. ``bounds`` clips the interval (e.g. ``(0, 1)`` for shares).
    """
    if (values is None) == (statistic is None):
        raise ValueError("give either values or statistic (with n), not both")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if values is not None:
        arr = np.asarray(values, dtype=np.float64)
        count = arr.size
        if count == 0:
            return CI(0.0, 0.0, 0.0)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, count, size=(resamples, count))
        stats = arr[idx].mean(axis=1)
        point = float(arr.mean())
    elif statistic is not None:
        if n is None or n < 0:
            raise ValueError("statistic needs n, the number of queries")
        count = n
        if count == 0:
            return CI(0.0, 0.0, 0.0)
        rng = np.random.default_rng(seed)
        point = float(statistic(np.arange(count)))
        stats = np.array([statistic(rng.integers(0, count, size=count)) for _ in range(resamples)])
        stats = stats - stats.mean() + point
    else:  # unreachable: checked above
        raise ValueError("give either values or statistic")
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    low, high = min(low, point), max(high, point)  # rounding must not leave the point outside
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return CI(point, float(low), float(high))


def _paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired tests need two 1-d arrays of the same length, got {x.shape} and {y.shape}")
    return x, y


def paired_ttest_pvalue(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p-value of Student's paired t-test on per-query values (1.0 when all differences are 0)."""
    x, y = _paired(a, b)
    d = x - y
    if d.size < 2 or np.allclose(d, d[0]):
        return 1.0 if d.size < 2 or d[0] == 0 else 0.0
    from scipy import stats

    return float(stats.ttest_rel(x, y).pvalue)


def paired_bootstrap_pvalue(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, resamples: int = 10_000, seed: int = 0
) -> float:
    """Two-sided paired bootstrap p-value for ``mean(a) != mean(b)``.

    Resamples the per-query differences, centred on 0 (the null), and counts how often a resampled
    mean is at least as far from 0 as the observed one (with the +1 correction, so never 0).
    """
    x, y = _paired(a, b)
    d = x - y
    if d.size == 0:
        return 1.0
    observed = abs(d.mean())
    centred = d - d.mean()
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, resamples, 1000):  # in blocks: resamples × queries indices can be large
        size = min(1000, resamples - start)
        means = centred[rng.integers(0, d.size, size=(size, d.size))].mean(axis=1)
        extreme += int(np.sum(np.abs(means) >= observed - 1e-12))
    return float((extreme + 1) / (resamples + 1))
