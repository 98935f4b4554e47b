"""Signing in with a staff or admin key (a signed session cookie follows), and out."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from fastapi import Request, Response

from service.web.console._common import (
    CONSOLE_ROLES,
    ConsoleDep,
    FormDep,
    SignInRequired,
    checked,
    console_router,
    current_console,
    redirect,
    same_origin,
    sessions_of,
)
from service.web.render import render
from service.web.session import COOKIE, SIGNIN_COOKIE, same_token

__all__ = ["router"]

log = logging.getLogger("maillage.console")

router = console_router()


@router.get("")
def home() -> Response:
    return redirect("/console/initiatives")


def _signin_page(request: Request, status: int = 200, error: str | None = None,
                 notice: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render("signin.html", status, theme=request.app.state.dsfr, csrf=token, error=error, notice=notice)
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/connexion")
def signin_form(request: Request, sortie: str | None = None) -> Response:
    if request.app.state.engine is None:
        return _signin_page(request, 503, error="Le service démarre : réessayez dans quelques secondes.")
    try:
        current_console(request)
    except SignInRequired:
        return _signin_page(request, notice="Vous êtes déconnecté." if sortie else None)
    return redirect("/console/initiatives")


@router.post("/connexion")
def signin(request: Request, form: FormDep) -> Response:
    ip = request.client.host if request.client else "unknown"
    if request.app.state.ip_buckets.take(ip):
        return _signin_page(request, 429, error="Trop de tentatives : patientez une minute avant de réessayer.")
    if not same_origin(request) or not same_token(form.get("csrf"), request.cookies.get(SIGNIN_COOKIE)):
        return _signin_page(request, 403, error="Le formulaire a expiré : saisissez de nouveau votre clé.")
    if request.app.state.engine is None:
        return _signin_page(request, 503, error="Le service démarre : réessayez dans quelques secondes.")
    key = request.app.state.keys.authenticate(form.get("cle", ""))
    if key is None:
        return _signin_page(request, 401, error="Clé inconnue ou révoquée.")
    if key.role not in CONSOLE_ROLES:
        return _signin_page(request, 403, error=f"Une clé « {key.role.value} » ne donne pas accès à la console : "
                                                "il faut une clé d'équipe (staff) ou d'administration (admin).")
    value, _ = sessions_of(request).issue(key.id)
    log.info("console: %s (%s) signed in", key.name, key.id)
    response = redirect("/console/initiatives")
    response.set_cookie(COOKIE, value, max_age=sessions_of(request).max_age_s, path="/console", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@router.post("/deconnexion")
def signout(request: Request, console: ConsoleDep, form: FormDep) -> Response:
    checked(request, console, form)
    request.app.state.keys.end_session(console.session.id, datetime.fromtimestamp(console.session.expires, UTC))
    log.info("console: %s (%s) signed out", console.key.name, console.key.id)
    response = redirect("/console/connexion?sortie=1")
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return response
