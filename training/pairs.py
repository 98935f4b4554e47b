"""Labelled pairs for the ranker, taken from what the pipeline itself retrieves.

For each past initiative with known outcomes, ``Recommender.candidates`` gives the candidate pool
exactly as serving would see it (the initiative left out of the history it is scored against, so it
does not vote for itself); resources it obtained are positives, the other retrieved candidates are
hard negatives. Queries whose positives were not retrieved teach the ranker nothing and are skipped
(their count is reported: it measures the recall of the candidate stage).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from matcher.features import FEATURES, to_matrix
from matcher.recommender import Recommender
from matcher.schemas import Initiative, MatchQuery

__all__ = ["PairSet", "build_pairs"]


@dataclass(frozen=True)
class PairSet:
    """``X (n, len(FEATURES)) float32``, ``y (n,) int`` (1 relevant), ``groups`` (sizes of consecutive
    query lists, in order) and the id of each query."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    query_ids: list[str]
    skipped_no_positive: int

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, query_mask: np.ndarray) -> PairSet:
        """The pairs of the queries where ``query_mask`` is true."""
        starts = np.concatenate([[0], np.cumsum(self.groups)[:-1]])
        rows = np.concatenate(
            [np.arange(s, s + g) for s, g, keep in zip(starts, self.groups, query_mask, strict=True) if keep]
            or [np.zeros(0, dtype=int)]
        )
        return PairSet(
            self.X[rows], self.y[rows], self.groups[query_mask],
            [q for q, keep in zip(self.query_ids, query_mask, strict=True) if keep], 0,
        )


def build_pairs(
    recommender: Recommender,
    examples: Sequence[tuple[Initiative, frozenset[str]] | tuple[Initiative, frozenset[str], datetime | None]],
    *,
    today: date,
    per_query: int | None = None,
    leave_one_out: bool = True,
    progress: Callable[[int], None] | None = None,
) -> PairSet:
    """Pairs for ``examples`` of ``(initiative, relevant resource ids)``.

    Each list is the prior's best ``per_query`` candidates (default: the recommender's
    ``rerank_depth``, exactly what a learned ranker reorders when serving): its negatives are hard
    ones. ``leave_one_out`` scores each initiative against a history without itself; when an example
    carries a date, only partnerships decided before it count (the situation the ranker serves in).
    """
    rows: list[dict[str, float]] = []
    labels: list[int] = []
    groups: list[int] = []
    qids: list[str] = []
    skipped = 0
    depth = per_query or recommender.config.rerank_depth
    for example in examples:
        ini, relevant = example[0], example[1]
        when = example[2] if len(example) > 2 else None
        query = MatchQuery.from_initiative(ini)
        pool = recommender.candidates(query, depth, today=today,
                                      exclude_history_of=ini.id if leave_one_out else None,
                                      history_before=when)
        if progress is not None:
            progress(1)
        top = pool[:depth]
        y = [1 if c.resource.id in relevant else 0 for c in top]
        if not any(y) or all(y):
            skipped += 1
            continue
        rows.extend(c.features for c in top)
        labels.extend(y)
        groups.append(len(top))
        qids.append(ini.id)
    X = to_matrix(rows) if rows else np.zeros((0, len(FEATURES)), dtype=np.float32)
    return PairSet(X, np.asarray(labels, dtype=np.int32), np.asarray(groups, dtype=np.int64), qids, skipped)
