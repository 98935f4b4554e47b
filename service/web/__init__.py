"""The service's web faces: the partner widget (``/widget.js``, ``/widget/demo``), the staff console
(``/console``), the pages every footer links to (``/accessibilite``, ``/mentions-legales``,
``/donnees-personnelles``) and the pages of alert links (``/alertes``). :func:`mount` adds them to the
API app; the API itself is unchanged by them."""

from __future__ import annotations

from fastapi import FastAPI, Response

from service.web import alerts, console, legal, privacy, widget
from service.web.dsfr import Theme, load_theme
from service.web.render import HERE, error_page
from service.web.session import Sessions, server_secret

__all__ = ["mount"]

_STATIC = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
# Icons are CSS masks, fetched in CORS mode: the widget's come from this origin to the partner's page.
_SHARED = _STATIC | {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}


def _static_routes(app: FastAPI, theme: Theme) -> None:
    css = (HERE / "static" / "maillage.css").read_bytes()

    @app.get("/static/maillage.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css; charset=utf-8", headers=_STATIC)

    @app.get("/static/dsfr.css", include_in_schema=False)
    def dsfr_stylesheet() -> Response:
        return Response(theme.console_css, media_type="text/css; charset=utf-8", headers=_STATIC)

    @app.get("/widget.css", include_in_schema=False)
    def widget_stylesheet() -> Response:
        return Response(theme.widget_css, media_type="text/css; charset=utf-8", headers=_SHARED)

    @app.get("/static/dsfr/{name:path}", include_in_schema=False)
    def dsfr_file(name: str) -> Response:
        found = theme.file(name)
        if found is None:
            return Response("Fichier introuvable.", status_code=404, media_type="text/plain; charset=utf-8")
        return Response(found[0], media_type=found[1], headers=_SHARED)


def mount(app: FastAPI) -> None:
    """Add the widget, its demo page, the console, the legal pages and their stylesheets to ``app``."""
    theme = load_theme(app.state.settings)
    app.state.dsfr = theme
    app.state.html_page = lambda status, message: error_page(theme, status, message)
    _static_routes(app, theme)
    widget.install(app)
    privacy.install(app)
    alerts.install(app)
    console.install(app, Sessions(server_secret(app.state.settings)))
    app.include_router(legal.router)
