"""The real catalogue formats Maillage reads, by name: what ``maillage import-source FORMAT PATH`` runs.

Each format has a default source name (re-importing it synchronises that source:
:mod:`matcher.importers.sync`), an id prefix for the resources it creates, and a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.importers._catalogue import SourceItem
from matcher.importers.aides_territoires import read_api_pages, read_csv_export
from matcher.importers.dispositif_aide import read_dispositifs
from matcher.importers.sync import SyncReport, sync_source
from matcher.importers.tee import read_programs
from matcher.store import Catalogue

__all__ = ["FORMATS", "CatalogueFormat", "import_catalogue", "read_catalogue"]

Items = Iterable[SourceItem | tuple[str | None, SourceItem]]


@dataclass(frozen=True)
class CatalogueFormat:
    name: str
    prefix: str
    what: str
    """What PATH is, in French (for help texts and errors)."""
    read: Callable[[Sequence[Path]], Items]


def _one(paths: Sequence[Path], fmt: str) -> Path:
    if len(paths) != 1:
        raise ValueError(f"le format {fmt} lit un seul fichier ou dossier ; {len(paths)} donnés")
    return paths[0]


def _csv(paths: Sequence[Path]) -> Iterator[SourceItem]:
    path = _one(paths, "aides-territoires")
    if not path.is_file():
        raise FileNotFoundError(f"fichier introuvable : {path}")
    return read_csv_export(path)


FORMATS: dict[str, CatalogueFormat] = {
    f.name: f
    for f in (
        CatalogueFormat("aides-territoires", "at", "l'export CSV d'aides-territoires", _csv),
        CatalogueFormat("aides-territoires-api", "at", "une ou des pages JSON de l'API /api/aids/ (ou leur dossier)",
                        lambda paths: read_api_pages(list(paths))),
        CatalogueFormat("dispositif-aide", "da", "un fichier CSV ou JSON au schéma Etalab dispositif-aide",
                        lambda paths: read_dispositifs(_one(paths, "dispositif-aide"))),
        CatalogueFormat("tee", "tee", "le dossier des programmes YAML de la Transition écologique des entreprises",
                        lambda paths: read_programs(_one(paths, "tee"))),
    )
}


def read_catalogue(fmt: str, paths: Sequence[Path]) -> Items:
    """The items of ``paths`` read as format ``fmt`` (a key of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"format inconnu {fmt!r} : attendu {', '.join(FORMATS)}")
    return FORMATS[fmt].read(paths)


def import_catalogue(store: Catalogue, fmt: str, paths: Sequence[Path], *, source: str | None = None) -> SyncReport:
    """Read ``paths`` as ``fmt`` and synchronise the catalogue with it (source name: ``source`` or the
    format's name)."""
    return sync_source(store, source or fmt, read_catalogue(fmt, paths), prefix=FORMATS[fmt].prefix)
