"""Shortlists exported as CSV (one initiative's, or all of them), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from fastapi import Response
from fastapi.responses import StreamingResponse

from matcher.labels import DECISION, KIND
from matcher.schemas import Outcome, Resource
from matcher.store import NotFoundError
from service.audit import record
from service.web.console._common import OVERRIDES, SHORTLIST, Console, ConsoleDep, console_router, not_found

__all__ = ["router"]

router = console_router()


CSV_COLUMNS = ["initiative_id", "initiative", "territoire", "resource_id", "ressource", "financeur", "type", "statut",
               "motif", "par", "date", "cloture", "lien"]


def _shortlist(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Pairs whose latest decision (pins and exclusions aside) keeps them on the shortlist."""
    latest: dict[tuple[str, str], Outcome] = {}
    for o in outcomes:
        if o.decision not in OVERRIDES:
            latest[(o.initiative_id, o.resource_id)] = o
    return [o for o in latest.values() if o.decision in SHORTLIST]


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(console: Console, rows: list[Outcome], filename: str) -> Response:
    store = console.engine.store
    inis = store.get_initiatives(sorted({o.initiative_id for o in rows}))
    providers = {p.id: p.name for p in store.providers()}
    resources: dict[str, Resource | None] = {}
    for o in rows:
        if o.resource_id not in resources:
            try:
                resources[o.resource_id] = store.get_resource(o.resource_id, include_deleted=True)
            except NotFoundError:
                resources[o.resource_id] = None

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for o in sorted(rows, key=lambda o: (o.initiative_id, o.occurred_at)):
            ini, res = inis.get(o.initiative_id), resources[o.resource_id]
            writer.writerow([_cell(v) for v in (
                o.initiative_id, ini.title if ini else "", ini.territory if ini else "", o.resource_id,
                res.title if res else "", providers.get(res.provider_id, res.provider_id) if res else "",
                KIND.get(res.kind, res.kind) if res else "", DECISION[o.decision], o.reason or "", o.actor,
                o.occurred_at.date().isoformat(), res.closes_at.isoformat() if res and res.closes_at else "",
                res.url if res and res.url else "",
            )])
        yield "\ufeff" + buffer.getvalue()  # the BOM makes spreadsheets read UTF-8 accents right

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })


@router.get("/initiatives/{initiative_id}/preselection.csv")
def shortlist_csv(console: ConsoleDep, initiative_id: str) -> Response:
    try:
        ini = console.engine.store.get_initiative(initiative_id)
    except NotFoundError:
        return not_found(console, "Initiative", initiative_id, "/console/initiatives")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ini.id)
    rows = _shortlist(console.engine.store.outcomes(initiative_id=ini.id))
    record(console.engine.store, console.key, "export.shortlist", target_kind="initiative", target_id=ini.id,
           detail={"rows": len(rows)})
    return _csv(console, rows, f"preselection-{safe}.csv")


@router.get("/preselections.csv")
def all_shortlists_csv(console: ConsoleDep) -> Response:
    rows = _shortlist(console.engine.store.iter_outcomes())
    record(console.engine.store, console.key, "export.shortlists", detail={"rows": len(rows)})
    return _csv(console, rows, "preselections.csv")
