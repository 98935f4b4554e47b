"""The initiatives of the catalogue store: upsert by id, read, erase (a part of
:class:`matcher.store.Catalogue`)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from matcher import tables
from matcher._store_base import NotFoundError, StoreBase, content_hash
from matcher.schemas import Initiative

__all__ = ["ANONYMOUS_PREFIX", "InitiativeRecords"]

log = logging.getLogger("maillage.store")

ANONYMOUS_PREFIX = "anonyme-"
"""What an erased initiative's outcomes and audit entries carry instead of its id: this prefix and 16
random hex digits, drawn at erasure and kept nowhere else (so the label cannot be linked back)."""


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
        """Erase an initiative with :meth:`erase_initiatives` (the store's part of an erasure)."""
        self.erase_initiatives([initiative_id])

    def erase_initiatives(self, initiative_ids: Sequence[str]) -> dict[str, str]:
        """Erase initiatives from the database, in one transaction, and return ``{id: pseudonym}``.

        The rows go; their outcomes stay as anonymous labels (training and the acceptance counts keep
        them) under a random pseudonym, with a new id and without their free-text reason; audit
        entries about them carry the same pseudonym. Unknown ids raise :class:`NotFoundError` before
        anything is erased. On SQLite the freed pages are then wiped (``secure_delete``, ``VACUUM``)
        and the WAL checkpointed and truncated, so the text is in no byte of the files.
        """
        ids = list(dict.fromkeys(initiative_ids))
        t, a = tables.initiatives, tables.audit_log
        with self.engine.begin() as conn:
            found = {r.id for r in conn.execute(select(t.c.id).where(t.c.id.in_(ids)))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError("initiative", missing[0])
            pseudonyms = {i: ANONYMOUS_PREFIX + secrets.token_hex(8) for i in ids}
            conn.execute(t.delete().where(t.c.id.in_(ids)))
            self._delete_alerts(conn, ids)
            self._anonymise_outcomes(conn, pseudonyms)
            for iid, pseudo in pseudonyms.items():
                conn.execute(update(a).where(a.c.target_id == iid).values(target_id=pseudo))
        self.wipe_freed_pages()
        return pseudonyms

    @staticmethod
    def _delete_alerts(conn: Connection, ids: list[str]) -> None:
        """The alert subscriptions that follow erased initiatives go in the same transaction, with what
        they were told and every message to them (the outbox holds their address)."""
        subs = tables.alert_subscriptions
        following = select(subs.c.id).where(subs.c.initiative_id.in_(ids)).scalar_subquery()
        conn.execute(tables.alert_items.delete().where(tables.alert_items.c.subscription_id.in_(following)))
        conn.execute(tables.alert_outbox.delete().where(tables.alert_outbox.c.subscription_id.in_(following)))
        conn.execute(subs.delete().where(subs.c.initiative_id.in_(ids)))

    @staticmethod
    def _anonymise_outcomes(conn: Connection, pseudonyms: dict[str, str]) -> None:
        o = tables.outcomes
        rows = conn.execute(select(o.c.seq, o.c.initiative_id, o.c.data).where(o.c.initiative_id.in_(list(pseudonyms))))
        for row in rows.all():
            pseudo = pseudonyms[row.initiative_id]
            new_id = "o-" + ANONYMOUS_PREFIX + secrets.token_hex(12)
            data = {**row.data, "id": new_id, "initiative_id": pseudo, "reason": None}
            conn.execute(update(o).where(o.c.seq == row.seq).values(id=new_id, initiative_id=pseudo, data=data))

    def wipe_freed_pages(self) -> None:
        """SQLite: rewrite the file without its freed pages (``VACUUM``) and empty the WAL into it
        (``wal_checkpoint(TRUNCATE)``), so an erased text survives in no byte of either file. A failure
        (another process holding a long read) is logged: the rows are gone and ``secure_delete`` has
        already zeroed their pages; the next erasure wipes again. PostgreSQL: nothing here (a
        ``DELETE`` leaves dead tuples until ``VACUUM``, see docs/privacy.md)."""
        if self.engine.dialect.name != "sqlite":
            return
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception as exc:  # the erasure itself is committed; this is its clean-up
            log.warning("catalogue: freed pages not wiped after an erasure (%s); secure_delete zeroed them", exc)

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

    def initiatives_from_source(self, prefix: str) -> list[Initiative]:
        """The initiatives whose source is ``prefix`` or starts with ``prefix:`` (``widget``: every
        portal's submissions, ``widget:<key name>``)."""
        t = tables.initiatives
        q = select(t.c.data).where((t.c.source == prefix) | t.c.source.startswith(prefix + ":", autoescape=True))
        with self.engine.connect() as conn:
            return self._load(Initiative, conn.execute(q.order_by(t.c.id)))

    def initiatives_with_outcomes(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that have at least one outcome (a decision, a pin or an exclusion)."""
        o = tables.outcomes
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 900):
                chunk = list(ids[start : start + 900])
                found.update(r[0] for r in conn.execute(select(o.c.initiative_id).where(o.c.initiative_id.in_(chunk))
                                                        .distinct()))
        return found
