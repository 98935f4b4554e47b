"""The initiatives: the list, one initiative with its matches and decisions, and recording a decision."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from fastapi import Request, Response

from matcher import territory
from matcher.labels import DECISION
from matcher.plan import PLAN_DEPTH
from matcher.schemas import Decision, Initiative, Outcome
from matcher.store import NotFoundError, StoreError
from service.audit import record
from service.web.console._common import (
    MATCHES_SHOWN,
    PAGE_SIZE,
    Console,
    ConsoleDep,
    FormDep,
    checked,
    console_router,
    not_found,
    pagination,
    redirect,
)

__all__ = ["router"]

log = logging.getLogger("maillage.console")

router = console_router()


@router.get("/initiatives")
def initiatives(console: ConsoleDep, q: str = "", territoire: str = "", source: str = "", page: int = 1) -> Response:
    q, territoire, source = q.strip()[:200], territoire.strip()[:40], source.strip()[:80]
    page = max(1, min(page, 100_000))
    error = None
    code: str | None = None
    if territoire:
        try:
            code = territory.parse_territory(territoire).code
        except territory.TerritoryError as exc:
            error = f"Territoire : {exc}"
    items: list[Initiative] = []
    total = 0
    if error is None:
        items, total = console.engine.store.page("initiatives", offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                                 text=q or None, territory=code, source=source or None)
    return console.page("initiatives.html", 422 if error else 200, nav="initiatives", items=items, q=q,
                        territoire=territoire, source=source, error=error, filtered=bool(q or code or source),
                        **pagination("/console/initiatives", {"q": q, "territoire": territoire, "source": source},
                                     page, total))


def _latest(outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    """The latest decision per resource (outcomes come oldest first)."""
    return {o.resource_id: o for o in outcomes}


def _initiative_page(console: Console, ini: Initiative, status: int = 200, *, done: str | None = None,
                     error: str | None = None) -> Response:
    engine = console.engine
    served = engine.recommend(ini, MATCHES_SHOWN, with_excluded=True, staff_overrides=True)
    outcomes = engine.store.outcomes(initiative_id=ini.id)
    titles = {m.resource_id: m.title for m in [*served.matches, *served.excluded]}
    for o in outcomes:
        if o.resource_id not in titles:
            res = engine.served_resource(o.resource_id)
            titles[o.resource_id] = res.title if res is not None else o.resource_id
    return console.page("initiative.html", status, nav="initiatives", ini=ini, matches=served.matches,
                        excluded=served.excluded, latest=_latest(outcomes), outcomes=list(reversed(outcomes)),
                        titles=titles, done=done, error=error, index_version=served.index_version,
                        model_version=served.model_version, nothing_fits=served.nothing_fits)


@router.get("/initiatives/{initiative_id}")
def initiative(console: ConsoleDep, initiative_id: str, fait: str | None = None,
               ressource: str | None = None) -> Response:
    try:
        ini = console.engine.store.get_initiative(initiative_id)
    except NotFoundError:
        return not_found(console, "Initiative", initiative_id, "/console/initiatives")
    done = None
    if fait is not None and fait in Decision.__members__ and ressource:
        res = console.engine.served_resource(ressource)
        done = (f"Décision « {DECISION[Decision(fait)]} » enregistrée pour "
                f"« {res.title if res is not None else ressource} ».")
    return _initiative_page(console, ini, done=done)


@router.get("/initiatives/{initiative_id}/plan")
def plan(console: ConsoleDep, initiative_id: str) -> Response:
    try:
        ini = console.engine.store.get_initiative(initiative_id)
    except NotFoundError:
        return not_found(console, "Initiative", initiative_id, "/console/initiatives")
    served = console.engine.plan(ini, staff_overrides=True)
    return console.page("plan.html", 200, nav="initiatives", ini=ini, plan=served.plan, depth=PLAN_DEPTH,
                        index_version=served.index_version, model_version=served.model_version)


@router.post("/initiatives/{initiative_id}/decisions")
def decide(request: Request, console: ConsoleDep, form: FormDep, initiative_id: str) -> Response:
    checked(request, console, form)
    store = console.engine.store
    try:
        ini = store.get_initiative(initiative_id)
    except NotFoundError:
        return not_found(console, "Initiative", initiative_id, "/console/initiatives")
    resource_id = form.get("resource_id", "").strip()
    reason = form.get("reason", "").strip()
    decision = form.get("decision", "")
    error = None
    if decision not in Decision.__members__:
        error = f"Décision inconnue : « {decision[:40]} »."
    elif not reason:
        error = "Le motif est obligatoire : dites en une phrase pourquoi."
    elif len(reason) > 2000:
        error = f"Le motif est trop long : 2 000 caractères au plus ({len(reason)} reçus)."
    else:
        try:
            resource = store.get_resource(resource_id, include_deleted=True)
        except NotFoundError:
            error = f"Ressource inconnue : « {resource_id[:128]} »."
        except ValueError:
            error = "Identifiant de ressource invalide."
    if error is not None:
        return _initiative_page(console, ini, 422, error=f"Rien n'a été enregistré. {error}")
    if Decision(decision) is Decision.pinned and console.engine.served_resource(resource.id) is None:
        return _initiative_page(console, ini, 422, error="Rien n'a été enregistré. Cette ressource n'est plus "
                                                          "active : elle ne peut pas être épinglée.")
    outcome = Outcome(initiative_id=ini.id, resource_id=resource.id, decision=Decision(decision), reason=reason,
                      actor=console.key.name[:120], source="console")
    try:
        store.append_outcomes([outcome])
        stored = [o for o in store.outcomes(initiative_id=ini.id, resource_id=resource.id)
                  if o.decision is outcome.decision and o.reason == reason and o.occurred_at == outcome.occurred_at]
    except StoreError:
        log.exception("console: decision not recorded")
        stored = []
    if not stored:
        return _initiative_page(console, ini, 503, error="Rien n'a été enregistré : le catalogue n'a pas pu être "
                                                         "joint. Réessayez dans un instant.")
    log.info("console: %s recorded %s on %s × %s", console.key.id, decision, ini.id, resource.id)
    record(store, console.key, f"decision.{decision}", target_kind="initiative", target_id=ini.id,
           detail={"resource_id": resource.id, "face": "console"})
    query = urlencode({"fait": decision, "ressource": resource.id})
    return redirect(f"/console/initiatives/{quote(ini.id)}?{query}#r-{quote(resource.id)}")
