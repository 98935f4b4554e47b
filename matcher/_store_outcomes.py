"""The append-only outcome log of the catalogue store (a part of :class:`matcher.store.Catalogue`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from sqlalchemy import func, select

from matcher import tables
from matcher._store_base import StoreBase
from matcher.schemas import Decision, Outcome

__all__ = ["OutcomeLog"]


class OutcomeLog(StoreBase):
    """Outcomes: only ever appended; an id already in the log is skipped. The one rewrite: an erased
    initiative's outcomes are anonymised (``InitiativeRecords.erase_initiatives``)."""

    def append_outcomes(self, items: Sequence[Outcome]) -> int:
        """Append outcomes; an id already in the log is skipped (so re-imports add nothing).

        Returns the number of outcomes actually appended. Outcomes without an id get one derived
        from their content and time, so a retried identical request is not counted twice.
        """
        rows = []
        for o in items:
            oid = o.id or "o-" + hashlib.sha256(
                o.model_dump_json(exclude={"id"}).encode()
            ).hexdigest()[:24]
            rows.append(
                {
                    "id": oid,
                    "initiative_id": o.initiative_id,
                    "resource_id": o.resource_id,
                    "decision": o.decision.value,
                    "amount": o.amount,
                    "source": o.source,
                    "occurred_at": o.occurred_at,
                    "recorded_at": o.recorded_at,
                    "data": o.model_copy(update={"id": oid}).model_dump(mode="json"),
                }
            )
        if not rows:
            return 0
        stmt = self._insert(tables.outcomes).on_conflict_do_nothing(index_elements=["id"])
        with self.engine.begin() as conn:
            before = conn.execute(select(func.count()).select_from(tables.outcomes)).scalar_one()
            conn.execute(stmt, rows)
            after = conn.execute(select(func.count()).select_from(tables.outcomes)).scalar_one()
        return int(after - before)

    def outcomes(
        self, *, initiative_id: str | None = None, resource_id: str | None = None, offset: int = 0,
        limit: int | None = None,
    ) -> list[Outcome]:
        """Outcomes in the order they were recorded, of one initiative and/or resource (every one when
        neither is given), from ``offset`` and at most ``limit`` of them (all when ``None``)."""
        t = tables.outcomes
        q = select(t.c.data).order_by(t.c.seq).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        if initiative_id is not None:
            q = q.where(t.c.initiative_id == initiative_id)
        if resource_id is not None:
            q = q.where(t.c.resource_id == resource_id)
        with self.engine.connect() as conn:
            return self._load(Outcome, conn.execute(q))

    def overrides_for(self, initiative_id: str) -> dict[str, Outcome]:
        """Staff pins and exclusions for an initiative: the latest pin/exclude decision per resource
        (a later pin cancels an exclusion and the reverse)."""
        out: dict[str, Outcome] = {}
        for o in self.outcomes(initiative_id=initiative_id):
            if o.decision in (Decision.pinned, Decision.excluded):
                out[o.resource_id] = o
        return out

    def iter_outcomes(self, batch: int = 5000) -> Iterator[Outcome]:
        t = tables.outcomes
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(select(t.c.data).order_by(t.c.seq))
            for row in result:
                yield Outcome.model_validate(row.data)

    def outcomes_signature(self) -> str:
        """Changes whenever an outcome other than a staff pin or exclusion is appended.

        Pins and exclusions act at once through :meth:`overrides_for`; they reach the learned history
        at the next snapshot build, so recording one does not make the published snapshot stale.
        """
        t = tables.outcomes
        overrides = (Decision.pinned.value, Decision.excluded.value)
        with self.engine.connect() as conn:
            n, last = conn.execute(select(func.count(), func.max(t.c.seq)).where(t.c.decision.not_in(overrides))).one()
        return f"{n}:{last}"
