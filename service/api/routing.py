"""How routes are made: a route class whose OpenAPI entry lists the errors its signature can lead to
(one ``ErrorBody`` description per status), and the ``/v1`` router each resource's module starts from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from service.api.deps import Access, get_engine, one_value_each
from service.guard import ErrorBody

__all__ = ["ETAG_HEADER", "DocumentedRoute", "error", "v1_router"]

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
        if get_engine in calls:
            codes.add(503)
        if dependant.path_params:
            codes |= {404, 422}
        if dependant.query_params or dependant.header_params:
            codes.add(422)
        if dependant.body_params or "requestBody" in (kwargs.get("openapi_extra") or {}):
            codes |= {413, 422}
        kwargs["responses"] = {code: error(code) for code in sorted(codes)} | (kwargs.get("responses") or {})
        super().__init__(path, endpoint, **kwargs)


def v1_router(tag: str | None = None) -> APIRouter:
    """A router of ``/v1`` routes (tagged ``tag``): each documents its errors, and a query parameter
    given twice is refused."""
    return APIRouter(prefix="/v1", route_class=DocumentedRoute, dependencies=[Depends(one_value_each)],
                     tags=[tag] if tag else None)
