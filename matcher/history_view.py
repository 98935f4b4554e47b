"""The past partnerships as one query may see them: :meth:`History.view`.

A view fixes once which rows may be used (those decided before ``before``, without the initiative
``exclude``) and answers every question of the ranking features against that mask, so a query
computes it once, not once per feature. Vectors are ``(d,)`` float32 L2-normalised queries; every
per-resource answer is an array in the order of the ids asked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from matcher.places import departement_of, zone_of

if TYPE_CHECKING:
    from matcher.history import History

__all__ = ["KNN_SHARPNESS", "LOCAL_PRIOR_WEIGHT", "HistoryView"]

KNN_SHARPNESS = 3
"""Neighbour weights are ``max(similarity, 0) ** KNN_SHARPNESS``: the closest neighbours matter most."""
LOCAL_PRIOR_WEIGHT = 5.0
"""Pseudo-projects of :meth:`HistoryView.local_share`'s smoothing towards the zone, then the nation."""
AMOUNT_STD_FLOOR = 0.25
"""Added to the standard deviation of log-amounts in :meth:`HistoryView.amount_typicality`."""


def _resource_counts(h: History, rows: np.ndarray) -> Counter[str]:
    return Counter(r for row in rows for r in h.resources_of[row])


class HistoryView:
    """The rows of ``history`` visible to one query. ``mask`` is None when every row is."""

    __slots__ = ("exclude", "h", "mask", "memo")

    def __init__(self, history: History, *, exclude: str | None = None, before: float | None = None) -> None:
        self.h = history
        self.exclude = exclude
        self.mask = history.visible(before, exclude)
        # A date cut with nothing excluded is the same for every query that asks it: its answers are
        # kept on the history (the observatory's month ends ask thousands of queries per cut).
        self.memo: dict[object, Any] | None = (
            history.cut_memo(before) if before is not None and exclude is None and self.mask is not None else None)

    def _memoised(self, key: object, compute: Callable[[], Any]) -> Any:
        if self.memo is None:
            return compute()
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def _rows(self, resource_id: str) -> np.ndarray:
        rows = self.h.rows_of.get(resource_id)
        if rows is None:
            return np.zeros(0, dtype=np.int64)
        return rows if self.mask is None else rows[self.mask[rows]]

    def positive_counts(self, resource_ids: Sequence[str]) -> np.ndarray:
        """``(n,) int64``: visible positive rows of each resource."""
        n, mask = len(resource_ids), self.mask
        if mask is None:
            count = self.h.count
            return np.fromiter((count.get(r, 0) for r in resource_ids), dtype=np.int64, count=n)
        rows_of = self.h.rows_of
        return np.fromiter(
            (0 if (rows := rows_of.get(r)) is None else int(np.count_nonzero(mask[rows])) for r in resource_ids),
            dtype=np.int64, count=n,
        )

    def acceptances(self, resource_ids: Sequence[str], *, counts: np.ndarray | None = None) -> np.ndarray:
        """``(n,) float64``: smoothed share of positive decisions, ``(p + 1) / (p + n + 2)`` (Laplace
        prior 1/2). ``counts`` passes :meth:`positive_counts` already computed for the same ids."""
        p = self.positive_counts(resource_ids) if counts is None else counts
        negatives = self.h.negatives
        n = np.fromiter((negatives.get(r, 0) for r in resource_ids), dtype=np.int64, count=len(resource_ids))
        return (p + 1.0) / (p + n + 2.0)

    def knn_votes(self, query: np.ndarray, *, k: int = 30) -> tuple[dict[str, float], dict[str, float]]:
        """Similarity-weighted votes of the ``k`` most similar visible past initiatives.

        Returns ``(vote, best)``: ``vote[r]`` is the sum of the (sharpened) similarities of the
        neighbours that obtained ``r`` over the sum for all neighbours (so in [0, 1]); ``best[r]`` the
        similarity of the closest neighbour that did."""
        vote, best, _ = self.knn_neighbours(query, k=k)
        return vote, best

    def knn_neighbours(self, query: np.ndarray, *, k: int = 30
                       ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
        """:meth:`knn_votes` and, third, ``nearest[r]``: the id of the closest neighbour that obtained
        ``r`` (what an explanation names)."""
        h = self.h
        if len(h) == 0:
            return {}, {}, {}
        top, top_sims = self._nearest(query, k)
        weights = np.maximum(top_sims, 0.0) ** KNN_SHARPNESS
        total = float(weights.sum()) or 1.0
        vote: defaultdict[str, float] = defaultdict(float)
        best: dict[str, float] = {}
        nearest: dict[str, str] = {}
        for row, w, s in zip(top, weights, top_sims, strict=True):
            for rid in h.resources_of[row]:
                vote[rid] += float(w) / total
                if float(s) > best.get(rid, -np.inf):
                    best[rid], nearest[rid] = float(s), h.initiative_ids[row]
        return dict(vote), best, nearest

    def _nearest(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, similarities)`` of the ``k`` most similar visible rows: every row scored, or from
        :data:`matcher.history.KNN_INDEX_FROM` rows on, the history's index searched (IVF: the best
        rows' similarities scored again from their float16 copies, within ~1e-3 of the exact ones)."""
        h, mask = self.h, self.mask
        if h.knn_index is not None:
            allowed = None if mask is None else self._memoised("knn_rows", lambda: np.flatnonzero(mask))
            scores, found = h.knn_index.search(query[None, :], k, allowed=allowed)
            rows = np.fromiter((h.row[i] for i in found[0] if i is not None), dtype=np.int64)
            return rows, scores[0][: rows.size]
        sims = h.vectors @ query
        if mask is not None:
            sims = np.where(mask, sims, -np.inf)
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.isfinite(sims[top])]
        return top, sims[top]

    def lexical_votes(self, text: str, *, k: int = 30) -> dict[str, float]:
        """Like :meth:`knn_votes` with BM25 neighbours: votes weighted by BM25 score, summing to ≤ 1."""
        h = self.h
        if h.sparse is None or len(h) == 0:
            return {}
        sparse = h.sparse
        mask = self.mask
        allowed = None if mask is None else self._memoised(
            "lexical_rows", lambda: sparse.rows_of([h.initiative_ids[r] for r in np.flatnonzero(mask)]))
        if allowed is not None and not allowed.size:
            return {}
        scores, ids = sparse.search(text, k, allowed=allowed)
        total = 0.0
        vote: defaultdict[str, float] = defaultdict(float)
        for score, iid in zip(scores, ids, strict=True):
            if iid is None:
                continue
            total += float(score)
            for rid in h.resources_of[h.row[iid]]:
                vote[rid] += float(score)
        return {r: v / total for r, v in vote.items()} if total > 0 else {}

    def classifier_scores(self, text: str, resource_ids: Sequence[str], *, where: str | None = None) -> np.ndarray:
        """``(n,) float32``: the text model's probability of each resource for ``text`` of a project in
        territory ``where`` (see :meth:`History.classifier_scores`)."""
        return self.h.classifier_scores(text, resource_ids, where=where, exclude=self.exclude)

    def vector_classifier_scores(self, vector: np.ndarray, resource_ids: Sequence[str]) -> np.ndarray:
        """``(n,) float32``: the same from the model on project vectors."""
        return self.h.vector_classifier_scores(vector, resource_ids, exclude=self.exclude)

    def profile_similarity(self, query: np.ndarray, resource_ids: Sequence[str]) -> np.ndarray:
        """``(n,) float32``: cosine between ``query`` and the centroid of each resource's visible past
        initiatives (0 if none)."""
        h, mask = self.h, self.mask
        out = np.zeros(len(resource_ids), dtype=np.float32)
        for i, rid in enumerate(resource_ids):
            if rid not in h.sums:
                continue
            if mask is None:
                total = h.sums[rid]
                norm = h.norms.get(rid)
                if norm is None:
                    norm = h.norms[rid] = float(np.linalg.norm(total))
            else:
                total, norm = self._memoised(("profile", rid), partial(self._profile_of, rid))
            if norm > 1e-9:
                out[i] = float(total @ query) / norm
        return out

    def _profile_of(self, resource_id: str) -> tuple[np.ndarray, float]:
        total = self.h.vectors[self._rows(resource_id)].sum(axis=0)
        return total, float(np.linalg.norm(total))

    def local_share(self, where: str | None, resource_ids: Sequence[str], *,
                    prior_weight: float = LOCAL_PRIOR_WEIGHT) -> np.ndarray:
        """``(n,) float32``: the share of the visible past partnerships of projects from the query's
        département that went to each resource, smoothed with ``prior_weight`` pseudo-projects towards
        the share in its zone (overseas or mainland France), itself smoothed towards the national
        share. A département without history gets its zone's share; a query without one (national, a
        région or unknown) the national share. The same funders recur in a territory, and overseas
        projects have funders of their own (a new overseas département borrows what the others got)."""
        h, mask = self.h, self.mask
        out = np.zeros(len(resource_ids), dtype=np.float32)
        visible = len(h) if mask is None else int(mask.sum())
        if len(h) == 0 or visible == 0:
            return out
        share = self.positive_counts(resource_ids) / visible
        place = departement_of(where)
        if place is None:
            return share.astype(np.float32)
        for key in (zone_of(place), place):  # national → zone → département
            rows = h.rows_at.get(key)
            if rows is not None and mask is not None:
                rows = rows[mask[rows]]
            if rows is None or len(rows) == 0:
                continue
            counts = h.local_counts.get(key) if mask is None else None
            if counts is None:
                counts = self._memoised(("local", key), partial(_resource_counts, h, rows))
                if mask is None:
                    h.local_counts[key] = counts
            local = np.fromiter((counts.get(r, 0) for r in resource_ids), dtype=np.float64, count=len(resource_ids))
            share = (local + prior_weight * share) / (len(rows) + prior_weight)
        return share.astype(np.float32)

    def amount_typicality(self, amount: float | None, resource_ids: Sequence[str]) -> np.ndarray:
        """``(n,) float32``: how usual ``amount`` is for each resource, as minus the distance in
        log-amount to the amounts its visible past partners sought, in (smoothed) standard deviations;
        0 (neutral) when the amount or the resource's amounts are unknown."""
        h, mask = self.h, self.mask
        out = np.zeros(len(resource_ids), dtype=np.float32)
        if amount is None or amount < 0 or len(h) == 0 or h.amounts is None:
            return out
        target = float(np.log1p(amount))
        for i, rid in enumerate(resource_ids):
            if rid not in h.rows_of:
                continue
            if mask is None and rid in h.amount_stats:
                stats = h.amount_stats[rid]
            else:
                stats = self._memoised(("amount", rid), partial(self._amounts_of, rid))
                if mask is None:
                    h.amount_stats[rid] = stats
            if stats is not None:
                mean, std = stats
                out[i] = -abs(target - mean) / (std + AMOUNT_STD_FLOOR)
        return out

    def _amounts_of(self, resource_id: str) -> tuple[float, float] | None:
        """Mean and standard deviation of the log-amounts sought by a resource's visible past
        partners, None with fewer than two known amounts."""
        if self.h.amounts is None:
            return None
        values = self.h.amounts[self._rows(resource_id)]
        values = values[np.isfinite(values)]
        if len(values) < 2:
            return None
        return float(values.mean()), float(values.std())
