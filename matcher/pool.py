"""The candidate pool of one query: every stage of ``Recommender.recommend`` reads and writes it.

Arrays, one row per candidate resource: the feature matrix (columns by name, :data:`COLUMN`), each
row's eligibility checks and verdict, and its score. Retrieval makes the rows, the eligibility
stage fills the checks and the pair features, the ranker writes the scores and orders the rows,
presentation reads the head. Rows ``[0, retrieved)`` are what retrieval found; the rows after them
are resources pinned by staff that retrieval did not find, computed the same way but never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matcher.eligibility import Check, is_eligible
from matcher.features import COLUMN, FEATURES
from matcher.schemas import MatchQuery, Resource

__all__ = ["Candidate", "Pool"]


@dataclass
class Candidate:
    """One row of a pool as a record: the resource, its feature values by name, its checks, its score.
    Made only for the rows a caller reads (training's labelled pairs, shown matches)."""

    resource: Resource
    features: dict[str, float]
    checks: list[Check]
    score: float = 0.0

    @property
    def eligible(self) -> bool:
        return is_eligible(self.checks)


@dataclass
class Pool:
    """``X`` is ``(n, len(FEATURES)) float64`` (the values exactly as computed; rankers read them as
    float32), ``eligible`` ``(n,) bool``, ``scores`` ``(n,) float64``. ``checks`` are shared with the
    eligibility cache: read them, or copy them through :meth:`candidate`."""

    query: MatchQuery
    resources: list[Resource]
    X: np.ndarray
    checks: list[list[Check]]
    eligible: np.ndarray
    scores: np.ndarray
    retrieved: int
    """Rows ``[0, retrieved)`` were retrieved (and are ranked); the rest are pins added for staff."""
    nearest: dict[str, str] = field(default_factory=dict)
    """Resource id → the closest past initiative that obtained it, among the query's kNN neighbours."""
    query_terms: list[tuple[str, str]] | None = None
    """The query's analysed terms with their words, computed once by the first explanation that needs them."""
    prior_scores: np.ndarray | None = None
    """``(n,) float64`` the prior's score of each row (absolute, comparable across queries: what the
    calibration reads), set by the ranking stage; None before it."""

    def __len__(self) -> int:
        return len(self.resources)

    def column(self, name: str) -> np.ndarray:
        """``(n,) float64``: one feature for every row (a view: writing it writes the pool)."""
        return self.X[:, COLUMN[name]]

    def reorder(self, rows: list[int]) -> None:
        """Put the retrieved rows in the order ``rows`` (a permutation of ``range(retrieved)``)."""
        full = np.asarray([*rows, *range(self.retrieved, len(self))], dtype=np.int64)
        self.resources = [self.resources[i] for i in full]
        self.checks = [self.checks[i] for i in full]
        self.X, self.eligible, self.scores = self.X[full], self.eligible[full], self.scores[full]
        if self.prior_scores is not None:
            self.prior_scores = self.prior_scores[full]

    def sort(self, start: int = 0, stop: int | None = None) -> None:
        """Order retrieved rows ``[start, stop)`` by score, best first; ties by dense similarity, then id."""
        stop = self.retrieved if stop is None else stop
        scores, dense = self.scores.tolist(), self.column("dense").tolist()
        part = sorted(range(start, stop), key=lambda i: (-scores[i], -dense[i], self.resources[i].id))
        self.reorder([*range(start), *part, *range(stop, self.retrieved)])

    def candidate(self, i: int) -> Candidate:
        return Candidate(self.resources[i], dict(zip(FEATURES, self.X[i].tolist(), strict=True)), list(self.checks[i]),
                         float(self.scores[i]))
