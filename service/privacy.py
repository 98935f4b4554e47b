"""The service's side of personal data (issue 19): erasing initiatives from every face (API, console,
``maillage forget``, a citizen's signed link), applying the retention period, and the signed deletion
links that mails carry.

Every erasure goes through :func:`erase`: the running worker's :meth:`Engine.forget_initiatives
<service.engine.Engine.forget_initiatives>` when there is one, else
:func:`matcher.erasure.erase_initiatives` directly (the CLI; running workers notice through the audit
log and drop their copies). Each erased initiative leaves one audit entry naming its pseudonym only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from indexes.cache import EmbeddingCache
from matcher.erasure import ErasureReport, erase_initiatives
from matcher.retention import Expiry, expiring
from matcher.store import Catalogue
from service.audit import record
from service.keys import ApiKey
from service.settings import Settings

if TYPE_CHECKING:
    from service.engine import Engine

__all__ = ["DELETION_LINK_DAYS", "DELETION_PATH", "RetentionRun", "deletion_link", "deletion_target", "erase",
           "expiring_soon", "run_retention"]

DELETION_PATH = "/suppression"
DELETION_LINK_DAYS = 400
"""How long a deletion link stays valid: longer than the default retention, so any mail's link works
as long as the project can still be stored."""


def erase(settings: Settings, store: Catalogue, ids: Sequence[str], who: ApiKey | str, *,
          engine: Engine | None = None, reason: str = "request") -> ErasureReport:
    """Erase initiatives everywhere and audit it (one ``initiative.erase`` entry per id, under its
    pseudonym; ``reason``: ``request`` or ``retention``). Unknown ids: ``NotFoundError``, nothing erased."""
    if engine is not None:
        report = engine.forget_initiatives(ids)
    else:
        cache = EmbeddingCache(settings.cache_path) if settings.cache_path.is_file() else None
        report = erase_initiatives(store, ids, cache=cache, index_root=settings.index_dir)
    for pseudonym in report.pseudonyms.values():
        record(store, who, "initiative.erase", target_kind="initiative", target_id=pseudonym,
               detail={"reason": reason, **report.counts()})
    return report


@dataclass(frozen=True)
class RetentionRun:
    """What a retention run found expired and, unless it was a dry run, erased."""

    expired: list[Expiry]
    report: ErasureReport | None


def run_retention(settings: Settings, store: Catalogue, who: ApiKey | str, *, engine: Engine | None = None,
                  dry_run: bool = False, now: datetime | None = None) -> RetentionRun:
    """Erase the widget submissions without follow-up older than ``MAILLAGE_RETENTION_MONTHS``
    (:func:`matcher.retention.expiring`), through :func:`erase`; ``dry_run`` only lists them."""
    due = expiring(store, months=settings.retention_months, now=now or datetime.now(UTC))
    report = None
    if due and not dry_run:
        report = erase(settings, store, [e.initiative.id for e in due], who, engine=engine, reason="retention")
    if not dry_run:
        record(store, who, "retention.run", detail={"expired": len(due), "months": settings.retention_months})
    return RetentionRun(due, report)


# --- signed deletion links ----------------------------------------------------------------------------


def _key(settings: Settings) -> bytes:
    from service.web.session import server_secret  # here: service.web's pages import this module

    return hashlib.sha256(b"maillage-deletion-link\0" + server_secret(settings)).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deletion_link(settings: Settings, initiative_id: str, *, days: int = DELETION_LINK_DAYS,
                  now: float | None = None) -> str:
    """The address a mail gives a citizen to erase their project: ``MAILLAGE_PUBLIC_URL`` (a path from
    the root when unset) + ``/suppression/<token>``. The token names the initiative and an expiry,
    signed (HMAC-SHA256) with a key derived from the service's secret; opening it shows a confirmation
    page, and only the confirmation erases."""
    payload = _b64(json.dumps({"i": initiative_id, "e": int((now or time.time()) + days * 86400)}).encode())
    signature = _b64(hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest())
    base = (settings.public_url or "").rstrip("/")
    return f"{base}{DELETION_PATH}/{quote(payload)}.{signature}"


def deletion_target(settings: Settings, token: str, *, now: float | None = None) -> str | None:
    """The initiative id a deletion token names, or ``None`` when it is tampered with or expired."""
    if token.count(".") != 1 or len(token) > 1000:
        return None
    payload, signature = token.split(".")
    expected = _b64(hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        target, expiry = str(data["i"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    return target if expiry >= (now or time.time()) else None


def expiring_soon(settings: Settings, store: Catalogue, *, days: int = 30,
                  now: datetime | None = None) -> list[Expiry]:
    """The submissions that have expired or will within ``days`` (what the console shows)."""
    return expiring(store, months=settings.retention_months, now=now or datetime.now(UTC),
                    within=timedelta(days=days))
