"""Start-up on a damaged disk: the published snapshot is corrupt and no new one can be written (a full
disk truncated it, and the rebuild fails the same way). The newest sound older snapshot is served
instead, and the catalogue's changes since it was built are applied live, so matches see the
catalogue as it is; ``/v1/index`` says so until a rebuild succeeds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from indexes import Encoder, SnapshotError, current
from matcher.indexing import ResourceIndex
from matcher.store import Catalogue

__all__ = ["Fallback", "older_snapshot"]

log = logging.getLogger("maillage.engine")

# As the engine's SYNC_LOOKBACK: a write stamped just before the snapshot may have committed after it.
_LOOKBACK = timedelta(seconds=60)


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
