"""The HTTP API of Maillage (FastAPI), versioned under ``/v1``.

``create_app()`` builds the app; the engine (catalogue, model, index) is started once per worker in
the lifespan. Writes are acknowledged only after their transaction commits; resource writes are then
applied to the served index before the answer goes out, so the next match already sees them.

Roles (see :mod:`service.keys`): ``partner`` keys reach only the widget's endpoints (free-text match,
commune search, consented submissions) and only from their allowed origins; ``read-only`` reads;
``staff`` also writes the catalogue and decisions; ``admin`` also rebuilds the index, promotes
models and imports in bulk.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from prometheus_client import generate_latest
from pydantic import ValidationError

from matcher import territory
from matcher.importers import run_import
from matcher.schemas import (
    Decision,
    Initiative,
    MatchQuery,
    Outcome,
    Provider,
    Resource,
    describe_validation_error,
)
from matcher.store import NotFoundError, StoreError, content_hash
from service.api_models import (
    CreatedInitiative,
    ImportResult,
    IndexStatus,
    InitiativeMatches,
    MatchRequest,
    MatchResponse,
    ModelInfo,
    OutcomeIn,
    OverrideIn,
    Page,
    TerritoryHit,
    WidgetInitiative,
)
from service.engine import Engine
from service.guard import ApiError, ErrorBody, Guard, Metrics, TokenBuckets, error_body, retry_after
from service.keys import ApiKey, KeyStore, Role
from service.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("maillage.api")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "no key, or a key that is unknown or revoked",
        403: "the key's role or origin does not allow this",
        404: "unknown id",
        413: "request body too large",
        422: "invalid input; `details` names each field",
        429: "rate limit; retry after `Retry-After` seconds",
        504: "request timed out",
    }.items()
}

READERS = (Role.admin, Role.staff, Role.read_only)
WRITERS = (Role.admin, Role.staff)
WIDGET = (Role.admin, Role.staff, Role.read_only, Role.partner)


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _json_error(request: Request, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(code, message, _request_id(request), details), status_code=status,
                    media_type="application/json", headers=headers)


def _validation_details(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or None
        msg = e.get("msg", "invalid")
        if e.get("type") == "string_too_long":
            limit = (e.get("ctx") or {}).get("max_length")
            msg = f"too long: at most {limit} characters"
        out.append({"field": field, "message": msg})
    return out


class Access:
    """Dependency: authenticates the key, checks role, origin and rate limits."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    def __call__(self, request: Request) -> ApiKey:
        app = request.app
        ip = request.client.host if request.client else "unknown"
        wait = app.state.ip_buckets.take(ip)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests from {ip}", headers=retry_after(wait))
        token = request.headers.get("x-api-key") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:]
        if not token:
            raise ApiError(401, "missing_key", "an API key is required (Authorization: Bearer … or X-Api-Key)",
                           headers={"WWW-Authenticate": "Bearer"})
        key = app.state.keys.authenticate(token)
        if key is None:
            raise ApiError(401, "invalid_key", "the API key is unknown or revoked",
                           headers={"WWW-Authenticate": "Bearer"})
        wait = app.state.key_buckets.take(key.id)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests for key {key.id}", headers=retry_after(wait))
        if key.role not in self.roles:
            raise ApiError(403, "forbidden", f"a {key.role.value} key cannot use this endpoint")
        origin = request.headers.get("origin")
        if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
            origin = f"{request.url.scheme}://{request.url.netloc}"  # browsers omit Origin on same-origin GETs
        if key.role is Role.partner and (origin is None or origin not in key.origins):
            raise ApiError(403, "origin_not_allowed",
                           f"origin {origin or '(none)'} is not allowed for this partner key")
        request.state.key = key
        return key


def _engine(request: Request) -> Engine:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise ApiError(503, "not_ready", "the service is starting")
    return engine


EngineDep = Annotated[Engine, Depends(_engine)]


def _etag(record: Any) -> str:
    return f'"{content_hash(record)[:32]}"'


def _conditional(request: Request, response: Response, record: Any) -> Response | None:
    tag = _etag(record)
    response.headers["ETag"] = tag
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return None


def _check_if_match(request: Request, current: Any | None) -> None:
    wanted = request.headers.get("if-match")
    if wanted is None:
        return
    if current is None or wanted not in ("*", _etag(current)):
        raise ApiError(412, "precondition_failed", "the record changed since it was read (ETag differs)")


def _page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    nxt = offset + len(items)
    return {"items": items, "total": total, "offset": offset, "limit": limit,
            "next_offset": nxt if nxt < total else None}


def _today(on: date | None) -> date | None:
    return on


def create_app(settings: Settings | None = None, *, engine_factory: Callable[[Settings], Engine] | None = None,
               start_engine: bool = True) -> FastAPI:
    """The ASGI app. ``engine_factory`` lets tests inject an encoder; ``start_engine=False`` leaves the
    engine to the caller (``app.state.engine``)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_engine:
            engine = (engine_factory or Engine)(settings)
            engine.start(demo_when_empty=settings.demo_when_empty, poll_interval=settings.sync_interval_s or None)
            app.state.engine = engine
            app.state.keys = KeyStore(engine.store)
            log.info("index %s ready: %d resources", engine.state.version, engine.state.count)
        try:
            yield
        finally:
            if start_engine and app.state.engine is not None:
                app.state.engine.close()

    app = FastAPI(
        title="Maillage API",
        version="1",
        summary="Matches citizen initiatives with State resources, explained per criterion.",
        description=(
            "Authenticate with `Authorization: Bearer <key>`. Errors always have the shape "
            "`{\"error\": {\"code\", \"message\", \"details\", \"request_id\"}}`. Listings are paginated with "
            "`offset`/`limit`; single records carry an `ETag` (send `If-None-Match` to revalidate, "
            "`If-Match` to update safely)."
        ),
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.engine = None
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.ip_buckets = TokenBuckets(settings.rate_per_ip)
    app.state.key_buckets = TokenBuckets(settings.rate_per_key)
    origins_cache: dict[str, Any] = {"at": 0.0, "value": set()}

    def allowed_origins() -> set[str]:
        import time

        if app.state.engine is None:
            return set()
        if time.monotonic() - origins_cache["at"] > 5:
            origins_cache["value"] = {o for k in app.state.keys.list() if k.active for o in k.origins}
            origins_cache["at"] = time.monotonic()
        return origins_cache["value"]

    app.state.refresh_origins = lambda: origins_cache.update(at=0.0)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _json_error(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        first = details[0] if details else {"field": None, "message": "invalid"}
        where = f"{first['field']}: " if first["field"] else ""
        return _json_error(request, 422, "invalid_input", f"{where}{first['message']}", details)

    @app.exception_handler(ValidationError)
    async def invalid_model(request: Request, exc: ValidationError) -> Response:
        return _json_error(request, 422, "invalid_input", "; ".join(describe_validation_error(exc)),
                           _validation_details(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return _json_error(request, 404, "not_found", str(exc))

    @app.exception_handler(territory.TerritoryError)
    async def bad_territory(request: Request, exc: territory.TerritoryError) -> Response:
        return _json_error(request, 422, "invalid_input", str(exc), [{"field": "territory", "message": str(exc)}])

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        log.error("store error: %s", exc)
        return _json_error(request, 503, "store_unavailable", "the catalogue cannot be reached; nothing was written")

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return _json_error(request, exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _json_error(request, 500, "internal_error", "unexpected error; quote the request id to the operators")

    _routes(app, metrics)
    app.add_middleware(
        Guard, max_body=settings.max_body_bytes, timeout_s=settings.request_timeout_s, metrics=metrics,
        allowed_origins=allowed_origins,
    )
    try:
        from service.web import mount as mount_web  # the widget and console (issue of the front end)
    except ImportError:  # pragma: no cover - front end not installed
        pass
    else:
        mount_web(app)
    return app


def _routes(app: FastAPI, metrics: Metrics) -> None:
    v1 = APIRouter(prefix="/v1")

    # --- health ---------------------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: catalogue reachable and index loaded",
             responses={503: {"model": ErrorBody}})
    def readyz(request: Request) -> Any:
        engine: Engine | None = request.app.state.engine
        if engine is None:
            return _json_error(request, 503, "not_ready", "the service is starting")
        try:
            engine.store.counts()
        except Exception:
            return _json_error(request, 503, "store_unavailable", "the catalogue cannot be reached")
        return {"status": "ready", "index_version": engine.state.version, "resources": engine.state.count}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus(request: Request, _: Annotated[ApiKey, Depends(Access(*READERS))]) -> PlainTextResponse:
        engine: Engine | None = request.app.state.engine
        if engine is not None:
            metrics.index_items.set(engine.state.count)
            metrics.live_changes.set(engine.state.live_changes)
        return PlainTextResponse(generate_latest(metrics.registry).decode(), media_type="text/plain; version=0.0.4")

    # --- matching -------------------------------------------------------------------------------

    @v1.post("/match", tags=["match"], summary="Match a project described in free text",
             response_model=MatchResponse)
    def match_text(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(*WIDGET))],
                   body: Annotated[MatchRequest, Body()],
                   with_excluded: Annotated[bool, Query(description="also list hard failures (not for partner keys)")]
                   = False) -> MatchResponse:
        query = MatchQuery(text=body.text, territory=body.territory, legal_form=body.legal_form, stage=body.stage,
                           needs=body.needs, themes=body.themes, amount_sought=body.amount_sought, kinds=body.kinds)
        rec = engine.rec
        with engine.lock.read():
            result = rec.recommend(query, body.k, today=body.on,
                                   with_excluded=with_excluded and key.role is not Role.partner)
        metrics.matches.labels("text", key.role.value).inc()
        return MatchResponse(matches=result.matches, excluded=result.excluded, index_version=rec.index.version,
                             model_version=rec.model_version)

    @v1.post("/initiatives/{initiative_id}/match", tags=["match"], response_model=MatchResponse,
             summary="Match a stored initiative (staff pins and exclusions applied)")
    def match_initiative(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(*READERS))], initiative_id: str,
                         k: Annotated[int, Query(ge=1, le=50)] = 10, with_excluded: bool = False,
                         on: date | None = None) -> MatchResponse:
        ini = engine.store.get_initiative(initiative_id)
        rec = engine.rec
        with engine.lock.read():
            result = rec.recommend(ini, k, today=on, with_excluded=with_excluded,
                                   overrides=engine.store.overrides_for(ini.id))
        metrics.matches.labels("initiative", key.role.value).inc()
        return MatchResponse(matches=result.matches, excluded=result.excluded, index_version=rec.index.version,
                             model_version=rec.model_version)

    @v1.get("/resources/{resource_id}/initiatives", tags=["match"], response_model=InitiativeMatches,
            summary="Reverse match: the initiatives that fit a resource or public-service need")
    def reverse(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))], resource_id: str,
                k: Annotated[int, Query(ge=1, le=50)] = 10, on: date | None = None) -> InitiativeMatches:
        engine.store.get_resource(resource_id)
        inis = engine.initiative_index()
        rec = engine.rec
        with engine.lock.read():
            found = rec.recommend_initiatives(resource_id, inis, k, today=on)
        return InitiativeMatches(resource_id=resource_id, matches=found, index_version=rec.index.version)

    # --- widget ---------------------------------------------------------------------------------

    @v1.get("/territories", tags=["widget"], response_model=list[TerritoryHit],
            summary="Commune autocompletion on INSEE data (name or postcode prefix)")
    def territories(_: Annotated[ApiKey, Depends(Access(*WIDGET))],
                    q: Annotated[str, Query(min_length=1, max_length=80)],
                    limit: Annotated[int, Query(ge=1, le=20)] = 8) -> list[TerritoryHit]:
        hits = territory.search_communes(q, limit)
        return [TerritoryHit(code=t.code, name=t.name, postcode=t.postcode, departement=t.departement,
                             label=f"{t.name} ({t.postcode or t.departement})") for t in hits]

    @v1.post("/widget/initiatives", tags=["widget"], status_code=201, response_model=CreatedInitiative,
             summary="Store a project submitted from the widget, with the citizen's consent")
    def widget_initiative(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(*WIDGET))],
                          body: WidgetInitiative, request: Request) -> CreatedInitiative:
        if not body.consent:
            raise ApiError(422, "consent_required", "nothing is stored without the citizen's consent",
                           details=[{"field": "consent", "message": "must be true"}])
        import secrets

        ini = Initiative(
            id=f"web-{secrets.token_hex(8)}", title=body.title, description=body.description,
            territory=body.territory, legal_form=body.legal_form, stage=body.stage, needs=body.needs,
            consent=True, contact_email=body.contact_email,
            source=f"widget:{key.name}"[:80],
        )
        engine.store.upsert_initiatives([ini])
        engine.initiatives_changed()
        rec = engine.rec
        with engine.lock.read():
            result = rec.recommend(ini, 5)
        return CreatedInitiative(initiative=ini if key.role is not Role.partner else ini.model_copy(
            update={"contact_email": None}), matches=result.matches)

    # --- catalogue: initiatives, resources, providers -------------------------------------------

    def crud(kind: str, model: type[Any], *, get: Callable[[Engine, str], Any],
             upsert: Callable[[Engine, list[Any]], Any], delete: Callable[[Engine, str], None] | None,
             filters: tuple[str, ...]) -> None:
        tag = kind

        @v1.get(f"/{kind}", tags=[tag], response_model=Page[model], summary=f"List {kind} (paginated, filtered)",
                name=f"list_{kind}")
        def list_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))],
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  q: Annotated[str | None, Query(max_length=200, description="title contains")] = None,
                  **wanted: Any) -> Any:
            items, total = engine.store.page(kind, offset=offset, limit=limit, text=q, **wanted)
            return _page(items, total, offset, limit)

        list_.__doc__ = f"Filters: {', '.join(filters) or 'none'}; `q` searches titles."
        _add_filter_params(list_, filters)

        @v1.get(f"/{kind}/{{item_id}}", tags=[tag], response_model=model, summary=f"One of the {kind}",
                name=f"get_{kind}")
        def get_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))], item_id: str, request: Request,
                 response: Response) -> Any:
            record = get(engine, item_id)
            return _conditional(request, response, record) or record

        @v1.post(f"/{kind}", tags=[tag], status_code=201, response_model=model, name=f"create_{kind}",
                 summary=f"Create or replace one of the {kind} (upsert by id)")
        def create_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))],
                    body: Annotated[model, Body()], response: Response) -> Any:  # type: ignore[valid-type]
            upsert(engine, [body])
            response.headers["ETag"] = _etag(body)
            return body

        @v1.put(f"/{kind}/{{item_id}}", tags=[tag], response_model=model, name=f"replace_{kind}",
                summary=f"Replace one of the {kind} (send If-Match to avoid overwriting a concurrent edit)",
                responses={412: {"model": ErrorBody, "description": "the record changed since it was read"}})
        def put_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], item_id: str,
                 body: Annotated[model, Body()], request: Request, response: Response) -> Any:  # type: ignore[valid-type]
            if body.id != item_id:
                raise ApiError(422, "invalid_input",
                               f"id in the body ({body.id!r}) differs from the path ({item_id!r})",
                               details=[{"field": "id", "message": "must equal the id in the path"}])
            try:
                current = get(engine, item_id)
            except NotFoundError:
                current = None
            _check_if_match(request, current)
            upsert(engine, [body])
            response.headers["ETag"] = _etag(body)
            return body

        if delete is not None:
            @v1.delete(f"/{kind}/{{item_id}}", tags=[tag], status_code=204, name=f"delete_{kind}",
                       summary=f"Delete one of the {kind}")
            def delete_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], item_id: str) -> Response:
                delete(engine, item_id)
                return Response(status_code=204)

    def upsert_resources(engine: Engine, items: list[Resource]) -> None:
        for r in items:
            engine.store.get_provider(r.provider_id)  # 404 names an unknown provider before anything is written
        engine.store.upsert_resources(items)
        engine.sync()

    def delete_resource(engine: Engine, rid: str) -> None:
        engine.store.delete_resource(rid)
        engine.sync()

    def upsert_initiatives(engine: Engine, items: list[Initiative]) -> None:
        engine.store.upsert_initiatives(items)
        engine.initiatives_changed()

    def delete_initiative(engine: Engine, iid: str) -> None:
        engine.store.delete_initiative(iid)
        engine.initiatives_changed()

    crud("initiatives", Initiative, get=lambda e, i: e.store.get_initiative(i), upsert=upsert_initiatives,
         delete=delete_initiative, filters=("territory", "source"))
    crud("resources", Resource, get=lambda e, i: e.store.get_resource(i), upsert=upsert_resources,
         delete=delete_resource, filters=("kind", "provider_id", "source", "active"))
    crud("providers", Provider, get=lambda e, i: e.store.get_provider(i),
         upsert=lambda e, items: e.store.upsert_providers(items), delete=None, filters=("kind", "source"))

    @v1.post("/import/{kind}", tags=["catalogue"], response_model=ImportResult,
             summary="Bulk import: a JSON array or JSON lines of records of one kind",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                 "application/x-ndjson": {"schema": {"type": "string"}},
             }}})
    async def bulk_import(request: Request, kind: Literal["providers", "resources", "initiatives", "outcomes"],
                          _: Annotated[ApiKey, Depends(Access(Role.admin))]) -> ImportResult:
        engine = _engine(request)
        raw = await request.body()
        rows = _import_rows(raw, kind.removesuffix("s"), request.headers.get("content-type", ""))
        import anyio

        report = await anyio.to_thread.run_sync(lambda: run_import(engine.store, rows))
        if kind in ("resources", "providers"):
            await anyio.to_thread.run_sync(engine.sync)
        if kind == "initiatives":
            engine.initiatives_changed()
        return ImportResult(read=report.read, inserted=report.inserted, updated=report.updated,
                            rejected=report.rejected, errors=[str(e) for e in report.errors[:200]])

    # --- decisions ------------------------------------------------------------------------------

    @v1.post("/outcomes", tags=["decisions"], status_code=201, response_model=Outcome,
             summary="Record a decision about an (initiative, resource) pair")
    def record_outcome(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], body: OutcomeIn) -> Outcome:
        engine.store.get_initiative(body.initiative_id)
        engine.store.get_resource(body.resource_id, include_deleted=True)
        outcome = Outcome(id=body.id, initiative_id=body.initiative_id, resource_id=body.resource_id,
                          decision=Decision(body.decision), reason=body.reason, actor=body.actor, amount=body.amount,
                          source="api")
        engine.store.append_outcomes([outcome])
        stored = [o for o in engine.store.outcomes(initiative_id=body.initiative_id)
                  if o.resource_id == body.resource_id]
        return stored[-1] if body.id is None else next(o for o in stored if o.id == body.id)

    @v1.get("/outcomes", tags=["decisions"], response_model=list[Outcome],
            summary="Decisions recorded for an initiative or a resource")
    def list_outcomes(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))],
                      initiative_id: str | None = None, resource_id: str | None = None) -> list[Outcome]:
        if initiative_id is None and resource_id is None:
            raise ApiError(422, "invalid_input", "give initiative_id or resource_id",
                           details=[{"field": "initiative_id", "message": "required unless resource_id is given"}])
        return engine.store.outcomes(initiative_id=initiative_id, resource_id=resource_id)

    @v1.post("/initiatives/{initiative_id}/overrides", tags=["decisions"], status_code=201, response_model=Outcome,
             summary="Pin a resource on top of an initiative's matches, or exclude it")
    def override(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], initiative_id: str,
                 body: OverrideIn) -> Outcome:
        engine.store.get_initiative(initiative_id)
        engine.store.get_resource(body.resource_id)
        outcome = Outcome(initiative_id=initiative_id, resource_id=body.resource_id,
                          decision=Decision.pinned if body.action == "pin" else Decision.excluded,
                          reason=body.reason, actor=body.actor, source="api")
        engine.store.append_outcomes([outcome])
        return engine.store.overrides_for(initiative_id)[body.resource_id]

    # --- index and models -----------------------------------------------------------------------

    @v1.get("/index", tags=["ops"], response_model=IndexStatus, summary="The served index")
    def index_status(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))]) -> IndexStatus:
        s = engine.state
        from matcher.indexing import catalogue_signature

        stale = engine.rec.index.manifest.catalogue_hash != catalogue_signature(engine.store)
        return IndexStatus(version=s.version, resources=s.count, encoder=s.encoder_id, built_at=s.built_at,
                           live_changes=s.live_changes, rebuilding=engine.rebuilding, stale=stale,
                           repaired_at_start=s.repaired, last_rebuild_error=s.last_rebuild_error)

    @v1.post("/index/rebuild", tags=["ops"], status_code=202, response_model=IndexStatus,
             summary="Rebuild the index in the background and swap it in when ready",
             responses={409: {"model": ErrorBody, "description": "a rebuild is already running"}})
    def index_rebuild(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(Role.admin))]) -> IndexStatus:
        if not engine.rebuild():
            raise ApiError(409, "rebuild_running", "a rebuild is already running")
        return index_status(engine, key)

    @v1.get("/models", tags=["ops"], response_model=list[ModelInfo], summary="Registered rankers")
    def models(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))]) -> list[ModelInfo]:
        from training import ModelRegistry

        registry = ModelRegistry(engine.settings.rankers_dir)
        served = registry.current_version()
        return [ModelInfo(version=m.version, kind=m.extra.get("ranker_kind"), encoder=m.encoder_id,
                          served=m.version == served, metrics=m.extra.get("metrics", {}))
                for m in registry.versions()]

    @v1.post("/models/{version}/promote", tags=["ops"], response_model=ModelInfo,
             summary="Serve a registered ranker (refused unless it beat the served one)",
             responses={409: {"model": ErrorBody, "description": "promotion refused by the gate"}})
    def promote(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(Role.admin))], version: str,
                force: bool = False) -> ModelInfo:
        from training import ModelRegistry, PromotionRefused

        registry = ModelRegistry(engine.settings.rankers_dir)
        try:
            m = registry.promote(version, force=force)
        except PromotionRefused as exc:
            raise ApiError(409, "promotion_refused", str(exc)) from exc
        except (FileNotFoundError, ValueError) as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        engine.reload_model()
        return ModelInfo(version=m.version, kind=m.extra.get("ranker_kind"), encoder=m.encoder_id, served=True,
                         metrics=m.extra.get("metrics", {}))

    app.include_router(v1)


def _add_filter_params(func: Callable[..., Any], filters: tuple[str, ...]) -> None:
    """Declare the equality filters as optional query parameters (in place of ``**wanted``)."""
    import inspect

    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for f in filters:
        kind: Any = bool if f == "active" else str
        annotation = Annotated[kind | None, Query(max_length=128, description=f"only records whose {f} is this")] \
            if kind is str else Annotated[bool | None, Query(description="only active (or inactive) resources")]
        params.append(inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]


def _import_rows(raw: bytes, kind: str, content_type: str) -> list[tuple[int, str, Any]]:
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if "ndjson" not in content_type and stripped.startswith("["):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ApiError(422, "invalid_input",
                           f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        return [(n, kind, item if isinstance(item, dict) else f"expected a JSON object, got {type(item).__name__}")
                for n, item in enumerate(payload, start=1)]
    rows: list[tuple[int, str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((n, kind, f"malformed JSON: {exc.msg} at column {exc.colno}"))
            continue
        rows.append((n, kind, item if isinstance(item, dict) else f"expected a JSON object, got {type(item).__name__}"))
    if not rows:
        raise ApiError(422, "invalid_input", "the body holds no record")
    return rows
