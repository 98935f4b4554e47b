"""``maillage match`` (a stored initiative, free text, or the reverse view), ``maillage plan`` and
``maillage override``."""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import date
from typing import Annotated, cast

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table

from matcher.indexing import InitiativeIndex
from matcher.plan import Plan, plan_for
from matcher.recommender import Recommender
from matcher.schemas import Amount, Decision, LegalForm, MatchQuery, Need, Outcome, Stage
from matcher.store import Catalogue
from matcher.understanding import FIELDS, Field, UnderstoodQuery, understand
from service.api_models import PlanResponse
from service.audit import CLI, record
from service.cli._common import (
    ensure_index,
    err,
    errors,
    load_settings,
    open_store,
    out,
    parse_day,
    print_matches,
    progress_bar,
)

__all__ = ["match", "override", "plan"]


# The options ``match`` and ``plan`` share.
_Initiative = Annotated[str | None, typer.Option("--initiative", "-i", help="id of a stored initiative")]
_Text = Annotated[str | None, typer.Option("--text", "-t", help="free-text project description")]
_Territory = Annotated[str | None, typer.Option("--territory", help="INSEE code (commune, département, "
                                                "R+région) or FR")]
_LegalForm = Annotated[LegalForm | None, typer.Option("--legal-form")]
_Stage = Annotated[Stage | None, typer.Option("--stage")]
_Needs = Annotated[list[Need] | None, typer.Option("--need")]
_Amount = Annotated[str | None, typer.Option("--amount", help="amount sought, in euros (18000, \"18 000\")")]
_On = Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD)")]


def match(
    initiative: _Initiative = None,
    text: _Text = None,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="reverse: initiatives that fit "
                                                 "this resource")] = None,
    territory_code: _Territory = None,
    legal_form: _LegalForm = None,
    stage: _Stage = None,
    need: _Needs = None,
    amount: _Amount = None,
    ignore_understood: Annotated[list[str] | None, typer.Option(
        "--ignore-understood", help=f"do not use this field read from the text ({', '.join(FIELDS)})")] = None,
    k: Annotated[int, typer.Option("-k", help="number of matches")] = 10,
    on: _On = None,
    show_excluded: Annotated[bool, typer.Option("--show-excluded", help="list hard failures too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Match a stored initiative, or a free-text project, with resources (or, with --resource,
    a resource with the initiatives that fit it)."""
    settings = load_settings()
    with errors():
        if sum(x is not None for x in (initiative, text, resource)) != 1:
            raise ValueError("indiquez une seule des options --initiative ID, --text \"…\" ou --resource ID")
        if text is None and (amount is not None or ignore_understood):
            raise ValueError("--amount et --ignore-understood s'emploient avec --text")
        amount_sought = _amount(amount)
        ignored = _fields(ignore_understood or [])
        today = parse_day(on)
        store = open_store(settings)
        _, rec = ensure_index(store, settings, onnx_first=True)  # no PyTorch for a query (answers in seconds)
        if resource is not None:
            _reverse(store, rec, resource, k, today, as_json)
            return
        if initiative is not None:
            ini = store.get_initiative(initiative)
            result = rec.recommend(ini, k, today=today, with_excluded=show_excluded,
                                   overrides=store.overrides_for(ini.id))
            heading = f"{ini.title} ({ini.id}, {ini.territory})"
        else:
            given = MatchQuery(text=text or "", territory=territory_code, legal_form=legal_form,
                               stage=stage, needs=need or [], amount_sought=amount_sought)
            read = understand(given, ignore=ignored)
            query = read.query
            result = rec.recommend(query, k, today=today, with_excluded=show_excluded)
            heading = f"« {query.text[:80]} »" + (f" ({query.territory})" if query.territory else "")
            _print_understood(read, to_stderr=as_json)
        if as_json:
            sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in result.matches],
                                        ensure_ascii=False, indent=2) + "\n")
        else:
            print_matches(result, heading, show_excluded)


def plan(
    initiative: _Initiative = None,
    text: _Text = None,
    territory_code: _Territory = None,
    legal_form: _LegalForm = None,
    stage: _Stage = None,
    need: _Needs = None,
    amount: _Amount = None,
    on: _On = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """A plan for a stored initiative or a free-text project: compatible resources covering its needs
    and amount sought, in the order to apply in (soonest deadline first), each step explained."""
    settings = load_settings()
    with errors():
        if (initiative is None) == (text is None):
            raise ValueError("indiquez soit --initiative ID, soit --text \"…\" (une seule des deux options)")
        if initiative is not None and amount is not None:
            raise ValueError("--amount va avec --text : une initiative enregistrée a son propre montant recherché")
        amount_sought = _amount(amount)
        today = parse_day(on) or date.today()
        store = open_store(settings)
        _, rec = ensure_index(store, settings, onnx_first=True)
        if initiative is not None:
            ini = store.get_initiative(initiative)
            found = plan_for(rec, ini, today=today, overrides=store.overrides_for(ini.id))
            heading = f"Plan pour {ini.title} ({ini.id}, {ini.territory})"
        else:
            given = MatchQuery(text=text or "", territory=territory_code, legal_form=legal_form, stage=stage,
                               needs=need or [], amount_sought=amount_sought)
            read = understand(given)
            _print_understood(read, to_stderr=as_json)
            found = plan_for(rec, read.query, today=today)
            heading = f"Plan pour « {read.query.text[:80]} »"
        if as_json:
            body = PlanResponse.of(found, rec.index.version, rec.model_version).model_dump(mode="json")
            sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        else:
            _print_plan(found, heading)


def _print_plan(found: Plan, heading: str) -> None:
    table = Table(title=heading, title_justify="left", show_lines=True, expand=True)
    table.add_column("Ordre", justify="right", no_wrap=True)
    table.add_column("Ressource", ratio=3)
    table.add_column("Pourquoi dans le plan", ratio=4)
    for step in found.steps:
        table.add_row(str(step.order), f"[bold]{escape(step.match.title)}[/]\n{escape(step.match.provider or '')}",
                      escape("\n".join(step.explanation)))
    if not found.steps:
        table.add_row("", "Aucune ressource compatible.", "")
    out.print(table)
    for line in found.summary:
        out.print(line, highlight=False)
    if found.left_out:
        out.print("[bold]Laissées de côté[/] :")
        for x in found.left_out:
            out.print(f"  • {escape(x.title)} (rang {x.rank}) — {escape(x.reason)}", highlight=False)


_AMOUNT = TypeAdapter(Amount)
_AMOUNT_TEXT = re.compile(r"[\s\u00a0\u202f]|€$|euros?$", re.IGNORECASE)


def _amount(given: str | None) -> float | None:
    """``--amount``: euros, with spaces between thousands and a decimal comma allowed (``"18 000"``,
    ``"2500,50 €"``); the same bounds as the API's ``amount_sought``."""
    if given is None:
        return None
    plain = _AMOUNT_TEXT.sub("", given.strip()).replace(",", ".")
    try:
        value = float(plain)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"--amount : un montant en euros est attendu, par exemple 18000 ou \"18 000\" "
                         f"(expected a sum in euros), reçu {given!r}")
    try:
        return _AMOUNT.validate_python(value)
    except ValidationError:
        raise ValueError(f"--amount : le montant doit être compris entre 0 et 1 000 000 000 000 € "
                         f"(expected 0 to 1e12 euros), reçu {given!r}") from None


def _fields(given: list[str]) -> list[Field]:
    unknown = [f for f in given if f not in FIELDS]
    if unknown:
        raise ValueError(f"--ignore-understood: expected one of {', '.join(FIELDS)}, got {unknown[0]!r}")
    return [cast(Field, f) for f in given]


def _print_understood(read: UnderstoodQuery, *, to_stderr: bool) -> None:
    """The "Nous avons compris" lines: what was read from the text, and what was not used."""
    items = read.understanding.items
    if not items:
        return
    console = err if to_stderr else out
    console.print("[bold]Nous avons compris :[/]", highlight=False)
    for item in items:
        note = "" if read.is_used(item) else " [dim](non retenu : précisé par une option ou ignoré)[/]"
        console.print(f"  • {escape(item.label)}{note}", highlight=False)  # the citizen's words are not markup


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
        record(store, CLI, f"override.{'pin' if pin else 'exclude'}", target_kind="initiative", target_id=initiative,
               detail={"resource_id": resource})
        out.print(f"{'Épinglé' if pin else 'Exclu'} : {resource} pour {initiative}.")
