"""The audit log of staff actions, for admins: who did what to which record, newest first."""

from typing import Annotated

from fastapi import Query

from matcher.store import AuditEntry
from service.api.deps import AdminKey, EngineDep
from service.api.routing import v1_router
from service.api_models import Page

__all__ = ["router"]

router = v1_router("audit")


@router.get("/audit", response_model=Page[AuditEntry], summary="The audit log of staff actions (newest first)",
            description="Decisions, pins, exclusions, exports, deletions and erasures, imports, retention runs, "
                        "rebuilds and promotions: the key (id and name) and its role, the action, the target's id "
                        "and counts, never a text. An erased initiative appears under its pseudonym.")
def audit(engine: EngineDep, _: AdminKey, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          action: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z._-]+$",
                                              description="only this action (`initiative.erase`…)")] = None,
          ) -> Page[AuditEntry]:
    items, total = engine.store.audit_page(offset=offset, limit=limit, action=action)
    nxt = offset + len(items)
    return Page[AuditEntry](items=items, total=total, offset=offset, limit=limit,
                            next_offset=nxt if nxt < total else None)
