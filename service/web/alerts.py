"""The pages that the links of alert messages open, under ``/alertes`` (no key, no session: each link is
signed, :mod:`service.alerts.links`).

A GET never changes anything — mail scanners follow links — it shows what the button will do; the
button POSTs. The one exception is RFC 8058's one-click unsubscribe: a POST of
``List-Unsubscribe=One-Click`` to the ``List-Unsubscribe`` address unsubscribes at once. Every answer
is in French; an invalid or expired link says so and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response

from matcher.schemas import Decision, Outcome
from matcher.store import NotFoundError
from service.alerts import AlertStore, links_for
from service.alerts.feeds import atom_feed
from service.alerts.links import PATHS, Action, Links
from service.alerts.metrics import AlertCounters
from service.engine import Engine
from service.web.render import render

__all__ = ["router"]

log = logging.getLogger("maillage.alerts")
router = APIRouter(include_in_schema=False)

_ASK = {
    "confirm": ("Confirmer vos alertes", "Vous recevrez les nouvelles ressources qui correspondent à « {label} ».",
                "Confirmer mes alertes"),
    "unsubscribe": ("Se désabonner", "Vous ne recevrez plus les alertes « {label} ».", "Me désabonner"),
    "dismiss": ("Pas pertinent", "« {title} » ne vous sera plus proposé pour « {label} », et l'équipe saura "
                "que cette ressource ne convenait pas.", "Confirmer : pas pertinent"),
    "erase": ("Supprimer mes données", "Vos alertes et le projet « {label} » que vous avez déposé seront "
              "supprimés définitivement.", "Supprimer mes données"),
}


def _page(request: Request, heading: str, message: str, status: int = 200, *, bad: bool = False,
          **more: str) -> Response:
    return render("alert_page.html", status, theme=request.app.state.dsfr, heading=heading, message=message, bad=bad,
                  detail=more.get("detail", ""), action=more.get("action", ""), token=more.get("token", ""),
                  button=more.get("button", ""))


def _invalid(request: Request) -> Response:
    return _page(request, "Lien non valide", "Ce lien n'est pas valide ou a expiré : rien n'a été fait.", 400, bad=True)


def _gone(request: Request) -> Response:
    return _page(request, "Alertes introuvables", "Ces alertes n'existent plus : vous n'en recevrez aucune.")


def _state(request: Request) -> tuple[Engine, AlertStore, Links, AlertCounters]:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise RuntimeError("service starting")
    links = links_for(request.app.state.settings)
    return engine, AlertStore(engine.store.engine), links, request.app.state.metrics.alerts


async def _token(request: Request) -> str:
    if request.query_params.get("t"):
        return request.query_params["t"]
    body = (await request.body()).decode("utf-8", errors="replace")[:4000]
    return dict(parse_qsl(body, keep_blank_values=True)).get("t", "")


def _ask(request: Request, action: Action) -> Response:
    _, alerts, links, _ = _state(request)
    token = request.query_params.get("t", "")
    read = links.read(token, action)
    if read is None:
        return _invalid(request)
    try:
        sub = alerts.get(read[0])
        title = alerts.item(read[1]).data.get("title", "") if action == "dismiss" and read[1] else ""
    except NotFoundError:
        return _gone(request)
    heading, text, button = _ASK[action]
    return _page(request, heading, "", detail=text.format(label=sub.label, title=title), action=PATHS[action],
                 token=token, button=button)


@router.get(PATHS["confirm"])
def ask_confirm(request: Request) -> Response:
    return _ask(request, "confirm")


@router.get(PATHS["unsubscribe"])
def ask_unsubscribe(request: Request) -> Response:
    return _ask(request, "unsubscribe")


@router.get(PATHS["dismiss"])
def ask_dismiss(request: Request) -> Response:
    return _ask(request, "dismiss")


@router.get(PATHS["erase"])
def ask_erase(request: Request) -> Response:
    return _ask(request, "erase")


@router.post(PATHS["confirm"])
async def confirm(request: Request) -> Response:
    _, alerts, links, counters = _state(request)
    read = links.read(await _token(request), "confirm")
    if read is None:
        return _invalid(request)
    try:
        sub = alerts.confirm(read[0])
    except NotFoundError:
        return _gone(request)
    counters.actions.labels("confirm").inc()
    return _page(request, "Alertes confirmées",
                 f"C'est fait : vous recevrez les nouvelles ressources pour « {sub.label} ».")


@router.post(PATHS["unsubscribe"])
async def unsubscribe(request: Request) -> Response:
    """The button of the page, or a one-click POST (RFC 8058) from the reader's mail client."""
    _, alerts, links, counters = _state(request)
    read = links.read(await _token(request), "unsubscribe")
    if read is None:
        return _invalid(request)
    if alerts.delete([read[0]]):
        counters.actions.labels("unsubscribe").inc()
        log.info("alerts: subscription %s unsubscribed from its message", read[0])
    return _page(request, "Désabonnement effectué", "Vous ne recevrez plus ces alertes ; elles ont été supprimées.")


@router.post(PATHS["dismiss"])
async def dismiss(request: Request) -> Response:
    """« Pas pertinent »: the item leaves the feed, and for a followed initiative the catalogue records a
    ``dismissed`` outcome (a training label)."""
    engine, alerts, links, counters = _state(request)
    read = links.read(await _token(request), "dismiss")
    if read is None or read[1] is None:
        return _invalid(request)
    try:
        sub, item = alerts.get(read[0]), alerts.item(read[1])
    except NotFoundError:
        return _gone(request)
    if alerts.dismiss(item.id):
        counters.actions.labels("dismiss").inc()
        if sub.initiative_id is not None:
            engine.store.append_outcomes([Outcome(
                id=f"alert-{item.id}", initiative_id=sub.initiative_id, resource_id=item.resource_id,
                decision=Decision.dismissed, reason="« pas pertinent » depuis une alerte", source="alert",
                actor=sub.owner, occurred_at=datetime.now(UTC))])
    return _page(request, "Merci",
                 f"« {item.data.get('title', '')} » est noté comme pas pertinent pour « {sub.label} ».")


@router.post(PATHS["erase"])
async def erase(request: Request) -> Response:
    """A citizen erases their data: their subscriptions, then the initiative they submitted (through the
    engine's deletion, which reaches its other copies)."""
    engine, alerts, links, counters = _state(request)
    read = links.read(await _token(request), "erase")
    if read is None:
        return _invalid(request)
    try:
        sub = alerts.get(read[0])
    except NotFoundError:
        return _gone(request)
    if sub.owner != "citizen" or sub.initiative_id is None:
        return _invalid(request)
    alerts.delete_for_initiative(sub.initiative_id)
    with contextlib.suppress(NotFoundError):
        engine.delete_initiative(sub.initiative_id)
    counters.actions.labels("erase").inc()
    log.info("alerts: citizen data of initiative %s erased from an alert link", sub.initiative_id)
    return _page(request, "Données supprimées", "Vos alertes et le projet que vous aviez déposé ont été supprimés.")


@router.get(PATHS["feed"])
def feed(request: Request) -> Response:
    _, alerts, links, _ = _state(request)
    token = request.query_params.get("t", "")
    read = links.read(token, "feed")
    if read is None:
        return _invalid(request)
    try:
        sub = alerts.get(read[0])
    except NotFoundError:
        return Response("Ces alertes n'existent plus.", 404, media_type="text/plain; charset=utf-8")
    body = atom_feed(sub, alerts.items(sub.id), self_url=links.url("feed", sub.id), today=datetime.now(UTC).date())
    return Response(body, media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"})


def install(app: FastAPI) -> None:
    app.include_router(router)
