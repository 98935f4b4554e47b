"""The audit log of staff actions (a part of :class:`matcher.store.Catalogue`).

Who pinned, excluded, decided, exported, deleted, imported, and when retention ran: each entry holds
the principal (an API key's id and name, ``cli``, ``citizen`` or ``system``), its role, the action, the
target's kind and id, and counts. Never a text: an entry cannot leak what a citizen wrote. When an
initiative is erased, its id in the log is replaced by the pseudonym its outcomes now carry
(:meth:`matcher._store_initiatives.InitiativeRecords.erase_initiatives`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select

from matcher import tables
from matcher._store_base import StoreBase, aware
from matcher.schemas import utcnow

__all__ = ["ERASING_ACTIONS", "AuditEntry", "AuditLog"]

ERASING_ACTIONS = ("initiative.erase", "retention.run")
"""Actions after which a worker must drop what it holds of erased initiatives (see ``erasure_mark``)."""

_Detail = int | float | bool | str | None


class AuditEntry(BaseModel):
    """One staff action. ``detail`` holds counts and machine codes only (short strings, no free text)."""

    model_config = ConfigDict(extra="forbid")

    seq: int | None = None
    at: datetime = Field(default_factory=utcnow)
    action: Annotated[str, StringConstraints(max_length=40)]
    principal: Annotated[str, StringConstraints(max_length=200)]
    role: Annotated[str, StringConstraints(max_length=20)] | None = None
    target_kind: Annotated[str, StringConstraints(max_length=20)] | None = None
    target_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    detail: dict[str, _Detail] = {}


class AuditLog(StoreBase):
    """The ``audit_log`` table: appended to, read by pages, pseudonymised on erasure."""

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        rows = [e.model_dump(exclude={"seq"}) for e in entries]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(tables.audit_log.insert(), rows)

    def audit_page(self, *, offset: int = 0, limit: int = 50,
                   action: str | None = None) -> tuple[list[AuditEntry], int]:
        """The newest entries first, from ``offset``, at most ``limit``; and how many there are."""
        t = tables.audit_log
        where: list[Any] = [] if action is None else [t.c.action == action]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
            rows = conn.execute(select(t).where(*where).order_by(t.c.seq.desc()).offset(offset).limit(limit))
            items = [AuditEntry.model_validate({**row._mapping, "at": aware(row.at)}) for row in rows]
        return items, int(total)

    def erasure_mark(self) -> int:
        """The seq of the latest erasing action (0 when none): a worker that sees it change drops what it
        holds of erased initiatives (the reverse index, a snapshot's history)."""
        t = tables.audit_log
        with self.engine.connect() as conn:
            found = conn.execute(select(func.max(t.c.seq)).where(t.c.action.in_(ERASING_ACTIONS))).scalar_one()
        return int(found or 0)
