"""``maillage demo``: the demo catalogue, indexed, and explained matches for a few of its initiatives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from matcher.demo_catalogue import demo_dir, load_demo
from matcher.importers import read_file_rows, run_import
from matcher.importers.aides_territoires import read_csv_export
from matcher.importers.sync import sync_source
from matcher.schemas import LegalForm, MatchQuery
from matcher.store import Catalogue, NotFoundError
from service.cli._common import (
    ensure_index,
    errors,
    fail,
    load_settings,
    open_store,
    out,
    print_matches,
    print_report,
    progress_bar,
)
from service.cli.sources import print_sync_report
from service.settings import Settings

__all__ = ["CATALOGUES", "DEMO_SHOWCASE", "REAL_SHOWCASE", "demo"]


# Demo initiatives shown by ``maillage demo`` when none is named: urban, rural, overseas.
DEMO_SHOWCASE = ("ini-0001", "ini-0002", "ini-0004")
# Against the real aides-territoires catalogue (aids for local authorities mostly): an association in
# Saint-Denis, and two communautés de communes (Margeride in Lozère, the Amognes in the Nièvre).
REAL_SHOWCASE = ("ini-0001", "ini-0008", "ini-0010")
CATALOGUES = ("demo", "aides-territoires")
AT_EXPORT = Path("aides-territoires") / "aides_periurbain.csv"
NOTHING_FITS_EXAMPLE = ("Notre association de protection animale veut ouvrir un refuge pour les chats errants à Foix : "
                        "capture, stérilisation et adoption. Nous cherchons 12 000 euros pour les cages et les soins "
                        "vétérinaires.")


def demo(
    initiative: Annotated[list[str] | None, typer.Option("--initiative", "-i")] = None,
    k: Annotated[int, typer.Option("-k")] = 5,
    catalogue: Annotated[str, typer.Option(help="demo (fictional, shipped) or aides-territoires (the 274 real "
                                                "aids of ../shared/data)")] = "demo",
    data: Annotated[Path | None, typer.Option(help="shared data folder, or the aides_periurbain.csv file itself "
                                                   "(aides-territoires only; default MAILLAGE_DATA)")] = None,
) -> None:
    """Load a catalogue if needed (the demo one when the store is empty), index it, show explained matches."""
    settings = load_settings()
    with errors():
        if catalogue not in CATALOGUES:
            raise ValueError(f"catalogue inconnu {catalogue!r} : attendu {' ou '.join(CATALOGUES)}")
        store = open_store(settings)
        real = catalogue == "aides-territoires"
        if real:
            _load_real(store, _export_path(data, settings))
        elif store.counts()["resources"] == 0:
            with progress_bar() as progress:
                task = progress.add_task("Chargement du catalogue de démonstration", total=None)
                report = load_demo(store, progress=lambda n: progress.advance(task, n))
            print_report(report, "catalogue de démonstration")
        counts = store.counts()
        out.print(
            f"Catalogue : {counts['resources']} ressources, {counts['providers']} financeurs, "
            f"{counts['initiatives']} initiatives, {counts['outcomes']} décisions passées "
            f"({settings.masked()['database_url']})."
        )
        index, rec = ensure_index(store, settings)
        out.print(f"Index {index.version} : {index.manifest.count} ressources, modèle {index.manifest.encoder_id}.")
        showcase = REAL_SHOWCASE if real else DEMO_SHOWCASE
        for ini_id in initiative or [i for i in showcase if _has(store, i)]:
            ini = store.get_initiative(ini_id)
            result = rec.recommend(ini, k)
            print_matches(result, f"{ini.title} — {ini.id}, territoire {ini.territory}", False)
        if not initiative and not real:
            # A project the catalogue does not serve: the list says so instead of pretending.
            query = MatchQuery(text=NOTHING_FITS_EXAMPLE, territory="09122", legal_form=LegalForm.association)
            print_matches(rec.recommend(query, k), "Un projet que le catalogue ne sert pas — refuge pour chats "
                          "errants, Foix (09122)", False)
        out.print(
            "Ensuite : [bold]maillage match --text \"…\" --territory 93066[/], "
            "[bold]maillage serve[/] (API, console de l'équipe, widget), "
            "[bold]maillage import reserve-parlementaire[/]."
        )


def _export_path(data: Path | None, settings: Settings) -> Path:
    """The aides-territoires export: ``data`` itself when it is a file, else ``<data>/aides-territoires/…``."""
    base = data or settings.data
    path = base if base.is_file() else base / AT_EXPORT
    if not path.is_file():
        fail(f"catalogue aides-territoires introuvable : {path} n'existe pas. Ce fichier réel n'est pas livré avec "
             f"Maillage ; indiquez le dossier des données partagées avec --data DOSSIER (ou MAILLAGE_DATA), ou le "
             f"fichier aides_periurbain.csv lui-même avec --data FICHIER.")
    return path


def _load_real(store: Catalogue, path: Path) -> None:
    """The real aids (synchronised: loading them again changes nothing) and the demo initiatives."""
    report = sync_source(store, "aides-territoires", read_csv_export(path), prefix="at")
    print_sync_report(report, str(path))
    initiatives = run_import(store, read_file_rows(demo_dir() / "initiatives.jsonl", "initiative"))
    print_report(initiatives, "initiatives de démonstration")
    others = [r for r in store.resources() if r.active and r.source != "aides-territoires"]
    if others:
        out.print(f"[bold]Attention[/] : le catalogue contient aussi {len(others)} ressource(s) d'autres sources, "
                  "classées avec les aides réelles. Pour ne voir que celles-ci : un MAILLAGE_HOME vide.")


def _has(store: Catalogue, initiative_id: str) -> bool:
    try:
        store.get_initiative(initiative_id)
    except NotFoundError:
        return False
    return True
