"""Operations: the liveness and readiness probes and Prometheus metrics (at the root, ``probes``), the
served index and its rebuild, the registered rankers and their promotion (under ``/v1``, ``router``)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import generate_latest

from indexes import SnapshotError
from matcher.registry import ModelRegistry, PromotionRefused
from matcher.schemas import ItemId
from service.api import status
from service.api.deps import AdminKey, EngineDep, MetricsDep, ReaderKey
from service.api.errors import json_error
from service.api.routing import DocumentedRoute, error, v1_router
from service.api_models import IndexStatus, ModelInfo
from service.audit import record
from service.engine import Engine
from service.guard import ApiError

__all__ = ["probes", "router"]

probes = APIRouter(route_class=DocumentedRoute, tags=["ops"])
router = v1_router("ops")


# The probes never queue behind matches: /healthz runs on the event loop itself, /readyz's catalogue
# check in a thread of its own (neither the shared pool nor admission control's), bounded in time.
_PROBE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maillage-probe")
_PROBE_TIMEOUT_S = 2.0


@probes.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/readyz", summary="Readiness: catalogue reachable and index loaded", responses={503: error(503)})
async def readyz(request: Request) -> Any:
    engine: Engine | None = request.app.state.engine
    if engine is None:
        return json_error(request, 503, "not_ready", "le service démarre ; réessayez dans quelques secondes")
    try:
        await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_PROBE_POOL, engine.store.counts),
                               timeout=_PROBE_TIMEOUT_S)
    except Exception:
        return json_error(request, 503, "store_unavailable", "le catalogue est injoignable")
    return {"status": "ready", "index_version": engine.state.version, "resources": engine.state.count}


@probes.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def prometheus(request: Request, _: ReaderKey, metrics: MetricsDep) -> PlainTextResponse:
    engine: Engine | None = request.app.state.engine
    if engine is not None:
        metrics.index_items.set(engine.state.count)
        metrics.live_changes.set(engine.state.live_changes)
    return PlainTextResponse(generate_latest(metrics.registry).decode(), media_type="text/plain; version=0.0.4")


@router.get("/index", response_model=IndexStatus, summary="The served index")
def index_status(engine: EngineDep, _: ReaderKey) -> IndexStatus:
    return status.index_status(engine)


@router.post("/index/rebuild", status_code=202, response_model=IndexStatus,
             summary="Rebuild the index in the background and swap it in when ready",
             responses={409: error(409, "une reconstruction de l'index est déjà en cours")})
def index_rebuild(engine: EngineDep, key: AdminKey) -> IndexStatus:
    if not engine.rebuild():
        raise ApiError(409, "rebuild_running", "une reconstruction de l'index est déjà en cours")
    record(engine.store, key, "index.rebuild")
    return status.index_status(engine)


@router.get("/models", response_model=list[ModelInfo], summary="Registered rankers")
def models(engine: EngineDep, _: ReaderKey) -> list[ModelInfo]:
    return status.registered_models(engine.settings.rankers_dir)


@router.post("/models/{version}/promote", response_model=ModelInfo,
             summary="Serve a registered ranker (refused unless it beat the served one)",
             responses={409: error(409, "promotion refused by the gate")})
def promote(engine: EngineDep, key: AdminKey, version: ItemId, force: bool = False) -> ModelInfo:
    registry = ModelRegistry(engine.settings.rankers_dir)
    try:
        m = registry.promote(version, force=force)
    except PromotionRefused as exc:
        raise ApiError(409, "promotion_refused", str(exc)) from exc
    except (FileNotFoundError, ValueError, SnapshotError) as exc:
        raise ApiError(404, "not_found", f"version de modèle inconnue « {version} »") from exc
    engine.reload_model()
    record(engine.store, key, "model.promote", target_kind="model", target_id=version, detail={"forced": force})
    return status.model_info(m, served=True)
