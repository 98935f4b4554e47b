"""What the pipeline says of each initiative: one :class:`Verdict`, read off ``Recommender.recommend``.

Every figure of the observatory is an aggregate of verdicts, and every verdict comes from one call
of the one pipeline (:meth:`matcher.recommender.Recommender.recommend`, with the excluded candidates
asked for): no second ranking path. A verdict keeps what the call measured:

* the list as served (eligible resources, best first) and whether "nothing fits" (no eligible
  resource, or none above the calibration's relevance threshold when a calibration is served);
* the *best suggestions*: the :data:`BEST` best-scored candidates of the pool, eligible or not (the
  served list and the excluded candidates merged by the pipeline's score), each with the hard
  criteria it fails, the clause that decided and the near-miss advice;
* the criterion that blocks the initiative, when every one of its best suggestions fails that same
  criterion.

What retrieval's hard filters decide before ranking (a resource closed on the day, a perimeter that
leaves the initiative's territory out) never reaches the pool: the pipeline scores no such pair, so
no verdict names them. The supply of open resources per territory (:mod:`matcher.observatory.supply`)
shows that side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from indexes.cache import CachedEncoder
from matcher.eligibility import HARD_CRITERIA
from matcher.parallel import fork_imap
from matcher.recommender import Recommender
from matcher.schemas import CheckStatus, Initiative, Match, MatchQuery

__all__ = ["BEST", "ENCODE_BATCH", "Failure", "Suggestion", "Verdict", "verdict_of", "verdicts"]

BEST = 5
"""How many of an initiative's best-scored candidates are its "best suggestions"."""
ENCODE_BATCH = 256
"""Query texts encoded together before the calls (filling the embedding cache the calls read)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One hard criterion a candidate fails: the criterion, the clause that decided, the advice."""

    criterion: str
    clause: str
    near_miss: str | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One of the best suggestions: the resource, its provider id, and the hard criteria it fails
    (empty: eligible)."""

    resource_id: str
    provider_id: str
    failures: tuple[Failure, ...]

    @property
    def eligible(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Verdict:
    """What one ``recommend`` call said of one initiative, as of ``day``."""

    initiative_id: str
    eligible: int
    """Eligible resources in the served list (at most ``k``)."""
    nothing_fits: bool
    """No eligible resource, or none reaching the relevance threshold (``Recommendation.nothing_fits``)."""
    best: tuple[Suggestion, ...]
    blocked_by: str | None
    """The hard criterion every best suggestion fails, when there is one (and at least one suggestion)."""
    day: date
    best_relevance: float | None = None
    shown: tuple[str, ...] = field(default=())
    """Ids of the served list, best first."""

    @property
    def no_eligible(self) -> bool:
        return self.eligible == 0


def _failures(m: Match) -> tuple[Failure, ...]:
    return tuple(Failure(c.criterion.value, c.clause, c.near_miss) for c in m.checks
                 if c.status is CheckStatus.failed and c.criterion in HARD_CRITERIA)


def _provider_ids(recommender: Recommender, ids: Iterable[str]) -> dict[str, str]:
    resources = recommender.index.resources
    return {rid: resources[rid].provider_id if rid in resources else "" for rid in ids}


def verdict_of(recommender: Recommender, initiative: Initiative, *, today: date, k: int = 10,
               history_before: datetime | None = None) -> Verdict:
    """The verdict of one ``recommend`` call for ``initiative`` on ``today`` (history counted before
    ``history_before`` when given, as of a past date)."""
    rec = recommender.recommend(initiative, k, today=today, with_excluded=True, history_before=history_before,
                                explain=False)
    # The served list and the excluded candidates, merged by the pipeline's score: the pool's order
    # (ties keep the served list first, then the pool's order).
    scored: list[tuple[float, int, Match, tuple[Failure, ...]]] = []
    for n, m in enumerate(rec.matches):
        scored.append((-(m.score if m.score is not None else float("inf")), n, m, ()))
    for n, m in enumerate(rec.excluded):
        fails = _failures(m)
        if fails:  # an excluded candidate always fails a hard criterion (staff exclusions are not asked for)
            scored.append((-(m.score or 0.0), len(rec.matches) + n, m, fails))
    scored.sort(key=lambda t: (t[0], t[1]))
    head = scored[:BEST]
    owners = _provider_ids(recommender, (t[2].resource_id for t in head))
    best = tuple(Suggestion(t[2].resource_id, owners[t[2].resource_id], t[3]) for t in head)
    blocked: str | None = None
    if best and all(s.failures for s in best):
        common = set.intersection(*({f.criterion for f in s.failures} for s in best))
        # Several criteria failed by all: the first in the checks' fixed order names the block.
        order = [f.criterion for f in best[0].failures]
        blocked = next((c for c in order if c in common), None)
    relevances = [m.relevance for m in rec.matches if m.relevance is not None]
    return Verdict(initiative.id, len(rec.matches), rec.nothing_fits, best, blocked, today,
                   max(relevances) if relevances else None, tuple(m.resource_id for m in rec.matches))


@dataclass(frozen=True)
class _Call:
    """One verdict per initiative with the same day, depth and history cut (what a worker runs)."""

    recommender: Recommender
    today: date
    k: int
    history_before: datetime | None

    def __call__(self, initiative: Initiative) -> Verdict:
        return verdict_of(self.recommender, initiative, today=self.today, k=self.k,
                          history_before=self.history_before)


def verdicts(recommender: Recommender, initiatives: Sequence[Initiative], *, today: date, k: int = 10,
             history_before: datetime | None = None, progress: Callable[[int], None] | None = None,
             workers: int = 1) -> list[Verdict]:
    """One verdict per initiative, in the order given, whatever ``workers`` is. When the recommender's
    encoder is cached, the query texts are first encoded in batches of :data:`ENCODE_BATCH` (the calls
    then read them from the cache); then each initiative is one ``recommend`` call, in ``workers``
    forked processes (:func:`matcher.parallel.fork_imap`); ``progress(n)`` is told of every
    :data:`ENCODE_BATCH` verdicts."""
    if isinstance(recommender.encoder, CachedEncoder):
        texts = [MatchQuery.from_initiative(i).text for i in initiatives]
        for start in range(0, len(texts), ENCODE_BATCH):
            recommender.encoder.encode_queries(texts[start:start + ENCODE_BATCH])
    out: list[Verdict] = []
    told = 0
    for v in fork_imap(_Call(recommender, today, k, history_before), initiatives, workers):
        out.append(v)
        if progress is not None and (len(out) - told == ENCODE_BATCH or len(out) == len(initiatives)):
            progress(len(out) - told)
            told = len(out)
    return out
