"""The service's web faces: the partner widget (``/widget.js``, ``/widget/demo``), the staff console
(``/console``) and the pages of alert links (``/alertes``). :func:`mount` adds them to the API app; the API
itself is unchanged by them."""

from __future__ import annotations

from fastapi import FastAPI, Response

from service.web import alerts, console, widget
from service.web.render import HERE
from service.web.session import Sessions, server_secret

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the widget, its demo page, the console and their stylesheet to ``app``."""
    css = (HERE / "static" / "maillage.css").read_bytes()

    @app.get("/static/maillage.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=300"})

    widget.install(app)
    alerts.install(app)
    console.install(app, Sessions(server_secret(app.state.settings)))
