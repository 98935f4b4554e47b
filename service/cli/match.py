"""``maillage match`` (a stored initiative, free text, or the reverse view) and ``maillage override``."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from matcher.indexing import InitiativeIndex
from matcher.recommender import Recommender
from matcher.schemas import Decision, LegalForm, MatchQuery, Need, Outcome, Stage
from matcher.store import Catalogue
from service.cli._common import ensure_index, errors, load_settings, open_store, out, print_matches, progress_bar

__all__ = ["match", "override"]


def match(
    initiative: Annotated[str | None, typer.Option("--initiative", "-i", help="id of a stored initiative")] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="free-text project description")] = None,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="reverse: initiatives that fit "
                                                 "this resource")] = None,
    territory_code: Annotated[str | None, typer.Option("--territory", help="INSEE code (commune, "
                                                       "département, R+région) or FR")] = None,
    legal_form: Annotated[LegalForm | None, typer.Option("--legal-form")] = None,
    stage: Annotated[Stage | None, typer.Option("--stage")] = None,
    need: Annotated[list[Need] | None, typer.Option("--need")] = None,
    k: Annotated[int, typer.Option("-k", help="number of matches")] = 10,
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD)")] = None,
    show_excluded: Annotated[bool, typer.Option("--show-excluded", help="list hard failures too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Match a stored initiative, or a free-text project, with resources (or, with --resource,
    a resource with the initiatives that fit it)."""
    settings = load_settings()
    with errors():
        if sum(x is not None for x in (initiative, text, resource)) != 1:
            raise ValueError("give exactly one of --initiative ID, --text \"…\" or --resource ID")
        today = date.fromisoformat(on) if on else None
        store = open_store(settings)
        _, rec = ensure_index(store, settings)
        if resource is not None:
            _reverse(store, rec, resource, k, today, as_json)
            return
        if initiative is not None:
            ini = store.get_initiative(initiative)
            result = rec.recommend(ini, k, today=today, with_excluded=show_excluded,
                                   overrides=store.overrides_for(ini.id))
            heading = f"{ini.title} ({ini.id}, {ini.territory})"
        else:
            query = MatchQuery(text=text or "", territory=territory_code, legal_form=legal_form,
                               stage=stage, needs=need or [])
            result = rec.recommend(query, k, today=today, with_excluded=show_excluded)
            heading = f"« {query.text[:80]} »" + (f" ({query.territory})" if query.territory else "")
        if as_json:
            sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in result.matches],
                                        ensure_ascii=False, indent=2) + "\n")
        else:
            print_matches(result, heading, show_excluded)


def _reverse(store: Catalogue, rec: Recommender, resource_id: str, k: int, today: date | None,
             as_json: bool) -> None:
    res = store.get_resource(resource_id)
    with progress_bar() as progress:
        task = progress.add_task("Indexation des initiatives", total=None)
        inis = InitiativeIndex.build(store, rec.encoder,
                                     progress=lambda d, t: progress.update(task, completed=d, total=t))
    found = rec.recommend_initiatives(resource_id, inis, k, today=today)
    if as_json:
        sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in found], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Initiatives pour : {res.title} ({res.id})", title_justify="left", show_lines=True,
                  expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Initiative", ratio=3)
    table.add_column("Territoire", no_wrap=True)
    table.add_column("Pourquoi", ratio=4)
    for m in found:
        table.add_row(str(m.rank), f"[bold]{m.title}[/]\n{m.initiative_id}", m.territory, "\n".join(m.reasons))
    if not found:
        table.add_row("", "Aucune initiative éligible trouvée.", "", "")
    out.print(table)


def override(
    initiative: Annotated[str, typer.Option("--initiative", "-i")],
    resource: Annotated[str, typer.Option("--resource", "-r")],
    pin: Annotated[bool, typer.Option("--pin/--exclude", help="pin the resource on top, or exclude it")],
    reason: Annotated[str, typer.Option(help="why (kept with the decision, shown to staff)")],
    actor: Annotated[str, typer.Option(help="who decides")] = "staff",
) -> None:
    """Pin or exclude a resource for an initiative; stored as an outcome, so it becomes a label."""
    settings = load_settings()
    with errors():
        store = open_store(settings)
        store.get_initiative(initiative)
        store.get_resource(resource)
        outcome = Outcome(initiative_id=initiative, resource_id=resource,
                          decision=Decision.pinned if pin else Decision.excluded, reason=reason, actor=actor)
        store.append_outcomes([outcome])
        out.print(f"{'Épinglé' if pin else 'Exclu'} : {resource} pour {initiative}.")
