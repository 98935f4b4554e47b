"""How long a citizen's widget submission is kept without staff follow-up (issue 19).

A project submitted from the widget (source ``widget`` or ``widget:<portal>``, stored with consent)
that staff never followed up expires ``months`` after it was submitted. Followed up means: staff
recorded a decision, a pin or an exclusion on it (any outcome), or edited it (its ``updated_at``
later than its submission by more than a minute, or its source changed by the edit). An expired
submission is erased through :func:`matcher.erasure.erase_initiatives`, the same path as a deletion.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from matcher.schemas import Initiative
from matcher.store import Catalogue

__all__ = ["EDIT_GRACE", "WIDGET_SOURCE", "Expiry", "expiring", "months_before"]

WIDGET_SOURCE = "widget"
EDIT_GRACE = timedelta(minutes=1)
"""An ``updated_at`` this close to ``created_at`` is the submission itself, not a staff edit."""


@dataclass(frozen=True)
class Expiry:
    """A widget submission without follow-up and the day it expires (``expires_at``)."""

    initiative: Initiative
    expires_at: datetime


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` moved back ``months`` calendar months (the day clamped to the month's length)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _followed_up(ini: Initiative, with_outcomes: set[str]) -> bool:
    return ini.id in with_outcomes or ini.updated_at - ini.created_at > EDIT_GRACE


def expiring(store: Catalogue, *, months: int, now: datetime, within: timedelta = timedelta(0)) -> list[Expiry]:
    """The widget submissions without follow-up that have expired at ``now`` (``within=0``) or will
    within ``within`` after it, oldest first."""
    if months < 1:
        raise ValueError(f"retention months must be at least 1, got {months}")
    submissions = store.initiatives_from_source(WIDGET_SOURCE)
    with_outcomes = store.initiatives_with_outcomes([i.id for i in submissions])
    horizon = months_before(now + within, months)
    out = [Expiry(i, _expires(i.created_at, months)) for i in submissions
           if i.created_at <= horizon and not _followed_up(i, with_outcomes)]
    return sorted(out, key=lambda e: (e.expires_at, e.initiative.id))


def _expires(created: datetime, months: int) -> datetime:
    total = created.year * 12 + created.month - 1 + months
    year, month = divmod(total, 12)
    day = min(created.day, calendar.monthrange(year, month + 1)[1])
    return created.replace(year=year, month=month + 1, day=day)
