"""The initiatives of the catalogue store: upsert by id, read, erase (a part of
:class:`matcher.store.Catalogue`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from matcher import tables
from matcher._store_base import NotFoundError, StoreBase, content_hash
from matcher.schemas import Initiative

__all__ = ["InitiativeRecords"]


class InitiativeRecords(StoreBase):
    """Initiatives: carried by citizens, erased on request with their personal data."""

    def upsert_initiatives(self, items: Sequence[Initiative]) -> tuple[int, int]:
        rows = [
            {
                "id": i.id,
                "title": i.title,
                "territory": i.territory,
                "source": i.source,
                "data": i.model_dump(mode="json"),
                "content_hash": content_hash(i),
                "updated_at": i.updated_at,
            }
            for i in items
        ]
        with self.engine.begin() as conn:
            return self._upsert(conn, tables.initiatives, rows)

    def initiatives(self, *, source: str | None = None, limit: int | None = None) -> list[Initiative]:
        t = tables.initiatives
        q = select(t.c.data).order_by(t.c.id)
        if source is not None:
            q = q.where(t.c.source == source)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return self._load(Initiative, conn.execute(q))

    def get_initiative(self, initiative_id: str) -> Initiative:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tables.initiatives.c.data).where(tables.initiatives.c.id == initiative_id)
            ).first()
        if row is None:
            raise NotFoundError("initiative", initiative_id)
        return Initiative.model_validate(row.data)

    def delete_initiative(self, initiative_id: str) -> None:
        """Erase an initiative (its personal data goes with it); outcomes keep only its id as a label.
        The alert subscriptions that follow it go in the same transaction, with what they were told and
        every message to them (the outbox holds their address)."""
        t, subs = tables.initiatives, tables.alert_subscriptions
        with self.engine.begin() as conn:
            if conn.execute(t.delete().where(t.c.id == initiative_id)).rowcount == 0:
                raise NotFoundError("initiative", initiative_id)
            following = select(subs.c.id).where(subs.c.initiative_id == initiative_id).scalar_subquery()
            conn.execute(tables.alert_items.delete().where(tables.alert_items.c.subscription_id.in_(following)))
            conn.execute(tables.alert_outbox.delete().where(tables.alert_outbox.c.subscription_id.in_(following)))
            conn.execute(subs.delete().where(subs.c.initiative_id == initiative_id))

    def get_initiatives(self, ids: Sequence[str]) -> dict[str, Initiative]:
        """The initiatives among ``ids`` that exist (unknown ids are absent from the result)."""
        t = tables.initiatives
        out: dict[str, Initiative] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 900):
                chunk = list(ids[start : start + 900])
                for row in conn.execute(select(t.c.data).where(t.c.id.in_(chunk))):
                    ini = Initiative.model_validate(row.data)
                    out[ini.id] = ini
        return out
