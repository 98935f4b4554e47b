"""The one pipeline that makes a ranked list: ``Recommender.recommend``.

The service, the widget, batch matching, training and evaluation all call it. Today's pipeline:
encode the query → dense search and BM25 search, each restricted to resources that pass the hard
filters (open on the day, territory covered) → one fused candidate set with both scores kept as
features → eligibility checks per criterion → reciprocal-rank fusion order → explanations.
Later stages (features, a learned ranker, diversity) plug in here, not in copies of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from indexes import Encoder
from matcher import territory
from matcher.eligibility import check_all, is_eligible
from matcher.explain import reasons_for
from matcher.indexing import ResourceIndex
from matcher.schemas import EligibilityCheck, Initiative, Match, MatchQuery, Resource

__all__ = ["Recommendation", "Recommender", "RecommenderConfig"]


@dataclass(frozen=True)
class RecommenderConfig:
    """Knobs of the pipeline; saved with evaluation reports so a figure names its configuration."""

    dense_candidates: int = 200
    """How many resources the dense search hands to the fused candidate set."""
    sparse_candidates: int = 200
    """How many resources the BM25 search hands to the fused candidate set."""
    rrf_k: int = 60
    """Reciprocal-rank fusion constant: ``score = Σ 1 / (rrf_k + rank)`` over the two searches."""
    use_dense: bool = True
    use_sparse: bool = True
    max_k: int = 100


@dataclass(frozen=True)
class Recommendation:
    """A ranked list and the hard failures kept aside (shown to staff on request)."""

    matches: list[Match]
    excluded: list[Match]


class Recommender:
    """Matches initiatives (or free-text projects) to resources."""

    def __init__(self, index: ResourceIndex, encoder: Encoder, config: RecommenderConfig | None = None) -> None:
        if index.manifest.encoder_id != encoder.model_id:
            raise ValueError(
                f"index {index.version} was built with {index.manifest.encoder_id!r}, "
                f"encoder is {encoder.model_id!r}"
            )
        self.index = index
        self.encoder = encoder
        self.config = config or RecommenderConfig()

    def _allowed(self, query: MatchQuery, today: date) -> list[str]:
        out = []
        for rid, res in self.index.resources.items():
            if not res.is_open(today):
                continue
            if query.territory is not None and not territory.covers(res.coverage, query.territory):
                continue
            out.append(rid)
        return out

    def recommend(
        self,
        query: MatchQuery | Initiative,
        k: int = 10,
        *,
        today: date | None = None,
        with_excluded: bool = False,
    ) -> Recommendation:
        """Top ``k`` eligible resources for ``query``, best first, each explained.

        ``today`` fixes the date that decides what is open (defaults to the current date).
        Raises ``ValueError`` when ``k`` is outside ``1..config.max_k``.
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be between 1 and {self.config.max_k}, got {k}")
        q = MatchQuery.from_initiative(query) if isinstance(query, Initiative) else query
        day = today or date.today()
        allowed = self._allowed(q, day)
        if not allowed:
            return Recommendation([], [])
        candidates = self._candidates(q, allowed, k)
        kept: list[Match] = []
        excluded: list[Match] = []
        for rid, features in candidates:
            resource = self.index.resources[rid]
            checks = check_all(resource, q, day)
            match = self._match(q, resource, features, checks)
            if is_eligible(checks):
                if len(kept) < k:
                    kept.append(match.model_copy(update={"rank": len(kept) + 1}))
            elif with_excluded:
                excluded.append(match)
            if len(kept) >= k and not with_excluded:
                break
        return Recommendation(kept, excluded)

    def _candidates(self, q: MatchQuery, allowed: list[str], k: int) -> list[tuple[str, dict[str, float]]]:
        """The fused candidate set, best first: ``(resource id, features)`` pairs.

        Features: ``dense`` (cosine with the query), ``bm25`` (BM25 score), ``dense_rank`` and
        ``bm25_rank`` (1-based; 0 when the search did not return it), ``rrf`` (the fused score).
        """
        cfg = self.config
        dense_ids: list[str] = []
        vector = None
        if cfg.use_dense:
            vector = self.encoder.encode_queries([q.text])
            n = min(len(allowed), max(cfg.dense_candidates, k))
            _, found = self.index.dense.search(vector, n, allowed=allowed)
            dense_ids = [i for i in found[0] if i is not None]
        sparse_ids: list[str] = []
        if cfg.use_sparse:
            n = min(len(allowed), max(cfg.sparse_candidates, k))
            _, found_sparse = self.index.sparse.search(q.text, n, allowed=allowed)
            sparse_ids = [i for i in found_sparse if i is not None]
        dense_rank = {rid: r for r, rid in enumerate(dense_ids, start=1)}
        sparse_rank = {rid: r for r, rid in enumerate(sparse_ids, start=1)}
        pool = list(dict.fromkeys(dense_ids + sparse_ids))
        if not pool:
            return []
        # Every candidate gets both scores, whichever search found it: the ranker needs them all.
        dense_scores = (
            np.stack([self.index.dense.reconstruct(rid) for rid in pool]) @ vector[0]
            if vector is not None
            else np.zeros(len(pool))
        )
        bm25_scores = self.index.sparse.score_of(q.text, pool) if cfg.use_sparse else np.zeros(len(pool))
        out = []
        for rid, ds, bs in zip(pool, dense_scores, bm25_scores, strict=True):
            rd, rs = dense_rank.get(rid, 0), sparse_rank.get(rid, 0)
            rrf = (1.0 / (cfg.rrf_k + rd) if rd else 0.0) + (1.0 / (cfg.rrf_k + rs) if rs else 0.0)
            out.append((rid, {"dense": float(ds), "bm25": float(bs), "dense_rank": float(rd),
                              "bm25_rank": float(rs), "rrf": rrf}))
        out.sort(key=lambda item: (-item[1]["rrf"], -item[1]["dense"], item[0]))
        return out

    def _match(
        self, q: MatchQuery, resource: Resource, features: dict[str, float], checks: list[EligibilityCheck]
    ) -> Match:
        provider = self.index.providers.get(resource.provider_id)
        return Match(
            initiative_id=q.initiative_id,
            resource_id=resource.id,
            title=resource.title,
            provider=provider.name if provider else resource.provider_id,
            kind=resource.kind.value,
            score=round(features["rrf"], 6),
            rank=1,
            features={name: round(value, 6) for name, value in features.items()},
            checks=checks,
            reasons=reasons_for(q, resource, checks, features["dense"]),
            near_misses=[c.near_miss for c in checks if c.near_miss],
            closes_at=resource.closes_at,
            url=resource.url,
            index_version=self.index.version,
            model_version=self.encoder.model_id,
        )
