"""``maillage alerts run | preview | list``: what the scheduler calls, and what staff look at first."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from service.cli._common import ensure_index, errors, load_settings, open_store, out

__all__ = ["alerts_app"]

alerts_app = typer.Typer(help="Alerts: detect new matches, send the digests, preview a subscription.",
                         no_args_is_help=True)


def _day(on: str | None) -> date | None:
    if on is None:
        return None
    try:
        return date.fromisoformat(on)
    except ValueError as exc:
        raise ValueError(f"--on: date attendue au format AAAA-MM-JJ, reçu {on!r}") from exc


@alerts_app.command("run")
def alerts_run(
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD); today")] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="deliver the outbox after composing")] = True,
    metrics_file: Annotated[Path | None, typer.Option(help="write this run's counters (Prometheus text format)")]
    = None,
) -> None:
    """Detect new matches, write the digests that are due to the outbox, deliver it. Idempotent: run it
    as often as the shortest frequency needs (every few minutes for « immédiat »)."""
    from prometheus_client import write_to_textfile

    from service.alerts import AlertCounters, links_for, run

    settings = load_settings()
    with errors():
        store = open_store(settings)
        _, rec = ensure_index(store, settings)
        counters = AlertCounters()
        report = run(rec, store, settings, links_for(settings), today=_day(on), counters=counters, send=send)
        d = report.detection
        out.print(f"Détection : {d.changed} ressource(s) nouvelle(s) ou modifiée(s), {d.subscriptions} abonnement(s), "
                  f"{d.rematched} recalculé(s), {d.new_items} nouvelle(s) alerte(s).", highlight=False)
        out.print(f"Envoi : {report.queued} message(s) mis en file, {report.delivery.sent} envoyé(s), "
                  f"{report.delivery.failed} en échec (réessayés au prochain passage)"
                  + (f", {report.delivery.waiting} en attente d'un serveur SMTP (MAILLAGE_SMTP_HOST)"
                     if report.delivery.waiting else "") + ".", highlight=False)
        if metrics_file is not None:
            write_to_textfile(str(metrics_file), counters.registry)
        if report.delivery.failed:
            raise typer.Exit(1)


@alerts_app.command("preview")
def alerts_preview(
    subscription: Annotated[str, typer.Option("--subscription", "-s", help="id of a subscription (sub-…)")],
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD); today")] = None,
) -> None:
    """What a subscription would be told now (nothing is recorded or sent) and the digest it waits for."""
    from service.alerts import AlertStore, detect, links_for
    from service.alerts.digest import digest_message
    from service.alerts.runner import threshold_of

    settings = load_settings()
    with errors():
        store = open_store(settings)
        alerts = AlertStore(store.engine)
        sub = alerts.get(subscription)
        _, rec = ensure_index(store, settings)
        day = _day(on) or datetime.now(UTC).date()
        found = detect(rec, store, alerts, today=day, threshold=threshold_of(settings),
                       changed=list(rec.index.resources.values()), subscriptions=[sub], write=False)
        out.print(f"Abonnement {sub.id} — « {escape(sub.label)} » ({sub.frequency}, {sub.status}).", highlight=False)
        table = Table(title="Alertes qu'un passage enregistrerait maintenant", title_justify="left")
        for col in ("ressource", "titre", "score", "clôture"):
            table.add_column(col)
        for rid, _, data in found.found.get(sub.id, []):
            table.add_row(rid, escape(str(data["title"])), f"{data['score']:.3f}", str(data["closes_at"] or "—"))
        out.print(table)
        waiting = alerts.pending().get(sub.id, [])
        if waiting:
            out.print(f"{len(waiting)} alerte(s) attendent le prochain envoi :", highlight=False)
            out.print(escape(digest_message(sub, waiting, links_for(settings), day)["text"]), highlight=False)
        else:
            out.print("Aucune alerte n'attend d'envoi.", highlight=False)


@alerts_app.command("list")
def alerts_list() -> None:
    """Subscriptions and what waits in the outbox."""
    from service.alerts import AlertStore

    settings = load_settings()
    with errors():
        alerts = AlertStore(open_store(settings).engine)
        table = Table(title="Abonnements aux alertes", title_justify="left")
        for col in ("id", "suit", "qui", "fréquence", "état", "créé le"):
            table.add_column(col)
        for s in alerts.subscriptions()[0]:
            table.add_row(s.id, escape(s.initiative_id or f"recherche « {s.label} »"), s.owner, s.frequency, s.status,
                          f"{s.created_at:%Y-%m-%d}")
        out.print(table)
        out.print(", ".join(f"{k} : {v}" for k, v in alerts.counts().items()), highlight=False)
