"""The retrieval stage: the allowed set, the candidates of three searches, their pool columns.

1. Hard filters an index can apply give the allowed set: open on the day, territory covered, of
   the kinds asked for.
2. Dense search (FAISS), BM25 search and the votes of similar past initiatives (by vector and by
   words), each restricted to the allowed set, so a filter never makes a list short.
3. Every candidate gets every retrieval and history column (:func:`matcher.features.pool_columns`),
   whichever source found it: the ranker needs them all. History is asked through one
   :class:`matcher.history_view.HistoryView`, so its visibility mask is computed once per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from indexes import Encoder
from matcher import territory
from matcher.allowed import Allowed, AllowedSets
from matcher.features import RETRIEVAL_FEATURES, Evidence, pool_columns
from matcher.history_view import HistoryView
from matcher.indexing import ResourceIndex
from matcher.names import NameMatcher
from matcher.schemas import MatchQuery, Resource

if TYPE_CHECKING:
    from matcher.recommender import RecommenderConfig

__all__ = ["Retrieved", "Retriever"]


@dataclass(frozen=True)
class Retrieved:
    """Rows for the pool: ``resources[:retrieved]`` found by the searches, best sources first, then
    the ``extra`` resources asked for (staff pins) that they did not find; ``columns`` is
    ``(len(resources), len(RETRIEVAL_FEATURES)) float64``."""

    resources: list[Resource]
    columns: np.ndarray
    retrieved: int
    nearest: dict[str, str] = field(default_factory=dict)
    """Resource id → the closest visible past initiative that obtained it (among the kNN neighbours)."""


class Retriever:
    """Searches ``index`` for a query. Caches, each rebuilt when the index replaces the dict it was
    computed from (it does on every write): open resources grouped by coverage for the day, and the
    resource-name matcher."""

    def __init__(self, index: ResourceIndex, encoder: Encoder, config: RecommenderConfig) -> None:
        self.index, self.encoder, self.config = index, encoder, config
        self._open_by_coverage: tuple[dict[str, Resource], date, dict[tuple[str, ...], list[str]]] | None = None
        self._names: tuple[object, object, NameMatcher] | None = None
        self._allowed = AllowedSets()

    def allowed(self, query: MatchQuery, today: date) -> Allowed:
        """Open resources whose coverage includes the query's territory (and of the kinds it asks for),
        held per catalogue state (:mod:`matcher.allowed`). Each distinct coverage is tested once."""
        index = self.index
        kinds = tuple(sorted(set(query.kinds))) if query.kinds else ()
        return self._allowed.get(index.resources, today, index.dense, index.sparse, query.territory, kinds,
                                 lambda: self._list_allowed(query.territory, kinds, today))

    def _list_allowed(self, where: str | None, kinds: tuple[str, ...], today: date) -> list[str]:
        resources = self.index.resources
        cached = self._open_by_coverage
        if cached is None or cached[0] is not resources or cached[1] != today:
            groups: dict[tuple[str, ...], list[str]] = {}
            for rid, res in resources.items():
                if res.is_open(today):
                    groups.setdefault(tuple(res.coverage), []).append(rid)
            cached = self._open_by_coverage = (resources, today, groups)
        out = [rid for cov, rids in cached[2].items() if where is None or territory.covers(cov, where) for rid in rids]
        if kinds:
            out = [rid for rid in out if resources[rid].kind in kinds]
        return out

    def retrieve(
        self, q: MatchQuery, k: int, today: date, *, exclude: str | None = None, before: float | None = None,
        extra: Sequence[str] = (), vector: np.ndarray | None = None,
    ) -> Retrieved:
        """The pool's rows for ``q``: ``exclude`` leaves that past initiative out of the history,
        ``before`` (POSIX time) counts only partnerships decided before it, ``extra`` ids are added
        after the retrieved ones when missing (they are computed, not searched). ``vector``: the
        ``(d,) float32`` query vector of ``q.text`` when already encoded (the service's batched
        encode), else it is encoded here."""
        given = vector
        allowed = self.allowed(q, today)
        cfg = self.config
        vector = None
        if (cfg.use_dense or cfg.use_history) and (allowed.ids or extra):
            vector = given if given is not None else self.encoder.encode_queries([q.text])[0]
        view = self.index.history.view(exclude=exclude, before=before)
        dense, sparse, votes, best, lexical, nearest = self._search(q, vector, allowed, k, view)
        ids = list(dict.fromkeys(
            dense + sparse + sorted(votes, key=lambda r: -votes[r]) + sorted(lexical, key=lambda r: -lexical[r])
        ))
        retrieved, found = len(ids), set(ids)
        ids += [i for i in dict.fromkeys(extra) if i not in found]
        if not ids:
            return Retrieved([], np.zeros((0, len(RETRIEVAL_FEATURES))), 0)
        index = self.index
        evidence = Evidence(
            query=q, ids=ids, vector=vector,
            dense_ranks={rid: r for r, rid in enumerate(dense, start=1)},
            sparse_ranks={rid: r for r, rid in enumerate(sparse, start=1)},
            votes=votes, best=best, lexical=lexical, history=view,
            dense_scores=lambda pool: index.dense.reconstruct_many(pool) @ vector,
            bm25_scores=index.sparse.score_of if cfg.use_sparse else None,
            name_scores=self._name_matcher().scores, rrf_k=cfg.rrf_k, use_history=cfg.use_history,
            past=view.positive_counts(ids),
        )
        return Retrieved([index.resources[i] for i in ids], pool_columns(evidence), retrieved, nearest)

    def _search(
        self, q: MatchQuery, vector: np.ndarray | None, allowed: Allowed, k: int, view: HistoryView,
    ) -> tuple[list[str], list[str], dict[str, float], dict[str, float], dict[str, float], dict[str, str]]:
        """Dense ids, BM25 ids (best first), kNN votes, best neighbour similarities, lexical votes, the
        closest neighbour of each voted resource."""
        cfg, index = self.config, self.index
        if not allowed.ids:
            return [], [], {}, {}, {}, {}
        dense: list[str] = []
        if cfg.use_dense and vector is not None:
            n = min(len(allowed.ids), max(cfg.dense_candidates, k))
            _, found = index.dense.search(vector[None, :], n, allowed=allowed.dense_fids)
            dense = [i for i in found[0] if i is not None]
        sparse: list[str] = []
        if cfg.use_sparse:
            n = min(len(allowed.ids), max(cfg.sparse_candidates, k))
            _, found_sparse = index.sparse.search(q.text, n, allowed=allowed.sparse_rows)
            sparse = [i for i in found_sparse if i is not None]
        votes: dict[str, float] = {}
        best: dict[str, float] = {}
        lexical: dict[str, float] = {}
        nearest: dict[str, str] = {}
        if cfg.use_history and vector is not None and len(index.history):
            allowed_set = allowed.members
            votes, best, nearest = view.knn_neighbours(vector, k=cfg.knn_neighbours)
            votes = {r: v for r, v in votes.items() if r in allowed_set}
            lexical = {r: v for r, v in view.lexical_votes(q.text, k=cfg.knn_neighbours).items() if r in allowed_set}
        return dense, sparse, votes, best, lexical, nearest

    def warm(self) -> None:
        """Build the resource names' matcher now (at start-up, not on the first request)."""
        self._name_matcher()

    def _name_matcher(self) -> NameMatcher:
        """The names of the indexed resources, rebuilt when the index replaces its dicts (on a write)."""
        resources, providers = self.index.resources, self.index.providers
        cached = self._names
        if cached is None or cached[0] is not resources or cached[1] is not providers:
            previous = cached[2] if cached is not None else None
            cached = self._names = (resources, providers, NameMatcher(resources, providers, previous=previous))
        return cached[2]
