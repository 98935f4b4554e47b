"""The staff console under ``/console``: server-rendered French pages in the DSFR; no script of its own (the
DSFR's scripts open the header's menu on small screens, and every page works without them on a desktop).

Staff sign in with a staff or admin key and get a signed session cookie (:mod:`service.web.session`).
Pages match through the engine, as the API routes do (``Engine.recommend``, which takes the read lock),
and use the catalogue for everything else. Every form carries the session's CSRF token; a decision is
confirmed to the user only once it has been committed and read back from the catalogue.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from service.web.console import alerts, exports, initiatives, observatory, privacy, resources, signin
from service.web.console._common import Refused, SignInRequired, redirect
from service.web.render import render
from service.web.session import COOKIE, Sessions

__all__ = ["install"]


def install(app: FastAPI, sessions: Sessions) -> None:
    """Add the console's routes and its two exception handlers to ``app``."""
    app.state.console_sessions = sessions

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        response = redirect("/console/connexion")
        if request.cookies.get(COOKIE):
            response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        return render("error.html", 403, theme=request.app.state.dsfr, heading="Action refusée",
                      message="Ce formulaire a expiré ou ne vient pas de la console : rien n'a été fait. "
                              "Rechargez la page et recommencez.", back="/console")

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Refused, refused)
    for module in (signin, initiatives, exports, resources, privacy, observatory, alerts):
        app.include_router(module.router)
