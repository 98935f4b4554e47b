"""How routes are made: a route class whose OpenAPI entry lists the errors its signature can lead to
(one ``ErrorBody`` description per status), and the ``/v1`` router each resource's module starts from."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from matcher import jsonio
from service.api.deps import Access, get_engine, one_value_each
from service.guard import ApiError, ErrorBody

__all__ = ["ETAG_HEADER", "DocumentedRoute", "error", "too_deep", "v1_router"]

_ERROR_TEXT = {
    400: f"JSON nested more than {jsonio.MAX_JSON_DEPTH} levels deep (`json_too_deep`)",
    401: "no key, or a key that is unknown or revoked",
    403: "the key's role or origin does not allow this",
    404: "unknown id",
    409: "conflict with the current state",
    412: "the record changed since it was read (its ETag differs from `If-Match`)",
    413: "request body too large",
    422: "invalid input; `details` names each field",
    429: "rate limit; retry after `Retry-After` seconds",
    503: "the service is starting, or the catalogue cannot be reached or refuses writes (read-only, locked): "
         "`store_unavailable`, retry after `Retry-After` seconds",
    507: "the catalogue's disk is full (`storage_full`): nothing of this request was written",
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
    (401, 403, 429), the engine (503, and 507 for a write), path ids (404), parameters (422), a body
    (400, 413, 422), and the guard's timeout (504) everywhere. Routes add their own (304, 409, 412…)
    with ``responses=``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependant = get_dependant(path=path, call=endpoint)
        calls = set(_sub_calls(dependant))
        codes = {504}
        if any(isinstance(c, Access) for c in calls):
            codes |= {401, 403, 429}
        if get_engine in calls:
            codes.add(503)
            if set(kwargs.get("methods") or ()) - {"GET", "HEAD"}:
                codes.add(507)  # a write may meet a full disk
        if dependant.path_params:
            codes |= {404, 422}
        if dependant.query_params or dependant.header_params:
            codes.add(422)
        if dependant.body_params or "requestBody" in (kwargs.get("openapi_extra") or {}):
            codes |= {400, 413, 422}
        kwargs["responses"] = {code: error(code) for code in sorted(codes)} | (kwargs.get("responses") or {})
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind the one JSON nesting limit: Python's decoder recurses per level, so
        a body nested 50,000 deep would end in ``RecursionError``. JSON lines are left to the import,
        which refuses a deep line by its number."""
        handler = super().get_route_handler()

        async def depth_checked(request: Request) -> Response:
            content_type = request.headers.get("content-type", "")
            if request.method in _WITH_BODY and "ndjson" not in content_type and (
                    not content_type or "json" in content_type):
                body = await request.body()  # kept by the request: FastAPI's handler reads it again for free
                try:
                    jsonio.check_depth(body.decode("utf-8", "replace"))
                except jsonio.JsonTooDeep as exc:
                    raise too_deep(exc) from exc
            return await handler(request)

        return depth_checked


_WITH_BODY = frozenset({"PATCH", "POST", "PUT"})


def too_deep(exc: jsonio.JsonTooDeep) -> ApiError:
    """The API's one answer to JSON nested past the limit: 400 ``json_too_deep``, on every endpoint."""
    return ApiError(400, "json_too_deep", str(exc), details=[{"field": "body", "message": str(exc)}])


def v1_router(tag: str | None = None) -> APIRouter:
    """A router of ``/v1`` routes (tagged ``tag``): each documents its errors, and a query parameter
    given twice is refused."""
    return APIRouter(prefix="/v1", route_class=DocumentedRoute, dependencies=[Depends(one_value_each)],
                     tags=[tag] if tag else None)
