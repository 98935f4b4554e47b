"""A catalogue to observe that is not the home's: one of the real labelled sets, imported into a
temporary catalogue (SQLite in a folder the caller owns) and indexed, as ``maillage import`` and
``maillage index build`` would do it.

The encoder (with its embedding cache) is the caller's, so texts already encoded for that set are
read back from the cache rather than encoded again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from indexes import Encoder
from matcher.importers import ImportReport, dataset_rows, run_import
from matcher.indexing import ResourceIndex
from matcher.store import Catalogue, sqlite_url

__all__ = ["dataset_catalogue"]


def dataset_catalogue(
    name: str, data: Path, encoder: Encoder, folder: Path, *, progress: Callable[[int, int], None] | None = None,
) -> tuple[Catalogue, ResourceIndex, ImportReport]:
    """Import the set ``name`` (:data:`matcher.importers.datasets.DATASETS`) from ``data`` into a new
    catalogue under ``folder`` and publish its resource index there. Raises ``ValueError`` for an
    unknown set and ``FileNotFoundError`` for a missing file (the importer's messages)."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Catalogue.open(sqlite_url(folder / "maillage.db"))
    report = run_import(store, dataset_rows(name, data))
    index = ResourceIndex.build(store, encoder, folder / "indexes", progress=progress)
    return store, index, report
