"""What routes depend on, as ``Annotated`` aliases: the caller's key checked for a role
(``ReaderKey``, ``WriterKey``, ``AdminKey``, ``WidgetKey``), the engine, the metrics.

Roles (see :mod:`service.keys`): ``partner`` keys reach only the widget's endpoints (free-text match,
commune search, consented submissions) and only from their allowed origins; ``read-only`` reads;
``staff`` also writes the catalogue and decisions; ``admin`` also rebuilds the index, promotes
models and imports in bulk.
"""

import logging
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from service.api import storage_faults
from service.engine import Engine
from service.guard import ApiError, Metrics, retry_after
from service.keys import ApiKey, Role

__all__ = ["READERS", "WIDGET", "WRITERS", "Access", "AdminKey", "EngineDep", "MetricsDep", "PartnerKey", "ReaderKey",
           "WidgetKey", "WriterKey", "get_engine", "one_value_each"]

log = logging.getLogger("maillage.api")

READERS = (Role.admin, Role.staff, Role.read_only)
WRITERS = (Role.admin, Role.staff)
WIDGET = (Role.admin, Role.staff, Role.read_only, Role.partner)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer mk_…`")
_api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="the key, when a bearer cannot be sent")


class Access:
    """Dependency: authenticates the key, checks role, origin and rate limits.

    The other dependencies of this module are ``async``: they read only the app's state, so FastAPI
    runs them on the event loop instead of handing each to a thread of its pool (a match request
    crossed four threads before its work started). This one reads the key store, so it stays a
    thread's work.

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
            raise ApiError(429, "rate_limited", f"trop de requêtes depuis {ip}", headers=retry_after(wait))
        key = self._authenticate(request, bearer.credentials if bearer is not None else header or "")
        wait = app.state.key_buckets.take(key.id)
        if wait:
            raise ApiError(429, "rate_limited", f"trop de requêtes pour la clé {key.id}", headers=retry_after(wait))
        if key.role not in self.roles:
            raise ApiError(403, "forbidden", f"une clé {key.role.value} ne donne pas accès à ce point d'accès")
        origin = request.headers.get("origin")
        if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
            origin = f"{request.url.scheme}://{request.url.netloc}"  # browsers omit Origin on same-origin GETs
        if key.role is Role.partner and (origin is None or origin not in key.origins):
            raise ApiError(403, "origin_not_allowed",
                           f"origin {origin or '(none)'} is not allowed for this partner key")
        request.state.key = key
        return key

    @staticmethod
    def _authenticate(request: Request, token: str) -> ApiKey:
        if not token:
            raise ApiError(401, "missing_key", "une clé d'API est requise (Authorization: Bearer … ou X-Api-Key)",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            key: ApiKey | None = request.app.state.keys.authenticate(token)
        except SQLAlchemyError as exc:  # the catalogue is down: say so, and log it once per incident
            fault = storage_faults.classify(exc) or storage_faults.UNREACHABLE
            request.app.state.store_incidents.met(fault, exc, f"key check of {request.method} {request.url.path}")
            raise ApiError(503, "store_unavailable", storage_faults.KEY_CHECK_UNAVAILABLE,
                           headers={"Retry-After": "30"}) from exc
        if key is None:
            raise ApiError(401, "invalid_key", "la clé d'API est inconnue ou révoquée",
                           headers={"WWW-Authenticate": "Bearer"})
        return key


ReaderKey = Annotated[ApiKey, Depends(Access(*READERS))]
WriterKey = Annotated[ApiKey, Depends(Access(*WRITERS))]
AdminKey = Annotated[ApiKey, Depends(Access(Role.admin))]
WidgetKey = Annotated[ApiKey, Depends(Access(*WIDGET))]
PartnerKey = Annotated[ApiKey, Depends(Access(Role.partner))]
"""Only a partner key stores what a citizen submits through a widget; staff write through the catalogue."""


async def get_engine(request: Request) -> Engine:
    """The worker's engine; 503 while the service is starting."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise ApiError(503, "not_ready", "le service démarre ; réessayez dans quelques secondes")
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(_metrics)]


async def one_value_each(request: Request) -> None:
    """Dependency of every ``/v1`` route: a query parameter given twice is refused, where FastAPI would
    silently keep the last value (``?territory=93&territory=48`` is no filter on both)."""
    route = request.scope.get("route")
    declared = {p.alias for p in route.dependant.query_params} if isinstance(route, APIRoute) else set()
    for name in declared:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise ApiError(422, "invalid_input", f"{name}: given {len(values)} times, expected once",
                           details=[{"field": name, "message": f"given {len(values)} times, expected once"}])
