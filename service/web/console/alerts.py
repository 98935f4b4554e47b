"""The console's alerts page: every subscription (what it follows, how often, its state), the recent
sends of the outbox, a form to follow an initiative or a saved search, and, per subscription, its
frequency changed or the subscription ended."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast

from fastapi import Request, Response
from pydantic import ValidationError

from matcher import territory
from matcher.schemas import MatchQuery
from matcher.store import NotFoundError
from service.alerts import AlertStore
from service.alerts.subscribe import follow
from service.alerts.subscriptions import FREQUENCIES, FREQUENCY_LABEL, Frequency, next_period_start, period_of
from service.web.console._common import Console, ConsoleDep, FormDep, checked, console_router, redirect

__all__ = ["router"]

log = logging.getLogger("maillage.console")
router = console_router()
_DONE = {"cree": "Abonnement créé : ce qui correspond aujourd'hui est noté comme déjà connu.",
         "modifie": "Fréquence enregistrée.", "supprime": "Abonnement supprimé, avec ses alertes en attente."}


def _page(console: Console, status: int = 200, *, error: str | None = None, done: str | None = None,
          form: dict[str, str] | None = None) -> Response:
    alerts = AlertStore(console.engine.store.engine)
    subs, total = alerts.subscriptions(limit=500)
    waiting = alerts.pending()
    now = datetime.now(UTC)
    next_send = {}
    for s in subs:
        if s.id in waiting and s.frequency != "immediate" and alerts.has_period(
                s.id, "email" if s.email else "webhook", "digest", period_of(s.frequency, now)):
            next_send[s.id] = next_period_start(s.frequency, now)
    return console.page("alerts.html", status, nav="alertes", subs=subs, total=total, error=error, done=done,
                        waiting={sid: len(items) for sid, items in waiting.items()}, sends=alerts.recent(limit=30),
                        counts=alerts.counts(), frequencies=[(f, FREQUENCY_LABEL[f]) for f in FREQUENCIES],
                        next_send=next_send, form=form or {})


@router.get("/alertes")
def alerts_page(console: ConsoleDep, fait: str = "") -> Response:
    return _page(console, done=_DONE.get(fait))


def _query(form: dict[str, str]) -> MatchQuery:
    code = territory.parse_territory(form["territory"]).code if form.get("territory", "").strip() else None
    return MatchQuery.model_validate({"text": form.get("text", "").strip(), "territory": code,
                                      "legal_form": form.get("legal_form") or None, "stage": form.get("stage") or None,
                                      "kinds": [form["kind"]] if form.get("kind") else []})


@router.post("/alertes")
def create(request: Request, console: ConsoleDep, form: FormDep) -> Response:
    checked(request, console, form)
    engine = console.engine
    initiative_id = form.get("initiative_id", "").strip() or None
    frequency = cast(Frequency, form.get("frequency", "weekly"))
    try:
        if frequency not in FREQUENCIES:
            raise ValueError(f"fréquence inconnue « {frequency[:20]} »")
        query = None if initiative_id else _query(form)
        label = form.get("label", "").strip() or (engine.store.get_initiative(initiative_id).title if initiative_id
                                                  else query.text if query else "")
        with engine.lock.read():
            follow(AlertStore(engine.store.engine), engine.rec, engine.store, depth=engine.settings.alerts_depth,
                   label=label[:200], created_by=console.key.name[:200], frequency=frequency,
                   initiative_id=initiative_id, query=query, email=form.get("email", "").strip() or None,
                   webhook_url=form.get("webhook_url", "").strip() or None)
    except NotFoundError:
        return _page(console, 422, error=f"Rien n'a été créé. Initiative inconnue : « {initiative_id} ».", form=form)
    except (ValidationError, ValueError, territory.TerritoryError) as exc:
        why = "; ".join(str(e["msg"]) for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        return _page(console, 422, error=f"Rien n'a été créé. {why}", form=form)
    log.info("console: %s created a subscription", console.key.id)
    return redirect("/console/alertes?fait=cree")


@router.post("/alertes/{subscription_id}")
def change(request: Request, console: ConsoleDep, form: FormDep, subscription_id: str) -> Response:
    checked(request, console, form)
    alerts = AlertStore(console.engine.store.engine)
    try:
        sub = alerts.get(subscription_id)
    except NotFoundError:
        return _page(console, 404, error=f"Abonnement introuvable : « {subscription_id[:40]} ».")
    if form.get("action") == "delete":
        alerts.delete([sub.id])
        return redirect("/console/alertes?fait=supprime")
    frequency = form.get("frequency", "")
    if frequency not in FREQUENCIES:
        return _page(console, 422, error=f"Rien n'a été modifié. Fréquence inconnue « {frequency[:20]} ».")
    alerts.replace(sub.model_copy(update={"frequency": frequency}))
    return redirect("/console/alertes?fait=modifie")
