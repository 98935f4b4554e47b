"""What a worker serves when it starts: the recommender (with the registry's ranker, or the prior),
warmed up so that no request builds anything (:func:`warm_up`), and the fallback on a damaged disk.

Start-up on a damaged disk: the published snapshot is corrupt and no new one can be written (a full
disk truncated it, and the rebuild fails the same way). The newest sound older snapshot is served
instead, and the catalogue's changes since it was built are applied live, so matches see the
catalogue as it is; ``/v1/index`` says so until a rebuild succeeds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from indexes import Encoder, SnapshotError, current
from matcher.calibration import Calibration, CalibrationError, packaged_prior_calibration
from matcher.indexing import ResourceIndex
from matcher.ranker import RankerError
from matcher.recommender import Recommender
from matcher.registry import ModelRegistry
from matcher.store import Catalogue

if TYPE_CHECKING:
    from service.settings import Settings

__all__ = ["Fallback", "older_snapshot", "served_recommender", "warm_up"]

log = logging.getLogger("maillage.engine")

# As the engine's SYNC_LOOKBACK: a write stamped just before the snapshot may have committed after it.
_LOOKBACK = timedelta(seconds=60)


def served_recommender(index: ResourceIndex, encoder: Encoder, settings: Settings) -> Recommender:
    """The recommender with the registry's served ranker, or with the prior when none is served or the
    served one cannot be used by this code (say, trained on an older feature schema): matching goes on
    with the prior, and the log says why and what to run."""
    try:
        served = ModelRegistry(settings.rankers_dir).load_current(encoder_id=encoder.model_id, dim=encoder.dim)
    except RankerError as exc:
        log.warning("served ranker refused, matching with the prior until a new one is trained "
                    "(maillage train, then maillage promote): %s", exc)
        return Recommender(index, encoder, stale_after_days=settings.stale_after_days)
    if served is None:
        return Recommender(index, encoder, calibration=_prior_calibration(index, encoder),
                           stale_after_days=settings.stale_after_days)
    version, ranker = served
    try:
        calibration = ModelRegistry(settings.rankers_dir).load_calibration(version, encoder_id=encoder.model_id)
    except CalibrationError as exc:
        log.warning("calibration of model %s refused, matches are shown without a relevance label: %s", version, exc)
        calibration = None
    return Recommender(index, encoder, ranker=ranker, model_version=version, calibration=calibration,
                       stale_after_days=settings.stale_after_days)


def _prior_calibration(index: ResourceIndex, encoder: Encoder) -> Calibration | None:
    """The packaged calibration of the prior (:func:`matcher.calibration.packaged_prior_calibration`)
    for this encoder, used only on the demo catalogue it was fitted on (every resource from the demo):
    on another catalogue its probabilities would claim what nobody measured, so there is none until
    ``maillage train`` fits one."""
    if not index.resources or any(r.source != "demo" for r in index.resources.values()):
        return None
    try:
        return packaged_prior_calibration(encoder.model_id)
    except CalibrationError as exc:
        log.warning("packaged calibration refused, matches are shown without a relevance label: %s", exc)
        return None


def warm_up(rec: Recommender) -> None:
    """Build now what the first request would otherwise build on its path: the resource names' matcher
    of this index, the territory tables and the commune search index, the text reader's tables."""
    from matcher import territory
    from matcher.schemas import MatchQuery
    from matcher.understanding import understand

    rec.retriever.warm()
    territory.search_communes("saint", 1)
    understand(MatchQuery(text="jardin partagé à Saint-Denis, 10 000 €, association"))


@dataclass(frozen=True)
class Fallback:
    """The older snapshot to serve, the resources to apply again (edited or added since it was built),
    and what ``/v1/index`` says: ``(repaired, fallback_from, note)``."""

    index: ResourceIndex
    reapply: frozenset[str]
    said: tuple[str, str | None, str]


def older_snapshot(store: Catalogue, encoder: Encoder, root: Path, broken: SnapshotError,
                   build_error: OSError) -> Fallback:
    """The fallback when the published snapshot was refused (``broken``) and its rebuild failed
    (``build_error``); re-raises ``build_error`` when no older snapshot is sound."""
    try:
        folder = current(root)
    except SnapshotError:
        folder = None
    refused = folder.name if folder is not None else None
    try:
        index = ResourceIndex.fallback(store, encoder, root, broken=refused)
    except SnapshotError:
        raise build_error from broken
    built = datetime.fromisoformat(index.manifest.created_at)
    edited, _, _ = store.resources_changed_since(built - _LOOKBACK)
    log.warning("index: %s; no new snapshot can be written (%s): serving the older snapshot %s",
                broken, build_error, index.version)
    repaired = f"{broken}: the older snapshot {index.version} is served (rebuild failed: {build_error})"
    note = (f"L'index publié{f' {refused}' if refused else ''} est illisible et aucun nouvel index n'a pu "
            f"être écrit ({build_error.strerror or build_error}) : l'index antérieur {index.version} est "
            "servi, mis à jour depuis le catalogue. Libérez de l'espace disque puis reconstruisez l'index.")
    return Fallback(index, frozenset(r.id for r in edited), (repaired, refused, note))
