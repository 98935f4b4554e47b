"""``maillage demo``: the demo catalogue, indexed, and explained matches for a few of its initiatives."""

from __future__ import annotations

from typing import Annotated

import typer

from matcher.demo_catalogue import load_demo
from matcher.schemas import LegalForm, MatchQuery
from matcher.store import Catalogue, NotFoundError
from service.cli._common import (
    ensure_index,
    errors,
    load_settings,
    open_store,
    out,
    print_matches,
    print_report,
    progress_bar,
)

__all__ = ["DEMO_SHOWCASE", "demo"]


# Demo initiatives shown by ``maillage demo`` when none is named: urban, rural, overseas.
DEMO_SHOWCASE = ("ini-0001", "ini-0002", "ini-0004")
NOTHING_FITS_EXAMPLE = ("Notre association de protection animale veut ouvrir un refuge pour les chats errants à Foix : "
                        "capture, stérilisation et adoption. Nous cherchons 12 000 euros pour les cages et les soins "
                        "vétérinaires.")


def demo(
    initiative: Annotated[list[str] | None, typer.Option("--initiative", "-i")] = None,
    k: Annotated[int, typer.Option("-k")] = 5,
) -> None:
    """Load the demo catalogue if the store is empty, index it, and show explained matches."""
    settings = load_settings()
    with errors():
        store = open_store(settings)
        if store.counts()["resources"] == 0:
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
        for ini_id in initiative or [i for i in DEMO_SHOWCASE if _has(store, i)]:
            ini = store.get_initiative(ini_id)
            result = rec.recommend(ini, k)
            print_matches(result, f"{ini.title} — {ini.id}, territoire {ini.territory}", False)
        if not initiative:
            # A project the catalogue does not serve: the list says so instead of pretending.
            query = MatchQuery(text=NOTHING_FITS_EXAMPLE, territory="09122", legal_form=LegalForm.association)
            print_matches(rec.recommend(query, k), "Un projet que le catalogue ne sert pas — refuge pour chats "
                          "errants, Foix (09122)", False)
        out.print(
            "Ensuite : [bold]maillage match --text \"…\" --territory 93066[/], "
            "[bold]maillage serve[/] (API, console de l'équipe, widget), "
            "[bold]maillage import reserve-parlementaire[/]."
        )


def _has(store: Catalogue, initiative_id: str) -> bool:
    try:
        store.get_initiative(initiative_id)
    except NotFoundError:
        return False
    return True
