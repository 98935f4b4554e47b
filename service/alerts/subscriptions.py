"""What a subscription is: who follows what (an initiative, or a saved search), how often they hear of
it, and where (an e-mail address, a partner portal's webhook). Pure data and its validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from matcher._fields import EMAIL_PATTERN
from matcher.schemas import MatchQuery

__all__ = ["FREQUENCIES", "FREQUENCY_LABEL", "Frequency", "Owner", "Subscription", "period_of"]

Frequency = Literal["immediate", "weekly", "monthly"]
Owner = Literal["staff", "citizen"]
FREQUENCIES: tuple[Frequency, ...] = ("immediate", "weekly", "monthly")
FREQUENCY_LABEL: dict[str, str] = {"immediate": "dès qu'une ressource paraît", "weekly": "une fois par semaine",
                                   "monthly": "une fois par mois"}


class Subscription(BaseModel):
    """One subscription. Follows exactly one of ``initiative_id`` (a stored initiative, matched as the
    console matches it, with staff pins and exclusions) or ``query`` (a saved search: text, territory,
    legal form, stage, kinds, themes); is told through ``email``, ``webhook_url`` or both.

    A citizen's subscription follows the initiative they submitted from the widget (with consent), is
    told by e-mail only, and stays ``pending`` (nothing sent but the confirmation request) until they
    confirm from that e-mail: double opt-in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^sub-[0-9a-f]{16}$")]
    owner: Owner = "staff"
    initiative_id: str | None = None
    query: MatchQuery | None = None
    email: Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)] | None = None
    webhook_url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://[^\s]+$")] | None = None
    frequency: Frequency = "weekly"
    status: Literal["pending", "active"] = "active"
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    created_by: Annotated[str, StringConstraints(max_length=200)] = "staff"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    confirmed_at: datetime | None = None

    @model_validator(mode="after")
    def _one_target_and_a_channel(self) -> Subscription:
        if (self.initiative_id is None) == (self.query is None):
            raise ValueError("a subscription follows exactly one of initiative_id or query")
        if self.email is None and self.webhook_url is None:
            raise ValueError("a subscription needs an e-mail address, a webhook URL, or both")
        if self.owner == "citizen" and (self.initiative_id is None or self.email is None or self.webhook_url):
            raise ValueError("a citizen's subscription follows their initiative and is told by e-mail only")
        return self

    @property
    def confirmed(self) -> bool:
        """Whether anything but a confirmation request may be sent."""
        return self.status == "active"


def period_of(frequency: str, moment: datetime) -> str:
    """The digest period ``moment`` falls in: ``2026-W49`` (ISO week) for weekly, ``2026-12`` for monthly;
    an immediate subscription's period is its batch (``moment`` to the microsecond). At most one digest
    is made per (subscription, period)."""
    if frequency == "weekly":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if frequency == "monthly":
        return f"{moment:%Y-%m}"
    return moment.astimezone(UTC).strftime("i-%Y%m%dT%H%M%S%fZ")


def next_period_start(frequency: str, moment: datetime) -> date:
    """The first day of the period after ``moment``'s (what the console shows as the next digest)."""
    day = moment.date()
    if frequency == "weekly":
        return day + timedelta(days=7 - day.weekday())
    if frequency == "monthly":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return day
