"""``maillage import-source FORMAT PATH``: a real catalogue (aides-territoires, Etalab dispositif-aide,
TEE programmes) synchronised into the store, and the French summary of what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from matcher.importers.catalogues import FORMATS, import_catalogue
from matcher.importers.sync import SyncReport
from service.cli._common import err, errors, load_settings, open_store, out

__all__ = ["import_source", "print_sync_report"]

SHOWN_NOTES = 30
"""Rejected rows and warnings listed one by one; beyond, a count."""


def import_source(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=" | ".join(
        f"{f.name} : {f.what}" for f in FORMATS.values()))],
    paths: Annotated[list[Path], typer.Argument(metavar="PATH…", help="fichier(s) ou dossier à importer")],
    source: Annotated[str | None, typer.Option(help="nom de la source (par défaut : le format) ; réimporter la "
                                                    "même source met à jour et désactive ce qui a disparu")] = None,
) -> None:
    """Import a real catalogue: added, updated, unchanged and expired resources, rows reported by line."""
    settings = load_settings()
    with errors():
        if fmt not in FORMATS:
            raise ValueError(f"format inconnu {fmt!r} : attendu {', '.join(FORMATS)}")
        store = open_store(settings)
        report = import_catalogue(store, fmt, paths, source=source)
        print_sync_report(report, ", ".join(str(p) for p in paths))


def _percent(x: float) -> str:
    return f"{100 * x:.1f} %".replace(".", ",")


def print_sync_report(report: SyncReport, what: str) -> None:
    """The summary staff read after an import, in French."""
    out.print(f"[bold]Import de la source {escape(report.source)}[/] ({escape(what)}) : {report.read} aide(s) "
              "lue(s).",
              highlight=False)
    out.print(
        f"  ajoutées : {len(report.added)} · mises à jour : {len(report.updated)} · inchangées : "
        f"{len(report.unchanged)} · expirées (désactivées) : {len(report.expired)} · rejetées : "
        f"{len(report.problems)}", highlight=False,
    )
    if report.merged:
        out.print(f"  fusionnées avec la même aide d'une autre source : {len(report.merged)}", highlight=False)
        for ref, into in report.merged[:SHOWN_NOTES]:
            out.print(f"    {ref} → {into}", highlight=False, markup=False)
    if report.providers_added:
        out.print(f"  financeurs ajoutés : {report.providers_added}", highlight=False)
    if report.perimeters:
        out.print(f"  périmètres rattachés à des codes INSEE : {report.perimeters_resolved} / {report.perimeters} "
                  f"({_percent(report.perimeter_rate)})", highlight=False)
    for title, notes in (("Lignes rejetées", report.problems), ("Avertissements", report.warnings)):
        if not notes:
            continue
        err.print(f"{title} ({len(notes)}) :")
        for note in notes[:SHOWN_NOTES]:
            err.print(f"  {note}", highlight=False, markup=False)
        if len(notes) > SHOWN_NOTES:
            err.print(f"  … et {len(notes) - SHOWN_NOTES} autre(s)")
