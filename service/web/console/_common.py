"""What every console page shares: who is signed in (``ConsoleDep``), the form of a POST (``FormDep``,
checked for its CSRF token and origin with :func:`checked`), redirects, the 404 page and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from matcher.schemas import Decision
from service.engine import Engine
from service.keys import ApiKey, Role
from service.web.dsfr import Theme
from service.web.render import render
from service.web.session import COOKIE, Session, Sessions, same_token

__all__ = ["CONSOLE_ROLES", "MATCHES_SHOWN", "OVERRIDES", "PAGE_SIZE", "SHORTLIST", "Console", "ConsoleDep", "FormDep",
           "Refused", "SignInRequired", "checked", "console_router", "current_console", "not_found", "pagination",
           "redirect", "same_origin", "sessions_of"]

PAGE_SIZE = 25
MATCHES_SHOWN = 10
CONSOLE_ROLES = (Role.staff, Role.admin)
# A resource is on an initiative's shortlist while its latest decision is one of these.
SHORTLIST = (Decision.shortlisted, Decision.contacted, Decision.applied, Decision.obtained)
OVERRIDES = (Decision.pinned, Decision.excluded)


class SignInRequired(Exception):
    """No valid session (absent, tampered, expired, signed out, or its key revoked): back to the sign-in page."""


class Refused(Exception):
    """A form without the right CSRF token, or from another origin: nothing was done."""


@dataclass(frozen=True)
class Console:
    """Who is signed in, and the engine the page works with."""

    key: ApiKey
    session: Session
    engine: Engine
    theme: Theme

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(template, status, theme=self.theme, staff=self.key, csrf=self.session.csrf, **context)


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.console_sessions
    return sessions


def current_console(request: Request) -> Console:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise SignInRequired  # the sign-in page says the service is starting
    session = sessions_of(request).read(request.cookies.get(COOKIE))
    if session is None or request.app.state.keys.session_ended(session.id):
        raise SignInRequired
    key = next((k for k in request.app.state.keys.list() if k.id == session.key_id), None)
    if key is None or not key.active or key.role not in CONSOLE_ROLES:
        raise SignInRequired
    return Console(key, session, engine, request.app.state.dsfr)


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the first value of each); the Guard already bounds the body size."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise Refused
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        return dict(reversed(parse_qsl(body, keep_blank_values=True, max_num_fields=50)))
    except ValueError as exc:  # more fields than any console form has
        raise Refused from exc


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def checked(request: Request, console: Console, form: dict[str, str]) -> None:
    if not same_origin(request) or not same_token(form.get("csrf"), console.session.csrf):
        raise Refused


ConsoleDep = Annotated[Console, Depends(current_console)]
FormDep = Annotated[dict[str, str], Depends(read_form)]


def console_router() -> APIRouter:
    """A router of console pages: under ``/console``, left out of the API's OpenAPI schema."""
    return APIRouter(prefix="/console", include_in_schema=False)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def not_found(console: Console, what: str, item_id: str, back: str) -> Response:
    return console.page("error.html", 404, heading=f"{what} introuvable",
                        message=f"Aucune {what.lower()} n'a l'identifiant « {item_id} ».", back=back, nav="")


def pagination(base: str, params: dict[str, str], page: int, total: int) -> dict[str, Any]:
    pages = max(1, -(-total // PAGE_SIZE))
    kept = {k: v for k, v in params.items() if v}

    def url(n: int) -> str:
        return f"{base}?{urlencode(kept | {'page': str(n)})}"

    window = [(n, url(n)) for n in range(max(1, page - 2), min(pages, page + 2) + 1)]
    return {"page": page, "pages": pages, "total": total, "limit": PAGE_SIZE, "window": window,
            "first_url": url(1), "last_url": url(pages),
            "prev_url": url(page - 1) if page > 1 else None, "next_url": url(page + 1) if page < pages else None}

