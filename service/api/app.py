"""The app factory: settings, the engine started once per worker in the lifespan, error handlers, the
routers, the guard (limits, CORS, timeouts) and the web faces (widget and console)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from indexes.onnx_runtime import set_threads
from service.admission import Admission
from service.api import errors
from service.api.routes import ROUTERS
from service.api.routing import DocumentedRoute
from service.engine import Engine
from service.guard import Guard, Metrics, TokenBuckets
from service.keys import KeyStore
from service.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("maillage.api")

_DESCRIPTION = (
    "Authenticate with `Authorization: Bearer <key>`. Errors always have the shape "
    "`{\"error\": {\"code\", \"message\", \"details\", \"request_id\"}}`. Listings are paginated with "
    "`offset`/`limit`; single records carry an `ETag` (send `If-None-Match` to revalidate, "
    "`If-Match` to update safely)."
)
# How long the set of partner origins allowed by CORS is kept before the key store is read again.


def create_app(settings: Settings | None = None, *, engine_factory: Callable[[Settings], Engine] | None = None,
               start_engine: bool = True) -> FastAPI:
    """The ASGI app. ``engine_factory`` lets tests inject an encoder; ``start_engine=False`` leaves the
    engine to the caller (``app.state.engine``)."""
    settings = settings or Settings()
    app = FastAPI(
        title="Maillage API",
        version="1",
        summary="Matches citizen initiatives with State resources, explained per criterion.",
        description=_DESCRIPTION,
        lifespan=_lifespan(settings, engine_factory, start_engine),
    )
    app.router.route_class = DocumentedRoute
    app.state.engine = None
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.ip_buckets = TokenBuckets(settings.rate_per_ip)
    app.state.key_buckets = TokenBuckets(settings.rate_per_key)
    app.state.admission = Admission.from_settings(settings, metrics)  # matches: bounded, shed, cancelled
    allowed_origins = _origins(app)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        Guard, max_body=settings.max_body_bytes, timeout_s=settings.request_timeout_s, metrics=metrics,
        allowed_origins=allowed_origins, refuse_early=app.state.admission.refuse_early,
        html_page=lambda status, message: app.state.html_page(status, message) if hasattr(app.state, "html_page")
        else None,
    )
    try:
        from service.web import mount as mount_web  # the widget and console (issue of the front end)
    except ImportError:  # pragma: no cover - front end not installed
        pass
    else:
        mount_web(app)
    return app


def _lifespan(settings: Settings, engine_factory: Callable[[Settings], Engine] | None,
              start_engine: bool) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_engine:
            set_threads(settings.serving_encoder_threads)  # every encoder session this worker opens
            engine = (engine_factory or Engine)(settings)
            engine.start(demo_when_empty=settings.demo_when_empty, poll_interval=settings.sync_interval_s or None)
            app.state.engine = engine
            app.state.keys = KeyStore(engine.store)
            log.info("index %s ready: %d resources", engine.state.version, engine.state.count)
        try:
            yield
        finally:
            app.state.admission.close()
            if start_engine and app.state.engine is not None:
                app.state.engine.close()

    return lifespan


def _origins(app: FastAPI) -> Callable[[], set[str]]:
    """The origins of the active partner keys (for CORS), read on every cross-origin request to the
    widget's endpoints, so that revoking a key drops its origin at once (it lasted up to 5 s)."""

    def allowed_origins() -> set[str]:
        if app.state.engine is None:
            return set()
        origins: set[str] = app.state.keys.active_origins()
        return origins

    return allowed_origins
