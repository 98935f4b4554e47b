"""The staff console under ``/console``: server-rendered French pages, no JavaScript.

Staff sign in with a staff or admin key and get a signed session cookie (:mod:`service.web.session`).
Pages call the engine directly, the same way the API routes do: ``Recommender.recommend`` under the
engine's read lock, the catalogue for everything else. Every form carries the session's CSRF token;
a decision is confirmed to the user only once it has been committed and read back from the catalogue.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from matcher import territory
from matcher.labels import DECISION, KIND
from matcher.schemas import Decision, Initiative, Outcome, Resource, ResourceKind
from matcher.store import NotFoundError, StoreError
from service.engine import Engine
from service.keys import ApiKey, Role
from service.web.render import render
from service.web.session import COOKIE, SIGNIN_COOKIE, Session, Sessions, same_token

__all__ = ["install", "router"]

log = logging.getLogger("maillage.console")

PAGE_SIZE = 25
MATCHES_SHOWN = 10
CONSOLE_ROLES = (Role.staff, Role.admin)
# A resource is on an initiative's shortlist while its latest decision is one of these.
SHORTLIST = (Decision.shortlisted, Decision.contacted, Decision.applied, Decision.obtained)
OVERRIDES = (Decision.pinned, Decision.excluded)


class _SignInRequired(Exception):
    """No valid session (absent, tampered, expired, or its key revoked): back to the sign-in page."""


class _Refused(Exception):
    """A form without the right CSRF token, or from another origin: nothing was done."""


@dataclass(frozen=True)
class Console:
    """Who is signed in, and the engine the page works with."""

    key: ApiKey
    session: Session
    engine: Engine

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(template, status, staff=self.key, csrf=self.session.csrf, **context)


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.console_sessions
    return sessions


def _console(request: Request) -> Console:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise _SignInRequired  # the sign-in page says the service is starting
    session = _sessions(request).read(request.cookies.get(COOKIE))
    if session is None:
        raise _SignInRequired
    key = next((k for k in request.app.state.keys.list() if k.id == session.key_id), None)
    if key is None or not key.active or key.role not in CONSOLE_ROLES:
        raise _SignInRequired
    return Console(key, session, engine)


async def _form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the first value of each); the Guard already bounds the body size."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise _Refused
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        return dict(reversed(parse_qsl(body, keep_blank_values=True, max_num_fields=50)))
    except ValueError as exc:  # more fields than any console form has
        raise _Refused from exc


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _checked(request: Request, console: Console, form: dict[str, str]) -> None:
    if not _same_origin(request) or not same_token(form.get("csrf"), console.session.csrf):
        raise _Refused


ConsoleDep = Annotated[Console, Depends(_console)]
FormDep = Annotated[dict[str, str], Depends(_form)]

router = APIRouter(prefix="/console", include_in_schema=False)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _not_found(console: Console, what: str, item_id: str, back: str) -> Response:
    return console.page("error.html", 404, heading=f"{what} introuvable",
                        message=f"Aucune {what.lower()} n'a l'identifiant « {item_id} ».", back=back, nav="")


def _pages(base: str, params: dict[str, str], page: int, total: int) -> dict[str, Any]:
    pages = max(1, -(-total // PAGE_SIZE))
    kept = {k: v for k, v in params.items() if v}

    def url(n: int) -> str:
        return f"{base}?{urlencode(kept | {'page': str(n)})}"

    return {"page": page, "pages": pages, "total": total, "limit": PAGE_SIZE,
            "prev_url": url(page - 1) if page > 1 else None, "next_url": url(page + 1) if page < pages else None}


# --- sign in and out ---------------------------------------------------------------------------


@router.get("")
def home() -> Response:
    return _redirect("/console/initiatives")


def _signin_page(request: Request, status: int = 200, error: str | None = None,
                 notice: str | None = None) -> Response:
    import secrets

    token = secrets.token_urlsafe(24)
    response = render("signin.html", status, csrf=token, error=error, notice=notice, nav="")
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/connexion")
def signin_form(request: Request, sortie: str | None = None) -> Response:
    if request.app.state.engine is None:
        return _signin_page(request, 503, error="Le service démarre : réessayez dans quelques secondes.")
    try:
        _console(request)
    except _SignInRequired:
        return _signin_page(request, notice="Vous êtes déconnecté." if sortie else None)
    return _redirect("/console/initiatives")


@router.post("/connexion")
def signin(request: Request, form: FormDep) -> Response:
    ip = request.client.host if request.client else "unknown"
    if request.app.state.ip_buckets.take(ip):
        return _signin_page(request, 429, error="Trop de tentatives : patientez une minute avant de réessayer.")
    if not _same_origin(request) or not same_token(form.get("csrf"), request.cookies.get(SIGNIN_COOKIE)):
        return _signin_page(request, 403, error="Le formulaire a expiré : saisissez de nouveau votre clé.")
    if request.app.state.engine is None:
        return _signin_page(request, 503, error="Le service démarre : réessayez dans quelques secondes.")
    key = request.app.state.keys.authenticate(form.get("cle", ""))
    if key is None:
        return _signin_page(request, 401, error="Clé inconnue ou révoquée.")
    if key.role not in CONSOLE_ROLES:
        return _signin_page(request, 403, error=f"Une clé « {key.role.value} » ne donne pas accès à la console : "
                                                "il faut une clé d'équipe (staff) ou d'administration (admin).")
    value, _ = _sessions(request).issue(key.id)
    log.info("console: %s (%s) signed in", key.name, key.id)
    response = _redirect("/console/initiatives")
    response.set_cookie(COOKIE, value, max_age=_sessions(request).max_age_s, path="/console", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@router.post("/deconnexion")
def signout(request: Request, console: ConsoleDep, form: FormDep) -> Response:
    _checked(request, console, form)
    response = _redirect("/console/connexion?sortie=1")
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return response


# --- initiatives -------------------------------------------------------------------------------


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
                        **_pages("/console/initiatives",
                                               {"q": q, "territoire": territoire, "source": source}, page, total))


def _latest(outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    """The latest decision per resource (outcomes come oldest first)."""
    return {o.resource_id: o for o in outcomes}


def _initiative_page(console: Console, ini: Initiative, status: int = 200, *, done: str | None = None,
                     error: str | None = None) -> Response:
    engine = console.engine
    overrides = engine.store.overrides_for(ini.id)
    rec = engine.rec
    with engine.lock.read():
        result = rec.recommend(ini, MATCHES_SHOWN, with_excluded=True, overrides=overrides)
    outcomes = engine.store.outcomes(initiative_id=ini.id)
    titles = {m.resource_id: m.title for m in [*result.matches, *result.excluded]}
    for o in outcomes:
        if o.resource_id not in titles:
            res = rec.index.resources.get(o.resource_id)
            titles[o.resource_id] = res.title if res is not None else o.resource_id
    return console.page("initiative.html", status, nav="initiatives", ini=ini, matches=result.matches,
                        excluded=result.excluded, latest=_latest(outcomes), outcomes=list(reversed(outcomes)),
                        titles=titles, done=done, error=error, index_version=rec.index.version,
                        model_version=rec.model_version)


@router.get("/initiatives/{initiative_id}")
def initiative(console: ConsoleDep, initiative_id: str, fait: str | None = None,
               ressource: str | None = None) -> Response:
    try:
        ini = console.engine.store.get_initiative(initiative_id)
    except NotFoundError:
        return _not_found(console, "Initiative", initiative_id, "/console/initiatives")
    done = None
    if fait is not None and fait in Decision.__members__ and ressource:
        res = console.engine.rec.index.resources.get(ressource)
        done = (f"Décision « {DECISION[Decision(fait)]} » enregistrée pour "
                f"« {res.title if res is not None else ressource} ».")
    return _initiative_page(console, ini, done=done)


@router.post("/initiatives/{initiative_id}/decisions")
def decide(request: Request, console: ConsoleDep, form: FormDep, initiative_id: str) -> Response:
    _checked(request, console, form)
    store = console.engine.store
    try:
        ini = store.get_initiative(initiative_id)
    except NotFoundError:
        return _not_found(console, "Initiative", initiative_id, "/console/initiatives")
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
    if Decision(decision) is Decision.pinned and resource.id not in console.engine.rec.index.resources:
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
    query = urlencode({"fait": decision, "ressource": resource.id})
    return _redirect(f"/console/initiatives/{quote(ini.id)}?{query}#r-{quote(resource.id)}")


# --- shortlist exports ---------------------------------------------------------------------------

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
        return _not_found(console, "Initiative", initiative_id, "/console/initiatives")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ini.id)
    return _csv(console, _shortlist(console.engine.store.outcomes(initiative_id=ini.id)),
                f"preselection-{safe}.csv")


@router.get("/preselections.csv")
def all_shortlists_csv(console: ConsoleDep) -> Response:
    return _csv(console, _shortlist(console.engine.store.iter_outcomes()), "preselections.csv")


# --- resources and the reverse view ------------------------------------------------------------


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
                        **_pages("/console/ressources", {"q": q, "type": type, "financeur": financeur}, page, total))


@router.get("/ressources/{resource_id}")
def resource(console: ConsoleDep, resource_id: str) -> Response:
    engine = console.engine
    try:
        res = engine.store.get_resource(resource_id)
    except NotFoundError:
        return _not_found(console, "Ressource", resource_id, "/console/ressources")
    try:
        provider = engine.store.get_provider(res.provider_id).name
    except NotFoundError:
        provider = res.provider_id
    matches = []
    if res.id in engine.rec.index.resources:
        inis = engine.initiative_index()
        rec = engine.rec
        with engine.lock.read():
            matches = rec.recommend_initiatives(res.id, inis, MATCHES_SHOWN)
    return console.page("resource.html", nav="ressources", res=res, provider=provider, matches=matches,
                        outcomes=list(reversed(engine.store.outcomes(resource_id=res.id))))


# --- index and models ---------------------------------------------------------------------------


@router.get("/etat")
def status(console: ConsoleDep) -> Response:
    from matcher.indexing import catalogue_signature
    from matcher.registry import ModelRegistry
    from service.api_models import IndexStatus, ModelInfo

    engine = console.engine
    s = engine.state
    index = IndexStatus(version=s.version, resources=s.count, encoder=s.encoder_id, built_at=s.built_at,
                        live_changes=s.live_changes, rebuilding=engine.rebuilding,
                        stale=engine.rec.index.manifest.catalogue_hash != catalogue_signature(engine.store),
                        repaired_at_start=s.repaired, last_rebuild_error=s.last_rebuild_error)
    registry = ModelRegistry(engine.settings.rankers_dir)
    served = registry.current_version()
    models = [ModelInfo(version=m.version, kind=m.extra.get("ranker_kind"), encoder=m.encoder_id,
                        served=m.version == served, metrics=m.extra.get("metrics", {})) for m in registry.versions()]
    return console.page("status.html", nav="etat", index=index, models=models, counts=engine.store.counts(),
                        model_version=engine.rec.model_version)


def install(app: FastAPI, sessions: Sessions) -> None:
    """Add the console's routes and its two exception handlers to ``app``."""
    app.state.console_sessions = sessions

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        response = _redirect("/console/connexion")
        if request.cookies.get(COOKIE):
            response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        return render("error.html", 403, heading="Action refusée", nav="",
                      message="Ce formulaire a expiré ou ne vient pas de la console : rien n'a été fait. "
                              "Rechargez la page et recommencez.", back="/console")

    app.add_exception_handler(_SignInRequired, sign_in_required)
    app.add_exception_handler(_Refused, refused)
    app.include_router(router)
