"""The resources: the list, one resource with the initiatives that fit it (the reverse view), and the
status page of the served index and the registered rankers."""

from __future__ import annotations

from fastapi import Response

from matcher.schemas import ResourceKind
from matcher.store import NotFoundError
from service.api.status import index_status, registered_models
from service.background import IndexNotReady, not_ready_message
from service.web.console._common import MATCHES_SHOWN, PAGE_SIZE, ConsoleDep, console_router, not_found, pagination

__all__ = ["router"]

router = console_router()


@router.get("/ressources")
def resources(console: ConsoleDep, q: str = "", type: str = "", financeur: str = "", page: int = 1) -> Response:
    q, financeur = q.strip()[:200], financeur.strip()[:128]
    page = max(1, min(page, 100_000))
    error = None
    if type and type not in ResourceKind.__members__.values():
        error = f"Type inconnu : « {type[:40]} »."
        type = ""
    items, total = console.engine.store.page("resources", offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                             text=q or None, kind=type or None, provider_id=financeur or None)
    providers = {p.id: p.name for p in console.engine.store.providers()}
    return console.page("resources.html", 422 if error else 200, nav="ressources", items=items, q=q, kind=type,
                        provider=financeur, providers=providers, error=error,
                        **pagination("/console/ressources", {"q": q, "type": type, "financeur": financeur}, page,
                                     total))


@router.get("/ressources/{resource_id}")
def resource(console: ConsoleDep, resource_id: str) -> Response:
    engine = console.engine
    try:
        res = engine.store.get_resource(resource_id)
    except NotFoundError:
        return not_found(console, "Ressource", resource_id, "/console/ressources")
    try:
        provider = engine.store.get_provider(res.provider_id).name
    except NotFoundError:
        provider = res.provider_id
    matches = []
    not_ready: IndexNotReady | None = None
    if engine.served_resource(res.id) is not None:
        try:
            matches = engine.recommend_initiatives(res.id, MATCHES_SHOWN).matches
        except IndexNotReady as exc:  # still being built at start-up: never built on this request
            not_ready = exc
    page = console.page("resource.html", 503 if not_ready else 200, nav="ressources", res=res, provider=provider,
                        matches=matches, outcomes=list(reversed(engine.store.outcomes(resource_id=res.id))),
                        not_ready=not_ready and not_ready_message(not_ready))
    if not_ready is not None:
        page.headers["Retry-After"] = str(not_ready.retry_after)
    return page


@router.get("/etat")
def status(console: ConsoleDep) -> Response:
    engine = console.engine
    return console.page("status.html", nav="etat", index=index_status(engine),
                        models=registered_models(engine.settings.rankers_dir), counts=engine.store.counts(),
                        model_version=engine.model_version)
