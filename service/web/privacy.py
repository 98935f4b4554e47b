"""The citizen's pages about their data: the privacy notice (``/confidentialite``, linked from the
widget's consent box) and the deletion link's confirmation (``/suppression/<token>``, a link that mails
carry, made by :func:`service.privacy.deletion_link`).

Opening a deletion link erases nothing (mail scanners open links): it shows what will be erased and a
button; only that form's POST, from this site, erases, through :func:`service.privacy.erase`.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request, Response

from matcher.store import NotFoundError
from service.audit import CITIZEN
from service.engine import Engine
from service.privacy import DELETION_PATH, deletion_target, erase
from service.settings import Settings
from service.web.console._common import same_origin
from service.web.render import render

__all__ = ["install"]

log = logging.getLogger("maillage.web")

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/confidentialite")
def notice(request: Request) -> Response:
    s = _settings(request)
    return render("privacy.html", theme=request.app.state.dsfr, settings=s, retention_months=s.retention_months, nav="")


def _refused(request: Request, message: str, status: int = 404) -> Response:
    return render("deletion.html", status, _HEADERS, theme=request.app.state.dsfr, state="refused", message=message,
                  nav="")


@router.get(DELETION_PATH + "/{token}")
def confirm(request: Request, token: str) -> Response:
    target = deletion_target(_settings(request), token)
    if target is None:
        return _refused(request, "Ce lien de suppression n'est pas valide ou a expiré. Écrivez au contact indiqué "
                        "dans la notice de confidentialité pour demander la suppression de votre projet.")
    engine: Engine | None = request.app.state.engine
    if engine is None:
        return _refused(request, "Le service démarre : réessayez dans quelques secondes.", 503)
    try:
        ini = engine.store.get_initiative(target)
    except NotFoundError:
        return render("deletion.html", 200, _HEADERS, theme=request.app.state.dsfr, state="gone", nav="")
    return render("deletion.html", 200, _HEADERS, theme=request.app.state.dsfr, state="confirm", title=ini.title,
                  token=token, nav="")


@router.post(DELETION_PATH + "/{token}")
def delete(request: Request, token: str) -> Response:
    target = deletion_target(_settings(request), token)
    if target is None or not same_origin(request):
        return _refused(request, "Ce lien de suppression n'est pas valide ou a expiré : rien n'a été effacé.", 403)
    engine: Engine | None = request.app.state.engine
    if engine is None:
        return _refused(request, "Le service démarre : rien n'a été effacé. Réessayez dans quelques secondes.", 503)
    try:
        erase(engine.settings, engine.store, [target], CITIZEN, engine=engine)
    except NotFoundError:
        return render("deletion.html", 200, _HEADERS, theme=request.app.state.dsfr, state="gone", nav="")
    log.info("a citizen erased their initiative through a deletion link")
    return render("deletion.html", 200, _HEADERS, theme=request.app.state.dsfr, state="done", nav="")


def install(app: FastAPI) -> None:
    app.include_router(router)
