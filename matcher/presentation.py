"""The presentation stage: from a ranked pool to the list a person reads.

Staff pins come first (whatever their score, said in their reasons), staff exclusions never
appear, a provider holds at most a few places while others remain (diversity), and each match
carries its checks, near misses and reasons in French, when its record was last verified (with a
warning past ``stale_after_days``) and whom to ask when it has no page. Hard failures are kept aside
for staff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import numpy as np

from matcher.calibration import Calibration, RelevanceLabel, calibration_inputs, label_of
from matcher.explain import NEIGHBOURS_VOTE, Grounds, reasons_for, shared_words
from matcher.freshness import STALE_AFTER_DAYS, contact_of, freshness_of
from matcher.indexing import ResourceIndex
from matcher.pool import Candidate, Pool
from matcher.schemas import Decision, Match, Outcome

__all__ = ["Presenter", "Recommendation", "diversify", "grounds_of", "match_of", "pinned_ids"]

T = TypeVar("T")

NEAR_MISSES = 3
"""Near misses shown when nothing fits."""


@dataclass(frozen=True)
class Recommendation:
    """A ranked list and the hard failures kept aside (shown to staff on request)."""

    matches: list[Match]
    excluded: list[Match]
    nothing_fits: bool = False
    """True when the list is empty or no ranked match reaches the calibration's threshold: the person
    is told that nothing fits well, and shown the near misses."""
    near_misses: list[Match] = field(default_factory=list)
    """When nothing fits: up to :data:`NEAR_MISSES` resources that fail a criterion by little, each
    with what would open it (its checks' near misses), best first."""
    ranked_inputs: np.ndarray | None = None
    """``(n, 3)`` calibration inputs (:func:`matcher.calibration.calibration_inputs`) of the ranked
    matches, in list order after the pinned ones; what a calibration is fitted from."""


def pinned_ids(overrides: Mapping[str, Outcome], index: ResourceIndex) -> list[str]:
    """The resources staff pinned that the index still holds, in the order of ``overrides``."""
    return [rid for rid, o in overrides.items() if o.decision is Decision.pinned and rid in index.resources]


def diversify(ranked: Sequence[T], k: int, cap: int, provider: Callable[[T], str]) -> list[T]:
    """Best first, at most ``cap`` items of one ``provider`` while others remain; the capped ones come
    back at the end only if the list would otherwise be short. ``cap`` 0 keeps the order."""
    if cap <= 0:
        return list(ranked[:k])
    chosen: list[T] = []
    deferred: list[T] = []
    per: dict[str, int] = {}
    for item in ranked:
        pid = provider(item)
        if per.get(pid, 0) < cap:
            chosen.append(item)
            per[pid] = per.get(pid, 0) + 1
        else:
            deferred.append(item)
        if len(chosen) >= k:
            break
    return (chosen + deferred)[:k]


@dataclass(frozen=True)
class Presenter:
    """Turns a ranked pool into a :class:`Recommendation` for one index and model version."""

    index: ResourceIndex
    model_version: str
    max_per_provider: int
    calibration: Calibration | None = None
    """Maps each ranked match to a probability of being relevant; None: no label, no threshold."""
    stale_after_days: int = STALE_AFTER_DAYS
    """A match whose record was last verified longer ago than this is flagged (display only)."""

    def present(self, pool: Pool, k: int, overrides: Mapping[str, Outcome], pins: Sequence[str], *,
                with_excluded: bool, explain: bool, today: date | None = None) -> Recommendation:
        """The list of ``k``: the ``pins`` (:func:`pinned_ids` of ``overrides``, rows of ``pool``) first,
        then the eligible retrieved rows, diversified, that staff neither pinned nor excluded.
        ``today`` (default: the current date) dates each match's freshness."""
        day = today or date.today()
        staff_out = {rid for rid, o in overrides.items() if o.decision is Decision.excluded}
        row = {r.id: i for i, r in enumerate(pool.resources)}
        pinned = [pool.candidate(row[rid]) for rid in pins[:k]]
        left_out = staff_out | set(pins)
        eligible = [i for i in range(pool.retrieved) if pool.eligible[i] and pool.resources[i].id not in left_out]
        rows = diversify(eligible, k - len(pinned), self.max_per_provider, lambda i: pool.resources[i].provider_id)
        shown = pinned + [pool.candidate(i) for i in rows]
        inputs = self._inputs(pool, rows)
        relevance: list[float | None] = [*([None] * len(pinned)), *self._relevance(inputs, len(rows))]
        matches = [self._match(pool, c, rank, explain, overrides, Decision.pinned, day, p)
                   for (rank, c), p in zip(enumerate(shown, start=1), relevance, strict=True)]
        for m in matches[: len(pinned)]:
            m.score = None  # placed by staff, not by its score
        excluded: list[Match] = []
        if with_excluded:
            excluded = [self._match(pool, pool.candidate(i), 1, True, overrides, Decision.excluded, day)
                        for i in range(pool.retrieved)
                        if not pool.eligible[i] or pool.resources[i].id in staff_out]
        ranked = [p for p in relevance[len(pinned):] if p is not None]
        nothing_fits = not matches or (not pinned and self.calibration is not None
                                       and max(ranked, default=0.0) < self.calibration.threshold)
        near: list[Match] = []
        if nothing_fits and explain:
            rows_near = [i for i in range(pool.retrieved)
                         if not pool.eligible[i] and pool.resources[i].id not in staff_out
                         and any(x.near_miss for x in pool.checks[i])][:NEAR_MISSES]
            near = [self._match(pool, pool.candidate(i), n, True, overrides, Decision.excluded, day)
                    for n, i in enumerate(rows_near, start=1)]
        return Recommendation(matches, excluded, nothing_fits, near, inputs)

    @staticmethod
    def _inputs(pool: Pool, rows: list[int]) -> np.ndarray | None:
        if pool.prior_scores is None:
            return None
        return calibration_inputs(pool.prior_scores[rows], np.arange(1, len(rows) + 1), pool.column("dense")[rows])

    def _relevance(self, inputs: np.ndarray | None, n: int) -> list[float | None]:
        """The calibrated probability of each ranked row shown (in list order), or None each."""
        if self.calibration is None or inputs is None or not n:
            return [None] * n
        return [float(p) for p in self.calibration.probabilities(inputs)]

    def _match(self, pool: Pool, c: Candidate, rank: int, explain: bool, overrides: Mapping[str, Outcome],
               noted: Decision, today: date, relevance: float | None = None) -> Match:
        label = None if relevance is None or self.calibration is None else self.calibration.label(relevance)
        m = match_of(pool, c, rank, explain, self.index, self.model_version, relevance,
                     today=today, stale_after_days=self.stale_after_days, label=label)
        note = overrides.get(c.resource.id)
        if note is not None and (noted is Decision.pinned or note.decision is Decision.excluded):
            what = "Épinglé par l'équipe" if noted is Decision.pinned else "Exclu par l'équipe"
            m.reasons.insert(0, what + (f" : {note.reason}" if note.reason else "."))
        return m


def match_of(pool: Pool, c: Candidate, rank: int, explain: bool, index: ResourceIndex, model_version: str,
             relevance: float | None = None, *, today: date | None = None,
             stale_after_days: int = STALE_AFTER_DAYS, label: RelevanceLabel | None = None) -> Match:
    """One shown match; ``explain`` False leaves out checks, features, reasons and contact (same ranking).
    ``relevance`` is its calibrated probability, shown with ``label`` (by default the fixed bounds of
    :func:`matcher.calibration.label_of`); its freshness is as of ``today``."""
    resource = c.resource
    if label is None and relevance is not None:
        label = label_of(relevance)
    p = None if relevance is None else round(relevance, 4)
    fresh = freshness_of(resource.last_verified, today or date.today(), stale_after_days)
    if not explain:
        return Match(initiative_id=pool.query.initiative_id, resource_id=resource.id, title=resource.title,
                     kind=resource.kind.value, score=round(c.score, 6), rank=rank, relevance=p, relevance_label=label,
                     index_version=index.version, model_version=model_version, last_verified=fresh.last_verified,
                     verified=fresh.verified, stale=fresh.stale, stale_warning=fresh.warning)
    provider = index.providers.get(resource.provider_id)
    return Match(
        initiative_id=pool.query.initiative_id,
        resource_id=resource.id,
        title=resource.title,
        provider=provider.name if provider else resource.provider_id,
        kind=resource.kind.value,
        score=round(c.score, 6),
        rank=rank,
        features={name: round(value, 6) for name, value in c.features.items()},
        checks=[x.model() for x in c.checks],
        relevance=p,
        relevance_label=label,
        reasons=reasons_for(pool.query, resource, c.checks, grounds_of(pool, c, index, relevance, label)),
        near_misses=[x.near_miss for x in c.checks if x.near_miss],
        closes_at=resource.closes_at,
        url=resource.url,
        contact=contact_of(resource, provider),
        index_version=index.version,
        model_version=model_version,
        last_verified=fresh.last_verified,
        verified=fresh.verified,
        stale=fresh.stale,
        stale_warning=fresh.warning,
    )


def grounds_of(pool: Pool, c: Candidate, index: ResourceIndex, relevance: float | None = None,
               label: RelevanceLabel | None = None) -> Grounds:
    """The evidence a match's reasons may use: the words its record shares with the query, its
    calibrated relevance, and the closest past project that obtained it when similar past projects
    voted for it."""
    rid = c.resource.id
    neighbour = None
    if c.features.get("knn_vote", 0.0) >= NEIGHBOURS_VOTE and rid in pool.nearest:
        neighbour = index.history.title_of(pool.nearest[rid])
    if pool.query_terms is None:
        pool.query_terms = index.sparse.analyzer.terms_with_words(pool.query.text)
    words = shared_words(pool.query.text, rid, index.sparse, terms=pool.query_terms)
    return Grounds(shared_words=tuple(words), neighbour=neighbour,
                   relevance=relevance,
                   relevance_label=label if label is not None or relevance is None else label_of(relevance))
