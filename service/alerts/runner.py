"""One alerts run, what the scheduler calls (``maillage alerts run``): detect, compose the digests that
are due, deliver the outbox. Each step is idempotent and commits its own work, so a run killed at any
point and run again finishes the job without sending anything twice (see :mod:`service.alerts.delivery`
for the one window where a copy can be re-sent, with the same Message-ID).

Digests: an e-mail subscription gets at most one digest per period of its frequency
(:func:`service.alerts.subscriptions.period_of`): ``immediate`` at the first run after its alerts were
detected, ``weekly`` at the first run of an ISO week, ``monthly`` at the first run of a month, each
holding every alert that waited. A citizen's subscription that was not confirmed gets nothing but the
confirmation request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from matcher.recommender import Recommender
from matcher.store import Catalogue
from service.alerts.delivery import Delivery, deliver
from service.alerts.detection import Detection, Threshold, detect
from service.alerts.digest import digest_message, outbox_id, webhook_body
from service.alerts.links import Links
from service.alerts.metrics import AlertCounters
from service.alerts.store import AlertItem, AlertStore
from service.alerts.subscriptions import Subscription, period_of
from service.settings import Settings

__all__ = ["RunReport", "compose", "run", "threshold_of"]

_BATCH = 200  # digests written to the outbox per transaction (all of a batch or none)


@dataclass
class RunReport:
    detection: Detection
    queued: int = 0
    delivery: Delivery = field(default_factory=Delivery)


def threshold_of(settings: Settings) -> Threshold:
    return Threshold(min_score=settings.alerts_min_score, depth=settings.alerts_depth)


def _period(sub: Subscription, items: list[AlertItem], now: datetime) -> str:
    if sub.frequency == "immediate":
        return period_of("immediate", max(i.detected_at for i in items))
    return period_of(sub.frequency, now)


def compose(alerts: AlertStore, links: Links, *, now: datetime | None = None,
            counters: AlertCounters | None = None) -> int:
    """Write the digests that are due to the outbox (each with the items it takes off the waiting list,
    in one transaction); returns how many messages were queued."""
    moment = now or datetime.now(UTC)
    today = moment.date()
    subs = {s.id: s for s in alerts.subscriptions(active_only=True)[0]}
    queued = 0
    batch: list[tuple[list[dict[str, Any]], list[str]]] = []

    def flush() -> None:
        nonlocal queued
        for (rows, _), done in zip(batch, alerts.queue_many(batch) if batch else [], strict=True):
            if done:
                queued += len(rows)
                for row in rows:
                    if counters is not None:
                        counters.queued.labels(row["channel"], "digest").inc()
        batch.clear()

    for sid, items in alerts.pending().items():
        sub = subs.get(sid)
        if sub is None or not sub.confirmed:
            continue
        period = _period(sub, items, moment)
        rows = []
        if sub.email:
            rows.append({"id": outbox_id(sid, "email", "digest", period), "subscription_id": sid, "channel": "email",
                         "kind": "digest", "period": period, "recipient": sub.email,
                         "payload": digest_message(sub, items, links, today)})
        if sub.webhook_url:
            wid = outbox_id(sid, "webhook", "digest", period)
            rows.append({"id": wid, "subscription_id": sid, "channel": "webhook", "kind": "digest",
                         "period": period, "recipient": sub.webhook_url, "payload": webhook_body(sub, items, wid)})
        batch.append((rows, [i.id for i in items]))
        if len(batch) >= _BATCH:
            flush()
    flush()
    return queued


def run(rec: Recommender, catalogue: Catalogue, settings: Settings, links: Links, *, today: date | None = None,
        now: datetime | None = None, counters: AlertCounters | None = None, send: bool = True) -> RunReport:
    """Detect, compose, deliver (``send=False`` stops before delivery)."""
    alerts = AlertStore(catalogue.engine)
    moment = now or datetime.now(UTC)
    found = detect(rec, catalogue, alerts, today=today or moment.date(), threshold=threshold_of(settings))
    report = RunReport(found, compose(alerts, links, now=moment, counters=counters))
    if send:
        report.delivery = deliver(alerts, settings, links)
    if counters is not None:
        counters.detected.inc(found.new_items)
        counters.rematched.inc(found.rematched)
        counters.sent.labels("all").inc(report.delivery.sent)
        counters.failed.inc(report.delivery.failed)
    return report
