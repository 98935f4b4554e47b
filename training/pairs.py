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

from matcher.features import COLD_VALUES, FEATURES, to_matrix
from matcher.recommender import Recommender
from matcher.schemas import Initiative, MatchQuery

__all__ = ["COLD_RATE", "PairSet", "build_pairs", "newcomer_share", "simulate_cold"]

COLD_RATE: float | str = "auto"
"""Default share of training pairs shown as newcomers: ``auto`` is the share of positive pairs whose
resource had no partnership yet, so a set where newcomers are common (beta.gouv sponsors) learns to
judge them and a set where they are rare (budget programmes) keeps its history (``docs/decisions.md``,
"cold-start dropout at the newcomers' rate")."""


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

    @classmethod
    def concat(cls, *sets: PairSet) -> PairSet:
        """The query lists of ``sets``, one after the other."""
        if not sets:
            raise ValueError("concat needs at least one pair set")
        return cls(
            np.concatenate([p.X for p in sets]).reshape(-1, sets[0].X.shape[1]),
            np.concatenate([p.y for p in sets]),
            np.concatenate([p.groups for p in sets]),
            [q for p in sets for q in p.query_ids],
            sum(p.skipped_no_positive for p in sets),
        )

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


def newcomer_share(pairs: PairSet) -> float:
    """Share of the positive pairs whose resource had no partnership before (``has_history`` 0)."""
    positive = pairs.y == 1
    if not positive.any():
        return 0.0
    return float(np.mean(pairs.X[positive, FEATURES.index("has_history")] == 0.0))


def simulate_cold(pairs: PairSet, rate: float | str, *, seed: int = 0) -> PairSet:
    """A copy of ``pairs`` where each pair, with probability ``rate``, shows its resource as a newcomer:
    its history features set to :data:`matcher.features.COLD_VALUES`. ``rate="auto"`` is
    :func:`newcomer_share` (capped at 0.5).

    Feature dropout for cold start (as in DropoutNet): the history features of warm resources are
    so strong that, trained as is, a ranker learns to bury every resource without history. Hiding
    the history of random pairs, positives and negatives alike, makes it learn what content says
    on its own (name mentioned, text similarity), the only evidence a new resource has.
    """
    if rate == "auto":
        rate = min(newcomer_share(pairs), 0.5)
    if not isinstance(rate, float | int) or not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be 'auto' or in [0, 1), got {rate!r}")
    if rate == 0.0 or len(pairs) == 0:
        return pairs
    rng = np.random.default_rng(seed)
    hide = rng.random(len(pairs)) < rate
    X = pairs.X.copy()
    for name, value in COLD_VALUES.items():
        X[hide, FEATURES.index(name)] = value
    return PairSet(X, pairs.y, pairs.groups, pairs.query_ids, pairs.skipped_no_positive)
