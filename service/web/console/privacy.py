"""Personal data in the console: erasing an initiative, the submissions the retention period will
erase (« Données personnelles »), and, for admins, the audit log of staff actions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Request, Response

from matcher.store import NotFoundError
from service.keys import Role
from service.privacy import erase, expiring_soon
from service.web.console._common import ConsoleDep, FormDep, checked, console_router, not_found, pagination, redirect

__all__ = ["router"]

log = logging.getLogger("maillage.console")

router = console_router()

SOON_DAYS = 30
"""The console lists the submissions that have expired or will within this many days."""


@router.post("/initiatives/{initiative_id}/suppression")
def erase_initiative(request: Request, console: ConsoleDep, form: FormDep, initiative_id: str) -> Response:
    checked(request, console, form)
    engine = console.engine
    try:
        ini = engine.store.get_initiative(initiative_id)
    except NotFoundError:
        return not_found(console, "Initiative", initiative_id, "/console/initiatives")
    if form.get("confirm") != "oui":
        return console.page("error.html", 422, heading="Rien n'a été effacé", nav="initiatives",
                            message="Cochez la case de confirmation pour effacer cette initiative.",
                            back=f"/console/initiatives/{initiative_id}")
    report = erase(engine.settings, engine.store, [ini.id], console.key, engine=engine)
    log.info("console: %s erased an initiative (%s)", console.key.id, report.pseudonyms[ini.id])
    return redirect("/console/donnees?" + urlencode({"efface": report.pseudonyms[ini.id]}))


@router.get("/donnees")
def personal_data(console: ConsoleDep, efface: str = "", page: int = 1) -> Response:
    engine = console.engine
    now = datetime.now(UTC)
    due = expiring_soon(engine.settings, engine.store, days=SOON_DAYS, now=now)
    admin = console.key.role is Role.admin
    page = max(1, min(page, 100_000))
    entries, total = engine.store.audit_page(offset=(page - 1) * 25, limit=25) if admin else ([], 0)
    done = (f"Initiative effacée de toutes les copies ; le journal la nomme désormais « {efface[:40]} »."
            if efface else None)
    return console.page("personal_data.html", nav="donnees", due=due, now=now, soon_days=SOON_DAYS,
                        months=engine.settings.retention_months, admin=admin, entries=entries, done=done,
                        **pagination("/console/donnees", {}, page, total))
