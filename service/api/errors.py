"""Domain errors into HTTP answers, all in one shape: ``{"error": {"code", "message", "details",
"request_id"}}``. The core raises plain exceptions; only this module turns them into status codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from matcher import territory
from matcher.errors_fr import french_json_error, french_message
from matcher.schemas import describe_validation_error
from matcher.store import NotFoundError, StoreError
from service.api import storage_faults
from service.background import IndexNotReady, not_ready_message
from service.guard import ApiError, error_body, wants_html

__all__ = ["install", "json_error"]

log = logging.getLogger("maillage.api")

_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def json_error(request: Request, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """An error answer in the API's one shape, carrying the request's id; a browser asking for a page
    gets the same French message as an HTML page (:func:`service.guard.wants_html`)."""
    page_of = getattr(request.app.state, "html_page", None)
    if page_of is not None and wants_html(request.url.path, request.headers.get("accept", "")):
        page = page_of(status, message)
        if page is not None:
            return Response(page[0], status_code=status, media_type="text/html; charset=utf-8",
                            headers={**(headers or {}), **page[1]})
    return Response(error_body(code, message, _request_id(request), details), status_code=status,
                    media_type="application/json", headers=headers)


def _validation_details(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    """One detail per problem: ``field`` and a French ``message`` for people, pydantic's ``type`` and
    ``loc`` (English machine codes) for programs."""
    out = []
    for e in exc.errors():
        raw_loc = tuple(e.get("loc", ()))
        loc = [str(p) for p in raw_loc if p not in ("body",)]
        field = ".".join(loc) or ("body" if raw_loc == ("body",) else None)
        msg = french_message(e)
        if e.get("type") == "json_invalid":  # loc is ("body", offset): the offset is no field
            field = "body"
            why = french_json_error((e.get("ctx") or {}).get("error", ""))
            msg = f"JSON mal formé : {why} au caractère {raw_loc[-1]}"
        out.append({"field": field, "message": msg, "type": str(e.get("type", "")),
                    "loc": [p if isinstance(p, int) else str(p) for p in raw_loc]})
    return out


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path: the router's own 405 names only the first route's.
    Asked of the routes themselves (``matches``), since included routers are not flattened."""
    routes = request.app.router.routes
    return ", ".join(m for m in _METHODS
                     if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes))


async def _api_error(request: Request, exc: ApiError) -> Response:
    return json_error(request, exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    details = _validation_details(exc)
    first = details[0] if details else {"field": None, "message": "requête invalide"}
    where = f"{first['field']} : " if first["field"] else ""
    return json_error(request, 422, "invalid_input", f"{where}{first['message']}", details)


async def _invalid_model(request: Request, exc: ValidationError) -> Response:
    return json_error(request, 422, "invalid_input", "; ".join(describe_validation_error(exc)),
                      _validation_details(exc))


async def _not_found(request: Request, exc: NotFoundError) -> Response:
    return json_error(request, 404, "not_found", str(exc))


async def _not_ready(request: Request, exc: IndexNotReady) -> Response:
    return json_error(request, 503, "index_not_ready", not_ready_message(exc),
                      headers={"Retry-After": str(exc.retry_after)})


async def _bad_territory(request: Request, exc: territory.TerritoryError) -> Response:
    return json_error(request, 422, "invalid_input", str(exc), [{"field": "territory", "message": str(exc)}])


async def _storage_fault(request: Request, exc: Exception) -> Response:
    """A database or disk that refuses the write: 503 or 507 (:mod:`service.api.storage_faults`);
    anything else of the same class is a bug, answered as one."""
    fault = storage_faults.classify(exc)
    if fault is None:
        return await _unexpected(request, exc)
    request.app.state.store_incidents.met(fault, exc, f"{request.method} {request.url.path}")
    headers = {"Retry-After": "30"} if fault.status == 503 else None
    return json_error(request, fault.status, fault.code, fault.message, headers=headers)


async def _store_error(request: Request, exc: StoreError) -> Response:
    log.error("store error: %s", exc)
    return json_error(request, 503, "store_unavailable", "le catalogue est injoignable ; rien n'a été enregistré")


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's answer to a body that is not UTF-8: malformed JSON like any other, so 422.
        message = f"JSON mal formé : le corps de la requête n'est pas du texte UTF-8 ({exc.__cause__})"
        return json_error(request, 422, "invalid_input", message, [{"field": "body", "message": message}])
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = _HTTP_FR.get(exc.status_code, f"requête refusée (HTTP {exc.status_code})")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return json_error(request, exc.status_code, code, message, headers=headers)


_HTTP_FR = {404: "aucun point d'accès à cette adresse", 405: "méthode non permise à cette adresse",
            400: "requête mal formée", 401: "authentification requise", 403: "accès refusé"}


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_error(request, 500, "internal_error",
                      "erreur inattendue ; communiquez l'identifiant de la requête aux exploitants")


_HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (ApiError, _api_error),
    (RequestValidationError, _invalid),
    (ValidationError, _invalid_model),
    (NotFoundError, _not_found),
    (IndexNotReady, _not_ready),
    (territory.TerritoryError, _bad_territory),
    (StoreError, _store_error),
    (DBAPIError, _storage_fault),
    (OSError, _storage_fault),
    (StarletteHTTPException, _http_error),
    (Exception, _unexpected),
)


def install(app: FastAPI) -> None:
    """Register every handler on ``app``, in the order above."""
    app.state.store_incidents = storage_faults.Incidents()
    for exc_class, handler in _HANDLERS:
        app.add_exception_handler(exc_class, handler)
