"""Detection: which subscriptions hear of which new resources.

When resources are created, updated (a new session, a wider perimeter) or reopen, the subscriptions
they can affect are re-matched through :meth:`matcher.recommender.Recommender.recommend` — the one
pipeline; nothing here ranks. A match becomes an alert when it is

- **new**: one of the changed resources, in a session (its closing date) this subscription was never told
  of, nor knew when it was made (its baseline), nor saw decided by staff (an outcome on the pair);
- **feasible**: in the ranked list (``recommend`` sets hard failures aside) with no failed check;
- **relevant enough**: with a calibrated relevance, at least :data:`MIN_RELEVANCE` (the bound of the
  « moyenne » label of :mod:`matcher.calibration`); without one, in the top ``depth`` of its list with a
  ranker score of at least ``min_score`` (settings ``MAILLAGE_ALERTS_DEPTH``, ``MAILLAGE_ALERTS_MIN_SCORE``).
  A pinned resource (no score) is never an alert: staff put it there.

Batching, so that 10,000 subscriptions stay cheap: subscriptions are grouped by what the hard criteria
read (territory, legal form, stage, amount, needs, kinds); each group is checked once against each
changed resource with the same eligibility rules ``recommend`` applies (:func:`matcher.eligibility.check_all`),
and only a subscription with at least one changed resource that passes is re-matched. That prefilter
only ever skips lists in which no changed resource could appear. The texts of the re-matched
subscriptions are encoded in one batch first (the service's encoder caches them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from matcher.calibration import LABELS
from matcher.eligibility import check_all, is_eligible
from matcher.parallel import fork_map
from matcher.recommender import Recommender
from matcher.schemas import CheckStatus, Decision, MatchQuery, Outcome, Resource
from matcher.store import Catalogue
from service.alerts.store import AlertStore
from service.alerts.subscriptions import Subscription

__all__ = ["MIN_RELEVANCE", "Detection", "Threshold", "changed_resources", "dedupe_key", "detect", "item_data",
           "queries_of"]

MIN_RELEVANCE = LABELS[1][1]
"""A calibrated match is an alert from this probability up: the « moyenne » and « forte » labels."""
LOOKBACK = timedelta(seconds=60)  # as the engine's sync: a write stamped earlier may commit later
_ENCODE_BATCH = 256


@dataclass(frozen=True)
class Threshold:
    min_score: float = 0.0
    depth: int = 10

    def passes(self, m: Any) -> bool:
        if m.score is None or m.rank > self.depth:
            return False
        if any(c.status is CheckStatus.failed for c in m.checks):
            return False
        if m.relevance is not None:
            return bool(m.relevance >= MIN_RELEVANCE)
        return bool(m.score >= self.min_score)


@dataclass
class Detection:
    """What one detection pass did."""

    changed: int = 0
    subscriptions: int = 0
    rematched: int = 0
    new_items: int = 0
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = field(default_factory=dict)


def dedupe_key(res: Resource) -> str:
    """A resource's session: announcing it again needs a new closing (or opening) date."""
    return f"{res.id}@{res.closes_at or res.opens_at or res.recurrence.value}"


def item_data(m: Any, res: Resource) -> dict[str, Any]:
    """What a digest, a feed and a webhook show of one match (all measured by the pipeline)."""
    return {"resource_id": m.resource_id, "title": m.title, "provider": m.provider, "kind": m.kind,
            "reasons": list(m.reasons), "closes_at": res.closes_at.isoformat() if res.closes_at else None,
            "url": m.url, "contact": m.contact, "score": m.score, "relevance": m.relevance,
            "relevance_label": m.relevance_label, "index_version": m.index_version,
            "model_version": m.model_version, "initiative_id": m.initiative_id}


def changed_resources(rec: Recommender, alerts: AlertStore, catalogue: Catalogue, subs: Sequence[Subscription],
                      today: date) -> tuple[list[Resource], datetime | None]:
    """The served resources written since the watermark (or since the oldest subscription was made, on
    the first run), plus those whose opening date came since; and the newest write seen."""
    mark = alerts.watermark()
    if mark is None and subs:
        mark = min(s.created_at for s in subs)
    if mark is None:
        return [], None
    live, _, newest = catalogue.resources_changed_since(mark - LOOKBACK)
    served = rec.index.resources
    ids = {r.id for r in live if r.id in served}
    since_day = mark.date()
    ids |= {r.id for r in served.values() if r.opens_at is not None and since_day < r.opens_at <= today}
    return [served[i] for i in sorted(ids)], max(newest, mark) if newest is not None else mark


def queries_of(catalogue: Catalogue, subs: Sequence[Subscription]) -> dict[str, MatchQuery]:
    """The query each subscription is matched with: its initiative's (as stored now) or its saved search.
    A subscription whose initiative is gone has none."""
    initiatives = catalogue.get_initiatives([s.initiative_id for s in subs if s.initiative_id])
    out: dict[str, MatchQuery] = {}
    for s in subs:
        if s.query is not None:
            out[s.id] = s.query
        elif s.initiative_id in initiatives:
            out[s.id] = MatchQuery.from_initiative(initiatives[s.initiative_id])
    return out


def _hard_key(q: MatchQuery) -> tuple[Any, ...]:
    return (q.territory, q.legal_form, q.stage, q.amount_sought, tuple(q.needs), tuple(q.kinds))


def _affected(queries: dict[str, MatchQuery], changed: Sequence[Resource], today: date) -> dict[str, set[str]]:
    """``{subscription_id: ids of the changed resources that pass its hard criteria}`` (non-empty only)."""
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for sid, q in queries.items():
        groups[_hard_key(q)].append(sid)
    out: dict[str, set[str]] = {}
    for sids in groups.values():
        q = queries[sids[0]]
        fits = {r.id for r in changed if (not q.kinds or r.kind in q.kinds) and is_eligible(check_all(r, q, today))}
        if fits:
            out.update({sid: fits for sid in sids})
    return out


def _decided(catalogue: Catalogue,
             initiative_ids: set[str]) -> tuple[dict[str, dict[str, Outcome]], set[tuple[str, str]]]:
    """Staff overrides per initiative (latest pin or exclusion per resource) and the (initiative,
    resource) pairs staff already decided on, read in one pass over the outcome log."""
    overrides: dict[str, dict[str, Outcome]] = defaultdict(dict)
    seen: set[tuple[str, str]] = set()
    if not initiative_ids:
        return overrides, seen
    for o in catalogue.iter_outcomes():
        if o.initiative_id in initiative_ids:
            seen.add((o.initiative_id, o.resource_id))
            if o.decision in (Decision.pinned, Decision.excluded):
                overrides[o.initiative_id][o.resource_id] = o
    return overrides, seen


def _warm(rec: Recommender, texts: Iterable[str]) -> None:
    """Encode the texts in batches first: each ``recommend`` then finds its vector in the cache."""
    unique = list(dict.fromkeys(texts))
    for start in range(0, len(unique), _ENCODE_BATCH):
        rec.encoder.encode_queries(unique[start:start + _ENCODE_BATCH])


@dataclass
class _Rematch:
    """The re-matching of the affected subscriptions: one ``recommend`` each, the new alerts kept."""

    rec: Recommender
    day: date
    limit: Threshold
    subs: dict[str, Subscription]
    queries: dict[str, MatchQuery]
    affected: dict[str, set[str]]
    changed: dict[str, Resource]
    overrides: dict[str, dict[str, Outcome]]
    decided: set[tuple[str, str]]
    known: set[tuple[str, str]]

    def one(self, sid: str) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
        sub, fits = self.subs[sid], self.affected[sid]
        result = self.rec.recommend(self.queries[sid], self.limit.depth, today=self.day,
                                    overrides=self.overrides.get(sub.initiative_id or ""))
        new = []
        for m in result.matches:
            res = self.changed.get(m.resource_id)
            if res is None or m.resource_id not in fits or not self.limit.passes(m):
                continue
            key = dedupe_key(res)
            if (sid, key) not in self.known and (sub.initiative_id, m.resource_id) not in self.decided:
                new.append((m.resource_id, key, item_data(m, res)))
        return sid, new


def _run(job: _Rematch, workers: int) -> list[tuple[str, list[tuple[str, str, dict[str, Any]]]]]:
    """Every affected subscription re-matched, in this process or in ``workers`` forked ones (each
    inherits the recommender; lists come back as plain data, in subscription order)."""
    return fork_map(job.one, sorted(job.affected), workers)


def detect(rec: Recommender, catalogue: Catalogue, alerts: AlertStore, *, today: date | None = None,
           threshold: Threshold | None = None, changed: Sequence[Resource] | None = None,
           subscriptions: Sequence[Subscription] | None = None, write: bool = True, workers: int = 1) -> Detection:
    """Re-match the subscriptions the changed resources can affect and record the new alerts (unless
    ``write`` is false: then ``Detection.found`` says what would be recorded). Idempotent: an alert
    already recorded is never recorded twice, so a pass interrupted and run again adds what was missing.
    ``workers`` > 1 re-matches in that many forked processes (each list still from ``recommend``)."""
    day = today or datetime.now(UTC).date()
    subs = list(subscriptions) if subscriptions is not None else alerts.subscriptions(active_only=True)[0]
    newest = None
    if changed is None:
        changed, newest = changed_resources(rec, alerts, catalogue, subs, day)
    report = Detection(changed=len(changed), subscriptions=len(subs))
    queries = queries_of(catalogue, subs)
    affected = _affected(queries, changed, day)
    if affected:
        by_id = {s.id: s for s in subs}
        overrides, decided = _decided(catalogue, {by_id[s].initiative_id or "" for s in affected} - {""})
        _warm(rec, (queries[sid].text for sid in affected))
        job = _Rematch(rec, day, threshold or Threshold(), by_id, queries, affected, {r.id: r for r in changed},
                       overrides, decided, alerts.known_keys(sorted(affected)))
        for sid, new in _run(job, workers):
            report.rematched += 1
            if new:
                report.found[sid] = new
    if write:
        report.new_items = alerts.add_items(report.found) if report.found else 0
        if newest is not None:
            alerts.set_watermark(newest)
    else:
        report.new_items = sum(len(v) for v in report.found.values())
    return report
