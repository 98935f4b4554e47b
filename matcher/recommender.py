"""The one pipeline that makes a ranked list: ``Recommender.recommend``.

The service, the widget, batch matching, training and evaluation all call it. Today's pipeline:
encode the query → dense search restricted, inside FAISS, to resources that pass the hard filters
(open on the day, territory covered) → eligibility checks per criterion → score → explanations.
Later stages (BM25, features, a learned ranker, diversity) plug in here, not in copies of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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

    candidates: int = 200
    """How many resources the dense search hands to the checks and the ranker."""
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
        vector = self.encoder.encode_queries([q.text])
        n = min(len(allowed), max(self.config.candidates, k))
        scores, ids = self.index.dense.search(vector, n, allowed=allowed)
        kept: list[Match] = []
        excluded: list[Match] = []
        for score, rid in zip(scores[0], ids[0], strict=True):
            if rid is None:
                continue
            resource = self.index.resources[rid]
            checks = check_all(resource, q, day)
            match = self._match(q, resource, float(score), checks)
            if is_eligible(checks):
                if len(kept) < k:
                    kept.append(match.model_copy(update={"rank": len(kept) + 1}))
            elif with_excluded:
                excluded.append(match)
            if len(kept) >= k and not with_excluded:
                break
        return Recommendation(kept, excluded)

    def _match(self, q: MatchQuery, resource: Resource, score: float, checks: list[EligibilityCheck]) -> Match:
        provider = self.index.providers.get(resource.provider_id)
        return Match(
            initiative_id=q.initiative_id,
            resource_id=resource.id,
            title=resource.title,
            provider=provider.name if provider else resource.provider_id,
            kind=resource.kind.value,
            score=round(score, 6),
            rank=1,
            features={"dense": round(score, 6)},
            checks=checks,
            reasons=reasons_for(q, resource, checks, score),
            near_misses=[c.near_miss for c in checks if c.near_miss],
            closes_at=resource.closes_at,
            url=resource.url,
            index_version=self.index.version,
            model_version=self.encoder.model_id,
        )
