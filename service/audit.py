"""Recording staff actions in the audit log (:mod:`matcher._store_audit`): who, with which role, did
what to which record, with counts. Faces call :func:`record` after the action succeeded; a failure to
record is logged and does not undo the action (the action is already committed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from matcher.store import AuditEntry, Catalogue
from service.keys import ApiKey

if TYPE_CHECKING:
    from matcher.importers import ImportReport

__all__ = ["CITIZEN", "CLI", "SYSTEM", "import_detail", "principal_of", "record"]

log = logging.getLogger("maillage.audit")

CLI = "cli"
"""The admin command line (``maillage …``): the host's permissions, no key."""
CITIZEN = "citizen"
"""A citizen, through a signed deletion link."""
SYSTEM = "system"


def principal_of(key: ApiKey) -> tuple[str, str]:
    """``(principal, role)`` of an API key (or a console session opened with it)."""
    return f"key:{key.id} {key.name}"[:200], key.role.value


def record(store: Catalogue, who: ApiKey | str, action: str, *, target_kind: str | None = None,
           target_id: str | None = None, detail: Mapping[str, int | float | bool | str | None] | None = None) -> None:
    """Append one entry; ``who`` is a key or one of :data:`CLI`, :data:`CITIZEN`, :data:`SYSTEM`."""
    principal, role = principal_of(who) if isinstance(who, ApiKey) else (who, None)
    entry = AuditEntry(action=action, principal=principal, role=role, target_kind=target_kind,
                       target_id=target_id, detail=dict(detail or {}))
    try:
        store.record_audit([entry])
    except Exception:  # the action is committed; a lost entry is logged, never a failed request
        log.exception("audit: %s by %s on %s %s not recorded", action, principal, target_kind, target_id)


def import_detail(report: ImportReport) -> dict[str, int | float | bool | str | None]:
    """An import's counts, per record kind (``read_resources``…) and rejected rows."""
    detail: dict[str, int | float | bool | str | None] = {"rejected": report.rejected}
    for name, counts in (("read", report.read), ("inserted", report.inserted), ("updated", report.updated)):
        detail.update({f"{name}_{kind}": n for kind, n in counts.items()})
    return detail
