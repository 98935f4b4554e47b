"""Paired significance of the reference system against every other one: bootstrap CIs of the
difference, Student's paired t-test (through ``ranx.compare`` when installed, its means checked
against ours, else scipy) and a paired bootstrap p-value. p-values are not corrected for multiple
comparisons."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eval import metrics as M

__all__ = ["Comparison", "compare", "headline_metrics", "significance_method"]


@dataclass(frozen=True)
class Comparison:
    """``system`` minus ``baseline`` on one metric, paired over test queries."""

    system: str
    baseline: str
    metric: str
    delta: float
    low: float
    high: float
    p_value: float
    p_bootstrap: float
    test: str


def headline_metrics(main_k: int) -> list[str]:
    return [f"ndcg@{main_k}", f"recall@{main_k}", "mrr", "map"]


def significance_method(significance: str) -> str:
    """``"ranx"`` or ``"scipy"`` for ``significance`` (``"auto"``: ranx when installed)."""
    if significance == "scipy":
        return "scipy"
    try:
        import ranx  # noqa: F401
    except ImportError:
        if significance == "ranx":
            raise ValueError("significance='ranx' needs the ranx package (pip install ranx==0.3.21)") from None
        return "scipy"
    return "ranx"


def compare(
    per_query: Mapping[str, Mapping[str, np.ndarray]],
    rankings: Mapping[str, Sequence[Sequence[str]]],
    reference: str | None,
    relevant: Sequence[frozenset[str]],
    metrics: Sequence[str],
    method: str,
    resamples: int,
    seed: int,
) -> tuple[list[Comparison], list[str]]:
    """``reference`` against every other system on each of ``metrics``: the bootstrap CI of the paired
    difference, the t-test p-value (ranx's with ``method="ranx"``) and a paired bootstrap p-value.
    ``per_query[system][metric]``: ``(n,)`` per-query values; ``rankings[system]``: its lists.
    Returns ``(comparisons, notes)``."""
    if reference is None or len(per_query) < 2:
        return [], []
    others = [s for s in per_query if s != reference]
    notes: list[str] = []
    pvalues: dict[tuple[str, str], float] = {}
    if method == "ranx":
        pvalues, notes = _ranx_pvalues(per_query, rankings, reference, others, relevant, metrics)
    out = []
    ref = per_query[reference]
    for other in others:
        for m in metrics:
            a, b = ref[m], per_query[other][m]
            delta = M.bootstrap_ci(a - b, resamples=resamples, seed=seed)
            p = pvalues.get((other, m), M.paired_ttest_pvalue(a, b))
            out.append(Comparison(
                reference, other, m, delta.value, delta.low, delta.high, p,
                M.paired_bootstrap_pvalue(a, b, resamples=max(resamples, 10_000), seed=seed),
                "paired t-test (ranx.compare)" if (other, m) in pvalues else "paired t-test (scipy)",
            ))
    return out, notes


def _ranx_pvalues(
    per_query: Mapping[str, Mapping[str, np.ndarray]],
    rankings: Mapping[str, Sequence[Sequence[str]]],
    reference: str,
    others: list[str],
    relevant: Sequence[frozenset[str]],
    metrics: Sequence[str],
) -> tuple[dict[tuple[str, str], float], list[str]]:
    """Paired t-test p-values from ``ranx.compare``; ranx's means are checked against ours."""
    from ranx import Qrels, Run
    from ranx import compare as ranx_compare

    qids = [f"q{i}" for i in range(len(relevant))]
    qrels = Qrels({q: dict.fromkeys(rel, 1) for q, rel in zip(qids, relevant, strict=True)})
    runs = []
    for name in [reference, *others]:
        run_dict = {}
        for q, ranked in zip(qids, rankings[name], strict=True):
            # Scores from ranks, so ranx sees exactly our order (ties would be re-ordered by ranx).
            run_dict[q] = {rid: float(len(ranked) - i) for i, rid in enumerate(ranked)} or {"__none__": 0.0}
        runs.append(Run(run_dict, name=name))
    ranx_metrics = list(metrics)  # same names; runs hold the ``depth`` items, so "map" is AP over the list
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety warnings inside ranx
        report = ranx_compare(qrels, runs, metrics=ranx_metrics, stat_test="student", max_p=0.05).to_dict()
    out: dict[tuple[str, str], float] = {}
    notes: list[str] = []
    for ours, theirs in zip(metrics, ranx_metrics, strict=True):
        for name in [reference, *others]:
            mine = float(np.mean(per_query[name][ours]))
            got = float(report[name]["scores"][theirs])
            if not math.isclose(mine, got, abs_tol=1e-6):
                notes.append(f"ranx disagrees on {ours} for {name}: {got:.6f} vs {mine:.6f}")
        for other in others:
            p = float(report[reference]["comparisons"][other][theirs])
            if not math.isnan(p):  # NaN when every difference is 0: scipy's helper says 1.0
                out[(other, ours)] = p
    return out, notes
