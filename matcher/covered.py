"""The initiatives a resource's coverage reaches, for the reverse match, computed once per coverage.

The reverse direction (:mod:`matcher.reverse`) searches only the initiatives whose territory a
resource covers. Listing them by testing every initiative costs a second at a million initiatives,
and mapping them to the dense index's FAISS ids and the sparse index's rows costs a tenth of a second
more; yet they depend only on the coverage and on the :class:`matcher.indexing.InitiativeIndex`, which
is built whole and replaced, never edited in place. :class:`CoveredSets` groups the initiatives by
territory once (a few thousand distinct codes where there are a million initiatives), answers a
coverage by testing each territory, and keeps the answer of the latest coverages.

A coverage that reaches every initiative (``FR``, or the union of what there is) is answered with no
allowed set at all: both indexes then search unfiltered, which is their fastest path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matcher import territory
from matcher.schemas import Initiative

__all__ = ["MAX_IDS", "Covered", "CoveredSets"]

MAX_IDS = 4_000_000
"""Default bound on the ids held by all kept coverages together, each coverage counting both its arrays
(dense and sparse, int64) plus 64: at most ~32 MB."""
_OVERHEAD = 64


class _Dense(Protocol):
    def faiss_ids(self, ids: Iterable[str]) -> np.ndarray: ...


class _Sparse(Protocol):
    def rows_of(self, ids: Iterable[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Covered:
    """The initiatives one coverage reaches: how many, and as ``allowed`` for each index (None: all)."""

    count: int
    dense: np.ndarray | None
    sparse: np.ndarray | None


class CoveredSets:
    """Covered initiatives per coverage for one immutable set of initiatives; thread-safe (two
    threads may compute the same coverage at once; both get the same answer)."""

    def __init__(self, initiatives: Mapping[str, Initiative], dense: _Dense, sparse: _Sparse, *,
                 max_ids: int = MAX_IDS) -> None:
        if max_ids < 1:
            raise ValueError(f"max_ids must be >= 1, got {max_ids!r}")
        self._initiatives = initiatives
        self._dense, self._sparse = dense, sparse
        self.max_ids = max_ids
        self._groups: dict[str, list[str]] | None = None
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, ...], Covered] = OrderedDict()
        self._held = 0
        self.made = 0
        """Coverages computed (for tests and benchmarks)."""

    def _by_territory(self) -> dict[str, list[str]]:
        if self._groups is None:
            groups: defaultdict[str, list[str]] = defaultdict(list)
            for iid, ini in self._initiatives.items():
                groups[ini.territory].append(iid)
            self._groups = dict(groups)
        return self._groups

    def get(self, coverage: Iterable[str]) -> Covered:
        """The initiatives ``coverage`` reaches (:func:`matcher.territory.covers`); an unknown code in
        it raises :class:`matcher.territory.TerritoryError`, as the test of one initiative does."""
        key = tuple(sorted(set([coverage] if isinstance(coverage, str) else coverage)))
        with self._lock:
            hit = self._kept.get(key)
            if hit is not None:
                self._kept.move_to_end(key)
                return hit
        found = self._compute(key)
        with self._lock:
            if key not in self._kept:
                self._kept[key] = found
                self._held += self._cost(found)
                while self._held > self.max_ids and len(self._kept) > 1:
                    _, old = self._kept.popitem(last=False)
                    self._held -= self._cost(old)
            self.made += 1
        return found

    @staticmethod
    def _cost(found: Covered) -> int:
        held = sum(0 if a is None else a.size for a in (found.dense, found.sparse))
        return _OVERHEAD + held

    def _compute(self, coverage: tuple[str, ...]) -> Covered:
        groups = self._by_territory()
        reached = [t for t in groups if territory.covers(coverage, t)]
        count = sum(len(groups[t]) for t in reached)
        if count == len(self._initiatives):
            return Covered(count, None, None)
        ids = [iid for t in reached for iid in groups[t]]
        return Covered(count, self._dense.faiss_ids(ids), self._sparse.rows_of(ids))
