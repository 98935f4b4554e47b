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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import generate_latest
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match

from indexes import SnapshotError
from matcher import territory
from matcher.importers import run_import
from matcher.schemas import (
    Decision,
    Initiative,
    ItemId,
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
    InitiativeIn,
    InitiativeMatches,
    IsoDate,
    MatchRequest,
    MatchResponse,
    ModelInfo,
    OutcomeIn,
    OverrideIn,
    Page,
    ProviderIn,
    ResourceIn,
    TerritoryHit,
    WidgetInitiative,
)
from service.engine import Engine
from service.guard import ApiError, ErrorBody, Guard, Metrics, TokenBuckets, error_body, retry_after
from service.keys import ApiKey, KeyStore, Role
from service.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("maillage.api")

_ERROR_TEXT = {
    401: "no key, or a key that is unknown or revoked",
    403: "the key's role or origin does not allow this",
    404: "unknown id",
    409: "conflict with the current state",
    412: "the record changed since it was read (its ETag differs from `If-Match`)",
    413: "request body too large",
    422: "invalid input; `details` names each field",
    429: "rate limit; retry after `Retry-After` seconds",
    503: "the service is starting, or the catalogue cannot be reached",
    504: "request timed out",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "required": True, "schema": {"type": "string"}}},
}
ETAG_HEADER: dict[str, Any] = {"ETag": {
    "description": "the record's version, for `If-None-Match` and `If-Match`", "required": True,
    "schema": {"type": "string"}}}


def error(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI description of an error answer (always an ``ErrorBody``)."""
    out: dict[str, Any] = {"model": ErrorBody, "description": description or _ERROR_TEXT[status]}
    if status in _HEADERS:
        out["headers"] = _HEADERS[status]
    return out

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
        raw_loc = tuple(e.get("loc", ()))
        loc = [str(p) for p in raw_loc if p not in ("body",)]
        field = ".".join(loc) or ("body" if raw_loc == ("body",) else None)
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        if e.get("type") == "string_too_long":
            limit = (e.get("ctx") or {}).get("max_length")
            msg = f"too long: at most {limit} characters"
        elif e.get("type") == "json_invalid":  # loc is ("body", offset): the offset is no field
            field = "body"
            msg = f"malformed JSON: {(e.get('ctx') or {}).get('error', 'invalid')} at character {raw_loc[-1]}"
        out.append({"field": field, "message": msg})
    return out


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path: the router's own 405 names only the first route's.
    Asked of the routes themselves (``matches``), since included routers are not flattened."""
    routes = request.app.router.routes
    return ", ".join(m for m in _METHODS
                     if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes))


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer mk_…`")
_api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="the key, when a bearer cannot be sent")


class Access:
    """Dependency: authenticates the key, checks role, origin and rate limits.

    The key comes as ``Authorization: Bearer …`` or ``X-Api-Key`` (both declared as security schemes,
    so the OpenAPI schema says which operations need one)."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    def __call__(self, request: Request,
                 bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
                 header: Annotated[str | None, Security(_api_key_header)] = None) -> ApiKey:
        app = request.app
        ip = request.client.host if request.client else "unknown"
        wait = app.state.ip_buckets.take(ip)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests from {ip}", headers=retry_after(wait))
        token = bearer.credentials if bearer is not None else header or ""
        if not token:
            raise ApiError(401, "missing_key", "an API key is required (Authorization: Bearer … or X-Api-Key)",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            key = app.state.keys.authenticate(token)
        except SQLAlchemyError as exc:  # the catalogue is down: say so, as for any other store error
            log.error("key check failed: %s", exc)
            raise ApiError(503, "store_unavailable", "the catalogue cannot be reached; try again") from exc
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


def _one_value_each(request: Request) -> None:
    """Dependency of every ``/v1`` route: a query parameter given twice is refused, where FastAPI would
    silently keep the last value (``?territory=93&territory=48`` is no filter on both)."""
    route = request.scope.get("route")
    declared = {p.alias for p in route.dependant.query_params} if isinstance(route, APIRoute) else set()
    for name in declared:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise ApiError(422, "invalid_input", f"{name}: given {len(values)} times, expected once",
                           details=[{"field": name, "message": f"given {len(values)} times, expected once"}])


def _sub_calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _sub_calls(sub)


class DocumentedRoute(APIRoute):
    """A route whose OpenAPI entry lists the errors it can answer, read off its signature: a key
    (401, 403, 429), the engine (503), path ids (404), parameters (422), a body (413, 422), and the
    guard's timeout (504) everywhere. Routes add their own (304, 409, 412…) with ``responses=``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependant = get_dependant(path=path, call=endpoint)
        calls = set(_sub_calls(dependant))
        codes = {504}
        if any(isinstance(c, Access) for c in calls):
            codes |= {401, 403, 429}
        if _engine in calls:
            codes.add(503)
        if dependant.path_params:
            codes |= {404, 422}
        if dependant.query_params or dependant.header_params:
            codes.add(422)
        if dependant.body_params or "requestBody" in (kwargs.get("openapi_extra") or {}):
            codes |= {413, 422}
        kwargs["responses"] = {code: error(code) for code in sorted(codes)} | (kwargs.get("responses") or {})
        super().__init__(path, endpoint, **kwargs)


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
    )
    app.router.route_class = DocumentedRoute
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
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's answer to a body that is not UTF-8: malformed JSON like any other, so 422.
            message = f"malformed JSON: the body is not UTF-8 text ({exc.__cause__})"
            return _json_error(request, 422, "invalid_input", message, [{"field": "body", "message": message}])
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return _json_error(request, exc.status_code, code, message, headers=headers)

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
    v1 = APIRouter(prefix="/v1", route_class=DocumentedRoute, dependencies=[Depends(_one_value_each)])

    # --- health ---------------------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: catalogue reachable and index loaded",
             responses={503: error(503)})
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
        with engine.lock.read(), engine.transient():
            result = rec.recommend(query, body.k, today=body.on,
                                   with_excluded=with_excluded and key.role is not Role.partner)
        metrics.matches.labels("text", key.role.value).inc()
        return MatchResponse(matches=result.matches, excluded=result.excluded, index_version=rec.index.version,
                             model_version=rec.model_version)

    @v1.post("/initiatives/{initiative_id}/match", tags=["match"], response_model=MatchResponse,
             summary="Match a stored initiative (staff pins and exclusions applied)")
    def match_initiative(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(*READERS))], initiative_id: ItemId,
                         k: Annotated[int, Query(ge=1, le=50)] = 10, with_excluded: bool = False,
                         on: IsoDate | None = None) -> MatchResponse:
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
    def reverse(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))], resource_id: ItemId,
                k: Annotated[int, Query(ge=1, le=50)] = 10, on: IsoDate | None = None) -> InitiativeMatches:
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

    def crud(kind: str, model: type[Any], body_model: type[Any], *, get: Callable[[Engine, str], Any],
             upsert: Callable[[Engine, list[Any]], Any], delete: Callable[[Engine, str], None] | None,
             filters: tuple[str, ...], write_errors: dict[int | str, dict[str, Any]] | None = None) -> None:
        """List, get, create, replace (and delete) one kind of record; ``body_model`` is what writes accept
        (the record, its JSON types checked), ``write_errors`` what writes may answer besides the rest."""
        tag = kind
        write_errors = write_errors or {}

        def list_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))],
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  q: Annotated[str | None, Query(max_length=200, description="title contains")] = None,
                  **wanted: Any) -> Any:
            items, total = engine.store.page(kind, offset=offset, limit=limit, text=q, **wanted)
            return _page(items, total, offset, limit)

        list_.__doc__ = f"Filters: {', '.join(filters) or 'none'}; `q` searches titles."
        _add_filter_params(list_, filters)  # before the route is made, so that the route reads the filters
        v1.get(f"/{kind}", tags=[tag], response_model=Page[model],  # type: ignore[valid-type]
               summary=f"List {kind} (paginated, filtered)", name=f"list_{kind}")(list_)

        @v1.get(f"/{kind}/{{item_id}}", tags=[tag], response_model=model, summary=f"One of the {kind}",
                name=f"get_{kind}", responses={
                    200: {"headers": ETAG_HEADER},
                    304: {"description": "not modified: `If-None-Match` names the current ETag"}})
        def get_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))], item_id: ItemId, request: Request,
                 response: Response) -> Any:
            record = get(engine, item_id)
            return _conditional(request, response, record) or record

        @v1.post(f"/{kind}", tags=[tag], status_code=201, response_model=model, name=f"create_{kind}",
                 summary=f"Create or replace one of the {kind} (upsert by id)",
                 responses={201: {"headers": ETAG_HEADER}, **write_errors})
        def create_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))],
                    body: Annotated[body_model, Body()], response: Response) -> Any:  # type: ignore[valid-type]
            upsert(engine, [body])
            response.headers["ETag"] = _etag(body)
            return body

        @v1.put(f"/{kind}/{{item_id}}", tags=[tag], response_model=model, name=f"replace_{kind}",
                summary=f"Replace one of the {kind} (send If-Match to avoid overwriting a concurrent edit)",
                description="The `id` in the body must be the one in the path (422 otherwise).",
                responses={200: {"headers": ETAG_HEADER}, 412: error(412), **write_errors})
        def put_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], item_id: ItemId,
                 body: Annotated[body_model, Body()], request: Request,  # type: ignore[valid-type]
                 response: Response) -> Any:
            given: str = body.id  # type: ignore[attr-defined]  # body_model varies with the kind
            if given != item_id:
                raise ApiError(422, "invalid_input",
                               f"id in the body ({given!r}) differs from the path ({item_id!r})",
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
            def delete_(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))],
                        item_id: ItemId) -> Response:
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

    crud("initiatives", Initiative, InitiativeIn, get=lambda e, i: e.store.get_initiative(i),
         upsert=upsert_initiatives, delete=delete_initiative, filters=("territory", "source"))
    crud("resources", Resource, ResourceIn, get=lambda e, i: e.store.get_resource(i), upsert=upsert_resources,
         delete=delete_resource, filters=("kind", "provider_id", "source", "active"),
         write_errors={404: error(404, "unknown id, or `provider_id` names no stored provider")})
    crud("providers", Provider, ProviderIn, get=lambda e, i: e.store.get_provider(i),
         upsert=lambda e, items: e.store.upsert_providers(items), delete=None, filters=("kind", "source"))

    @v1.post("/import/{kind}", tags=["catalogue"], response_model=ImportResult,
             summary="Bulk import: a JSON array or JSON lines of records of one kind",
             description="Good rows are stored, bad ones are counted in `rejected` and named in `errors` (a row "
                         "that is not a JSON object included): the answer is 200 as long as the body can be read.",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {}}},
                 "application/x-ndjson": {"schema": {"type": "string", "pattern": r"\S"}},  # not blank
             }}})
    async def bulk_import(request: Request, engine: EngineDep,
                          kind: Literal["providers", "resources", "initiatives", "outcomes"],
                          _: Annotated[ApiKey, Depends(Access(Role.admin))]) -> ImportResult:
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
             summary="Record a decision about an (initiative, resource) pair",
             responses={404: error(404, "the initiative or the resource is unknown")})
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
            summary="Decisions recorded for an initiative or a resource",
            description="Give `initiative_id`, `resource_id` or both (422 when neither is given).")
    def list_outcomes(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))],
                      initiative_id: ItemId | None = None, resource_id: ItemId | None = None) -> list[Outcome]:
        if initiative_id is None and resource_id is None:
            raise ApiError(422, "invalid_input", "give initiative_id or resource_id",
                           details=[{"field": "initiative_id", "message": "required unless resource_id is given"}])
        return engine.store.outcomes(initiative_id=initiative_id, resource_id=resource_id)

    @v1.post("/initiatives/{initiative_id}/overrides", tags=["decisions"], status_code=201, response_model=Outcome,
             summary="Pin a resource on top of an initiative's matches, or exclude it")
    def override(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*WRITERS))], initiative_id: ItemId,
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
             responses={409: error(409, "a rebuild is already running")})
    def index_rebuild(engine: EngineDep, key: Annotated[ApiKey, Depends(Access(Role.admin))]) -> IndexStatus:
        if not engine.rebuild():
            raise ApiError(409, "rebuild_running", "a rebuild is already running")
        return index_status(engine, key)

    @v1.get("/models", tags=["ops"], response_model=list[ModelInfo], summary="Registered rankers")
    def models(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(*READERS))]) -> list[ModelInfo]:
        from matcher.registry import ModelRegistry

        registry = ModelRegistry(engine.settings.rankers_dir)
        served = registry.current_version()
        return [ModelInfo(version=m.version, kind=m.extra.get("ranker_kind"), encoder=m.encoder_id,
                          served=m.version == served, metrics=m.extra.get("metrics", {}))
                for m in registry.versions()]

    @v1.post("/models/{version}/promote", tags=["ops"], response_model=ModelInfo,
             summary="Serve a registered ranker (refused unless it beat the served one)",
             responses={409: error(409, "promotion refused by the gate")})
    def promote(engine: EngineDep, _: Annotated[ApiKey, Depends(Access(Role.admin))], version: str,
                force: bool = False) -> ModelInfo:
        from matcher.registry import ModelRegistry, PromotionRefused

        registry = ModelRegistry(engine.settings.rankers_dir)
        try:
            m = registry.promote(version, force=force)
        except PromotionRefused as exc:
            raise ApiError(409, "promotion_refused", str(exc)) from exc
        except (FileNotFoundError, ValueError, SnapshotError) as exc:
            raise ApiError(404, "not_found", f"unknown model version {version!r}") from exc
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
    """``(line, kind, record or error)`` rows: an ``application/json`` body is one array of records;
    JSON lines otherwise (``application/x-ndjson``), each line read on its own."""
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    as_array = "json" in content_type and "ndjson" not in content_type
    if as_array or ("ndjson" not in content_type and stripped.startswith("[")):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ApiError(422, "invalid_input",
                           f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        if not isinstance(payload, list):
            raise ApiError(422, "invalid_input", f"an application/json body is an array of records, got a JSON "
                           f"{type(payload).__name__} (send JSON lines as application/x-ndjson)",
                           details=[{"field": "body", "message": "expected an array"}])
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
