"""Bounds on resources' numbers and dates: capacity at most 10^12, days between 1900 and 2199.

Records written before the bounds may hold values past them (a capacity of 309 digits once made
every match fail). They are brought inside: a capacity above the bound becomes the bound, a day
outside the range becomes unknown (null), and the row is marked changed so every worker's index
follows. Nothing else of the record changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MAX_CAPACITY = 10**12
_MIN_DAY, _MAX_DAY = date(1900, 1, 1), date(2199, 12, 31)
_DAYS = ("opens_at", "closes_at", "last_verified")


def _inside(data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` brought inside the bounds, or None when it already is."""
    fixed = dict(data)
    capacity = fixed.get("capacity")
    if isinstance(capacity, int) and capacity > _MAX_CAPACITY:
        fixed["capacity"] = _MAX_CAPACITY
    for name in _DAYS:
        value = fixed.get(name)
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                continue
            if not _MIN_DAY <= day <= _MAX_DAY:
                fixed[name] = None
    return fixed if fixed != data else None


def upgrade() -> None:
    from matcher._store_base import content_hash
    from matcher.schemas import Resource

    bind = op.get_bind()
    resources = sa.table("resources", sa.column("id", sa.String), sa.column("data", sa.JSON),
                         sa.column("closes_at", sa.Date), sa.column("content_hash", sa.String),
                         sa.column("deleted_at", sa.DateTime(timezone=True)),
                         sa.column("changed_at", sa.DateTime(timezone=True)))
    rows = bind.execute(sa.select(resources.c.id, resources.c.data, resources.c.deleted_at)).all()
    for rid, data, deleted_at in rows:
        fixed = _inside(data) if isinstance(data, dict) else None
        if fixed is None:
            continue
        values: dict[str, Any] = {"data": fixed, "changed_at": datetime.now(UTC),
                                  "closes_at": date.fromisoformat(fixed["closes_at"]) if fixed.get("closes_at")
                                  else None}
        if deleted_at is None:
            values["content_hash"] = content_hash(Resource.model_validate(fixed))
        bind.execute(sa.update(resources).where(resources.c.id == rid).values(**values))


def downgrade() -> None:
    pass  # the bounds only narrow what was stored; nothing to undo
