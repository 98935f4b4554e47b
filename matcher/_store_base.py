"""What every part of the catalogue store shares: its errors, the content hash, the engine and the
upsert by id. :class:`matcher.store.Catalogue` is the public face; its record families live in
``_store_initiatives`` and ``_store_outcomes``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

__all__ = ["NotFoundError", "StoreBase", "StoreError", "aware", "content_hash", "sqlite_url"]

M = TypeVar("M", bound=BaseModel)


class StoreError(RuntimeError):
    """The catalogue database cannot be opened or written (message says which and why)."""


# What each kind of record is called in French, with the article its negation takes.
_FRENCH_KIND = {"initiative": "aucune initiative", "resource": "aucune ressource", "provider": "aucun financeur",
                "active API key": "aucune clé d'API active", "outcome": "aucune décision"}


class NotFoundError(KeyError):
    """An id that the catalogue does not hold. ``what`` stays a machine code (``"resource"``); the
    message is French: « aucune ressource n'a l'identifiant 'x' »."""

    def __init__(self, what: str, item_id: str) -> None:
        none = _FRENCH_KIND.get(what, f"aucun enregistrement ({what})")
        super().__init__(f"{none} n'a l'identifiant {item_id!r}")
        self.what = what
        self.item_id = item_id

    def __str__(self) -> str:
        return str(self.args[0])


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


# Fields added after records were first stored, with the value they take while unset: such a record
# hashes as it did before the field existed, so adding a field never makes old records look edited.
_ADDED_LATER: dict[str, object] = {
    "contact_email": None,
    "contact": None,
    "eligibility_text": None,
    "perimeter_text": None,
    "source_refs": [],
    "non_cumulable_with": [],
    "cumulation_scope": None,
    "cumulation_text": None,
}


def content_hash(record: BaseModel) -> str:
    """The hash the store keeps for a record (also the service's ETag)."""
    # Timestamps are excluded so that re-importing identical content is recognised as unchanged.
    data = record.model_dump(mode="json", exclude={"created_at", "updated_at", "recorded_at"})
    for added, unset in _ADDED_LATER.items():  # fields added later hash as before while unset
        if added in data and data[added] == unset:
            data.pop(added)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def aware(stamp: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


class StoreBase:
    """The engine and the generic row helpers that each part of :class:`~matcher.store.Catalogue` uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self, table: Table) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert or update ``rows`` by id; unchanged rows (same content hash) are left alone.

        Returns ``(inserted, updated)``.
        """
        if not rows:
            return 0, 0
        ids = [r["id"] for r in rows]
        existing = dict(
            conn.execute(select(table.c.id, table.c.content_hash).where(table.c.id.in_(ids))).all()
        )
        changed = [r for r in rows if existing.get(r["id"]) != r["content_hash"]]
        if not changed:
            return 0, 0
        stmt = self._insert(table)
        cols = {c: getattr(stmt.excluded, c) for c in changed[0] if c != "id"}
        conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.id], set_=cols), changed)
        inserted = sum(1 for r in changed if r["id"] not in existing)
        return inserted, len(changed) - inserted

    @staticmethod
    def _load(model: type[M], rows: Iterable[Any]) -> list[M]:
        return [model.model_validate(r.data) for r in rows]
