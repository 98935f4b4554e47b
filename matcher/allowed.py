"""The resources a query may be matched with, computed once per catalogue state and reused.

Every match starts from the open resources whose coverage includes the query's territory (and of
the kinds it asks for). At 10k resources, listing them and mapping them to the dense index's FAISS
ids and the sparse index's rows took about a third of what a request does after encoding; yet they
depend only on the catalogue's state, the day, the territory and the kinds, which repeat from one
request to the next. :class:`AllowedSets` keeps them per ``(territory, kinds)`` for one state.

**The state** is the resources dict (a write replaces it: copy on write, see
:meth:`matcher.indexing.ResourceIndex.upsert`), the day, and the dense and sparse indexes' own
``generation`` counters (bumped by every change to what they hold, a compaction that renumbers FAISS
ids included). When any of them differs from the one the sets were made for, every set is dropped
and made again on demand: a write, a new day or an index swap is seen by the very next query.

**Bounds**: at most ``max_ids`` in all sets together, each set counting its ids plus
``SET_OVERHEAD`` (so that a crawler asking every commune for every kind, each set small or empty,
is bounded too); the least recently used set goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np

from matcher.schemas import Resource

__all__ = ["MAX_IDS", "SET_OVERHEAD", "Allowed", "AllowedSets"]

MAX_IDS = 2_000_000
"""Default bound on the ids held by all sets together, overheads included (some 100 MB at most)."""
SET_OVERHEAD = 64
"""What one set counts beyond its ids: its key, list, set and arrays cost about as much as 64 ids."""


class _Generational(Protocol):
    @property
    def generation(self) -> int: ...


class _Dense(_Generational, Protocol):
    def faiss_ids(self, ids: list[str]) -> np.ndarray: ...


class _Sparse(_Generational, Protocol):
    def rows_of(self, ids: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Allowed:
    """The allowed resources of one ``(territory, kinds)``: ids (catalogue order), the same as a set,
    their FAISS ids in the dense index and their rows in the sparse index (for its ``allowed``)."""

    ids: list[str]
    members: frozenset[str]
    dense_fids: np.ndarray
    sparse_rows: np.ndarray


class AllowedSets:
    """Allowed sets per ``(territory, kinds)`` for the current state (see the module docstring).
    Thread-safe: concurrent readers may compute the same set twice, never see a stale one."""

    def __init__(self, max_ids: int = MAX_IDS) -> None:
        if max_ids < 1:
            raise ValueError(f"max_ids must be >= 1, got {max_ids!r}")
        self.max_ids = max_ids
        self._lock = threading.Lock()
        self._state: tuple[Any, ...] | None = None
        self._refs: tuple[object, ...] = ()  # held so that the ids in _state are never reused
        self._sets: OrderedDict[tuple[str | None, tuple[str, ...]], Allowed] = OrderedDict()
        self._held = 0
        self.made = 0  # sets computed (for tests and benchmarks)

    def get(self, resources: Mapping[str, Resource], today: date, dense: _Dense, sparse: _Sparse,
            where: str | None, kinds: tuple[str, ...], compute: Callable[[], list[str]]) -> Allowed:
        """The set for ``(where, kinds)`` in this state; ``compute()`` lists its ids when not held."""
        state = (id(resources), today, id(dense), dense.generation, id(sparse), sparse.generation)
        key = (where, kinds)
        with self._lock:
            if state != self._state:
                self._state, self._refs, self._held = state, (resources, dense, sparse), 0
                self._sets.clear()
            hit = self._sets.get(key)
            if hit is not None:
                self._sets.move_to_end(key)
                return hit
        ids = compute()
        made = Allowed(ids, frozenset(ids), dense.faiss_ids(ids), sparse.rows_of(ids))
        with self._lock:
            self.made += 1
            if state == self._state and key not in self._sets and len(ids) + SET_OVERHEAD <= self.max_ids:
                self._sets[key] = made
                self._held += len(ids) + SET_OVERHEAD
                while self._held > self.max_ids:
                    _, old = self._sets.popitem(last=False)
                    self._held -= len(old.ids) + SET_OVERHEAD
        return made
