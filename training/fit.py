"""Fitting the ranker with grouped cross-validation (a query's pairs never straddle folds)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold

from matcher.fusion import COLD_SHARE
from matcher.metrics import ndcg_at_k
from matcher.ranker import PRIOR_SHARE, LearnedRanker, PriorRanker, served_scores
from training.pairs import PairSet

__all__ = ["FitReport", "fit_ranker", "ndcg_of_lists"]


@dataclass(frozen=True)
class FitReport:
    """Cross-validated nDCG@10 of the learned ranker and of the prior on the same held-out queries."""

    folds: int
    queries: int
    pairs: int
    cv_ndcg10: float
    cv_ndcg10_prior: float
    per_fold: list[tuple[float, float]] = field(default_factory=list)


def ndcg_of_lists(scores: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k (binary gains) over the query lists of a pair set, scored by ``scores``.

    ``scores``, ``y``: ``(n,)``, consecutive lists of sizes ``groups``. Each list is ranked by a stable
    argsort of ``-scores`` (ties keep list order) and scored by :func:`matcher.metrics.ndcg_at_k`; a list
    without a positive scores 0. Computed within the retrieved pool, so it measures the ranker, not
    the candidate stage.
    """
    out = []
    start = 0
    for g in np.asarray(groups).tolist():
        s, lab = scores[start : start + g], y[start : start + g]
        start += g
        ranked = np.argsort(-s, kind="stable").tolist()
        out.append(ndcg_at_k(ranked, set(np.flatnonzero(lab).tolist()), k))
    return float(np.mean(out)) if out else 0.0


def fit_ranker(
    pairs: PairSet, *, folds: int = 5, params: dict[str, float | int] | None = None, share: float = PRIOR_SHARE,
    cold_share: float = COLD_SHARE,
) -> tuple[LearnedRanker, FitReport]:
    """Cross-validate, then fit on all pairs. Raises ``ValueError`` with too few queries to learn.
    Each fold judges the learned ranker as served, fused with the prior at ``share``."""
    n_queries = len(pairs.groups)
    if n_queries < max(folds, 10):
        raise ValueError(
            f"only {n_queries} queries with a retrieved positive: too few to train a ranker "
            f"(need at least {max(folds, 10)}); record more outcomes or import a labelled set"
        )
    per_fold = []
    prior = PriorRanker()
    for train_q, test_q in GroupKFold(n_splits=folds).split(np.arange(n_queries), groups=np.arange(n_queries)):
        tr = pairs.subset(np.isin(np.arange(n_queries), train_q))
        te = pairs.subset(np.isin(np.arange(n_queries), test_q))
        model = LearnedRanker(**(params or {})).fit(tr.X, tr.y, tr.groups)  # type: ignore[arg-type]
        per_fold.append((
            ndcg_of_lists(served_scores(model, te.X, te.groups, share=share, cold_share=cold_share), te.y, te.groups),
            ndcg_of_lists(prior.predict(te.X), te.y, te.groups),
        ))
    final = LearnedRanker(**(params or {})).fit(pairs.X, pairs.y, pairs.groups)  # type: ignore[arg-type]
    report = FitReport(
        folds=folds,
        queries=n_queries,
        pairs=len(pairs),
        cv_ndcg10=float(np.mean([a for a, _ in per_fold])),
        cv_ndcg10_prior=float(np.mean([b for _, b in per_fold])),
        per_fold=per_fold,
    )
    return final, report
