"""What the API's ``/v1/index`` and ``/v1/models`` and the console's status page report, built once."""

from __future__ import annotations

from pathlib import Path

from indexes import Manifest
from matcher.registry import ModelRegistry
from service.api_models import IndexStatus, ModelInfo
from service.engine import Engine

__all__ = ["index_status", "model_info", "registered_models"]


def index_status(engine: Engine) -> IndexStatus:
    """The served index: version, size, live changes, whether the catalogue moved on since its build."""
    s = engine.state
    return IndexStatus(version=s.version, resources=s.count, encoder=s.encoder_id, built_at=s.built_at,
                       live_changes=s.live_changes, rebuilding=engine.rebuilding, stale=engine.stale,
                       repaired_at_start=s.repaired, last_rebuild_error=s.last_rebuild_error,
                       fallback_from=s.fallback_from, note=s.note)


def model_info(m: Manifest, *, served: bool) -> ModelInfo:
    """One registered ranker, as its manifest describes it."""
    return ModelInfo(version=m.version, kind=m.extra.get("ranker_kind"), encoder=m.encoder_id, served=served,
                     metrics=m.extra.get("metrics", {}))


def registered_models(rankers_dir: Path) -> list[ModelInfo]:
    """Every registered ranker, oldest first, and which one is served."""
    registry = ModelRegistry(rankers_dir)
    served = registry.current_version()
    return [model_info(m, served=m.version == served) for m in registry.versions()]
