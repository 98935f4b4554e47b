"""The pages every footer links to, in French and open to anyone: the accessibility statement
(``/accessibilite``), the legal notice (``/mentions-legales``) and the personal-data page
(``/donnees-personnelles``: the privacy notice, the same page as ``/confidentialite``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.web.privacy import notice
from service.web.render import ACCESSIBILITY_STATUS, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# The pages the automated accessibility checks cover (tests/service/test_browser.py), as the
# statement lists them.
TESTED_PAGES = (
    "la connexion à la console", "la liste des initiatives", "la fiche d'une initiative et ses suggestions "
    "(ordinateur et téléphone)", "la fiche d'une ressource", "la liste des ressources", "l'état du service",
    "le widget sur un site partenaire (formulaire, résultats, ordinateur et téléphone)",
    "la page de démonstration du widget", "cette déclaration, les mentions légales et la page des données "
    "personnelles",
)


@router.get("/accessibilite")
def accessibility(request: Request) -> Response:
    return render("accessibilite.html", theme=request.app.state.dsfr, status_text=ACCESSIBILITY_STATUS,
                  tested=TESTED_PAGES)


@router.get("/mentions-legales")
def legal_notice(request: Request) -> Response:
    return render("mentions_legales.html", theme=request.app.state.dsfr)


@router.get("/donnees-personnelles")
def personal_data(request: Request) -> Response:
    return notice(request)
