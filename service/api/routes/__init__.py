"""One router per resource: the probes at the root (:mod:`~service.api.routes.ops`), the rest under ``/v1``."""

from fastapi import APIRouter

from service.api.routes import audit, catalogue, decisions, imports, match, ops, plan, subscriptions, widget

__all__ = ["ROUTERS"]

# In the order of the OpenAPI schema (and of matching: the first route that fits a path serves it).
ROUTERS: tuple[APIRouter, ...] = (ops.probes, match.router, plan.router, widget.router, catalogue.router,
                                  imports.router, decisions.router, subscriptions.router, ops.router, audit.router)
