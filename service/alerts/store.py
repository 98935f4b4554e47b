"""The alerts' tables in the catalogue database (:mod:`matcher.tables`, migration ``0006``):
subscriptions, the items each was told of, the outbox of messages and the detection watermark.

Every write is one transaction. The outbox is written in the transaction that assigns its items
(:meth:`AlertStore.queue`), and a message's ``sent_at`` is committed right after the receiving server
accepted it (:meth:`AlertStore.mark_sent`): see :mod:`service.alerts.delivery` for what that guarantees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from matcher import tables
from matcher._store_base import aware
from matcher.store import NotFoundError
from service.alerts.subscriptions import Subscription

__all__ = ["AlertItem", "AlertStore", "OutboxRow", "item_id"]

S, I, O = tables.alert_subscriptions, tables.alert_items, tables.alert_outbox  # noqa: E741 - the three tables
BASELINE = "baseline"  # ``outbox_id`` of the items a subscription already knew when it was made


def item_id(subscription_id: str, dedupe_key: str) -> str:
    return hashlib.sha256(f"{subscription_id}\0{dedupe_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class AlertItem:
    """One resource (session) a subscription is told of; ``data`` holds what the digest shows."""

    id: str
    subscription_id: str
    resource_id: str
    dedupe_key: str
    data: dict[str, Any]
    detected_at: datetime
    outbox_id: str | None = None
    dismissed_at: datetime | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: str
    subscription_id: str
    channel: str
    kind: str
    period: str
    recipient: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


class AlertStore:
    """Access to the alert tables through the catalogue's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self, table: Any) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    # --- subscriptions -------------------------------------------------------------------------

    @staticmethod
    def _row(sub: Subscription) -> dict[str, Any]:
        data = sub.model_dump(mode="json")
        data["created_at"], data["confirmed_at"] = sub.created_at, sub.confirmed_at
        return data

    @staticmethod
    def _sub(row: Any) -> Subscription:
        data = dict(row._mapping)
        data["created_at"], data["confirmed_at"] = aware(data["created_at"]), aware(data["confirmed_at"])
        return Subscription.model_validate(data)

    def add(self, sub: Subscription, baseline: Iterable[tuple[str, str, dict[str, Any]]] = ()) -> Subscription:
        """Store a new subscription with what it already knows (``(resource_id, dedupe_key, data)``: the
        matches it would be told of today, which are not news)."""
        with self.engine.begin() as conn:
            conn.execute(S.insert().values(**self._row(sub)))
            self._add_items(conn, sub.id, baseline, BASELINE)
        return sub

    def get(self, subscription_id: str) -> Subscription:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.id == subscription_id)).first()
        if row is None:
            raise NotFoundError("subscription", subscription_id)
        return self._sub(row)

    def subscriptions(self, *, offset: int = 0, limit: int | None = None, initiative_id: str | None = None,
             active_only: bool = False) -> tuple[list[Subscription], int]:
        where: list[Any] = []
        if initiative_id is not None:
            where.append(S.c.initiative_id == initiative_id)
        if active_only:
            where.append(S.c.status == "active")
        q = select(S).where(*where).order_by(S.c.created_at, S.c.id).offset(offset)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(S).where(*where)).scalar_one()
            rows = conn.execute(q if limit is None else q.limit(limit)).all()
        return [self._sub(r) for r in rows], int(total)

    def replace(self, sub: Subscription) -> Subscription:
        """Write ``sub`` over the stored subscription of its id (what it knew stays)."""
        with self.engine.begin() as conn:
            row = self._row(sub)
            if conn.execute(update(S).where(S.c.id == sub.id).values(**row)).rowcount == 0:
                raise NotFoundError("subscription", sub.id)
        return sub

    def confirm(self, subscription_id: str) -> Subscription:
        """Double opt-in done: the subscription becomes active (again confirming changes nothing)."""
        with self.engine.begin() as conn:
            conn.execute(update(S).where(S.c.id == subscription_id, S.c.status == "pending")
                         .values(status="active", confirmed_at=_now()))
        return self.get(subscription_id)

    def delete(self, subscription_ids: Sequence[str]) -> int:
        """Delete subscriptions with everything they were told and every message to them, sent or not
        (the outbox holds their address). Returns how many subscriptions were deleted."""
        ids = list(subscription_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            conn.execute(delete(I).where(I.c.subscription_id.in_(ids)))
            conn.execute(delete(O).where(O.c.subscription_id.in_(ids)))
            return int(conn.execute(delete(S).where(S.c.id.in_(ids))).rowcount)

    def delete_for_initiative(self, initiative_id: str) -> int:
        subs, _ = self.subscriptions(initiative_id=initiative_id)
        return self.delete([s.id for s in subs])

    # --- items ---------------------------------------------------------------------------------

    def _add_items(self, conn: Any, subscription_id: str, items: Iterable[tuple[str, str, dict[str, Any]]],
                   outbox_id: str | None) -> int:
        now = _now()
        rows = [{"id": item_id(subscription_id, key), "subscription_id": subscription_id, "resource_id": rid,
                 "dedupe_key": key, "data": data, "detected_at": now, "outbox_id": outbox_id}
                for rid, key, data in items]
        if not rows:
            return 0
        before = conn.execute(select(func.count()).select_from(I).where(I.c.subscription_id == subscription_id))
        n0 = before.scalar_one()
        conn.execute(self._insert(I).on_conflict_do_nothing(index_elements=["id"]), rows)
        after = conn.execute(select(func.count()).select_from(I).where(I.c.subscription_id == subscription_id))
        return int(after.scalar_one() - n0)

    def add_items(self, found: dict[str, list[tuple[str, str, dict[str, Any]]]]) -> int:
        """Record new alerts (``{subscription_id: [(resource_id, dedupe_key, data)]}``); a (subscription,
        dedupe key) already recorded is skipped. Returns how many were added."""
        with self.engine.begin() as conn:
            return sum(self._add_items(conn, sid, items, None) for sid, items in found.items())

    def known_keys(self, subscription_ids: Sequence[str]) -> set[tuple[str, str]]:
        """``(subscription_id, dedupe_key)`` of everything these subscriptions were told of or knew."""
        out: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(subscription_ids), 900):
                chunk = list(subscription_ids[start:start + 900])
                out.update((r[0], r[1]) for r in conn.execute(
                    select(I.c.subscription_id, I.c.dedupe_key).where(I.c.subscription_id.in_(chunk))))
        return out

    @staticmethod
    def _item(row: Any) -> AlertItem:
        m = row._mapping
        return AlertItem(m["id"], m["subscription_id"], m["resource_id"], m["dedupe_key"], m["data"],
                         aware(m["detected_at"]) or _now(), m["outbox_id"], aware(m["dismissed_at"]))

    def pending(self) -> dict[str, list[AlertItem]]:
        """Items waiting for a digest, by subscription, oldest first."""
        out: dict[str, list[AlertItem]] = {}
        q = select(I).where(I.c.outbox_id.is_(None), I.c.dismissed_at.is_(None)).order_by(I.c.detected_at, I.c.id)
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                item = self._item(row)
                out.setdefault(item.subscription_id, []).append(item)
        return out

    def items(self, subscription_id: str, *, limit: int = 50, announced_only: bool = True) -> list[AlertItem]:
        """A subscription's items, newest first (without the baseline it started with)."""
        q = select(I).where(I.c.subscription_id == subscription_id)
        if announced_only:
            q = q.where(or_(I.c.outbox_id.is_(None), I.c.outbox_id != BASELINE))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(I.c.detected_at.desc(), I.c.id).limit(limit)).all()
        return [self._item(r) for r in rows]

    def item(self, item_id_: str) -> AlertItem:
        with self.engine.connect() as conn:
            row = conn.execute(select(I).where(I.c.id == item_id_)).first()
        if row is None:
            raise NotFoundError("alert item", item_id_)
        return self._item(row)

    def dismiss(self, item_id_: str) -> bool:
        """Mark an item « pas pertinent »; ``False`` when it already was."""
        with self.engine.begin() as conn:
            done = conn.execute(update(I).where(I.c.id == item_id_, I.c.dismissed_at.is_(None))
                                .values(dismissed_at=_now()))
        return bool(done.rowcount)

    # --- outbox --------------------------------------------------------------------------------

    def queue(self, rows: Sequence[dict[str, Any]], item_ids: Sequence[str] = ()) -> bool:
        """Add messages to the outbox and assign ``item_ids`` to the first, in one transaction. When the
        first is already queued (same subscription, channel, kind and period), nothing is written and
        ``False`` is returned: one digest per period."""
        return self.queue_many([(rows, item_ids)])[0]

    def queue_many(self, batch: Sequence[tuple[Sequence[dict[str, Any]], Sequence[str]]]) -> list[bool]:
        """:meth:`queue` for several digests in one transaction (all or none); says of each whether it
        was queued (a digest whose period already has one is skipped)."""
        with self.engine.begin() as conn:
            return [bool(rows) and self._queue(conn, rows, item_ids) for rows, item_ids in batch]

    def _queue(self, conn: Any, rows: Sequence[dict[str, Any]], item_ids: Sequence[str]) -> bool:
        for n, row in enumerate(rows):
            done = conn.execute(self._insert(O).on_conflict_do_nothing().values(**row, created_at=_now(), attempts=0))
            if n == 0 and not done.rowcount:
                return False
        if item_ids:
            conn.execute(update(I).where(I.c.id.in_(list(item_ids)), I.c.outbox_id.is_(None))
                         .values(outbox_id=rows[0]["id"]))
        return True

    def has_period(self, subscription_id: str, channel: str, kind: str, period: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(O.c.id).where(
                O.c.subscription_id == subscription_id, O.c.channel == channel, O.c.kind == kind,
                O.c.period == period)).first() is not None

    @staticmethod
    def _outbox(row: Any) -> OutboxRow:
        m = dict(row._mapping)
        m["created_at"], m["sent_at"] = aware(m["created_at"]), aware(m["sent_at"])
        return OutboxRow(**m)

    def unsent(self, *, limit: int | None = None) -> list[OutboxRow]:
        q = select(O).where(O.c.sent_at.is_(None)).order_by(O.c.created_at, O.c.id)
        with self.engine.connect() as conn:
            return [self._outbox(r) for r in conn.execute(q if limit is None else q.limit(limit))]

    def mark_sent(self, outbox_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(O).where(O.c.id == outbox_id, O.c.sent_at.is_(None))
                         .values(sent_at=_now(), attempts=O.c.attempts + 1, last_error=None))

    def mark_failed(self, outbox_id: str, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(O).where(O.c.id == outbox_id).values(attempts=O.c.attempts + 1,
                                                                     last_error=error[:500]))

    def recent(self, *, limit: int = 50) -> list[OutboxRow]:
        """The latest messages, sent or waiting, newest first."""
        q = select(O).order_by(O.c.created_at.desc(), O.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [self._outbox(r) for r in conn.execute(q)]

    def outbox_of(self, subscription_id: str) -> list[OutboxRow]:
        q = select(O).where(O.c.subscription_id == subscription_id).order_by(O.c.created_at, O.c.id)
        with self.engine.connect() as conn:
            return [self._outbox(r) for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def n(table: Any, *where: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

            return {"subscriptions": n(S), "pending_confirmation": n(S, S.c.status == "pending"),
                    "waiting_items": n(I, and_(I.c.outbox_id.is_(None), I.c.dismissed_at.is_(None))),
                    "unsent": n(O, O.c.sent_at.is_(None)), "sent": n(O, O.c.sent_at.is_not(None))}

    # --- watermark -----------------------------------------------------------------------------

    def watermark(self) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(tables.alert_state.c.value)
                                 .where(tables.alert_state.c.key == "resources_seen")).scalar()
        return datetime.fromisoformat(value) if value else None

    def set_watermark(self, stamp: datetime) -> None:
        stmt = self._insert(tables.alert_state).values(key="resources_seen", value=stamp.isoformat())
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stamp.isoformat()}))
