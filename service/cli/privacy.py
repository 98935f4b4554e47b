"""``maillage forget`` (erase initiatives everywhere), ``maillage retention run`` (erase expired widget
submissions) and ``maillage audit`` (the audit log): thin faces over :mod:`service.privacy`."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer
from rich.table import Table

from matcher.erasure import ErasureReport, initiatives_mentioning
from service.audit import CLI
from service.cli._common import errors, fail, load_settings, open_store, out

__all__ = ["audit", "forget", "retention_app"]

retention_app = typer.Typer(help="Durée de conservation des projets déposés par le widget.", no_args_is_help=True)


def _said(report: ErasureReport) -> str:
    snapshots = ", ".join(report.snapshots_removed) or "aucun"
    rebuilt = " (l'index servi en faisait partie : il sera reconstruit au prochain démarrage ou par le service " \
              "en cours)" if report.served_removed else ""
    return (f"{len(report.pseudonyms)} initiative(s) effacée(s) : {report.outcomes_anonymised} décision(s) "
            f"anonymisée(s), {report.cache_rows} vecteur(s) retiré(s) du cache, instantanés d'index supprimés : "
            f"{snapshots}{rebuilt}.")


def forget(
    initiative: Annotated[list[str] | None, typer.Option("--initiative", help="id of an initiative (repeat)")] = None,
    email: Annotated[str | None, typer.Option(help="also every initiative whose contact e-mail is this address "
                                                   "or whose text contains it")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be erased, erase nothing")] = False,
) -> None:
    """Erase initiatives from every copy: catalogue, outcomes' reasons, embedding cache, index snapshots."""
    from service.privacy import erase

    settings = load_settings()
    with errors():
        store = open_store(settings)
        ids = list(dict.fromkeys([*(initiative or []), *(initiatives_mentioning(store, email) if email else [])]))
        if not ids:
            fail("rien à effacer : donnez --initiative ID (répétable) ou --email ADRESSE"
                 + (f" (aucune initiative ne mentionne {email})" if email else ""))
        found = store.get_initiatives(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            fail(f"initiative inconnue : {', '.join(missing)} (rien n'a été effacé)")
        if dry_run:
            for iid in ids:
                out.print(f"{iid}\t{found[iid].title}", highlight=False)
            out.print(f"{len(ids)} initiative(s) seraient effacées (--dry-run : rien n'a été effacé).")
            return
        out.print(_said(erase(settings, store, ids, CLI)), highlight=False)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what has expired, erase nothing")] = False,
) -> None:
    """Erase widget submissions without staff follow-up older than MAILLAGE_RETENTION_MONTHS."""
    from service.privacy import run_retention

    settings = load_settings()
    with errors():
        store = open_store(settings)
        run = run_retention(settings, store, CLI, dry_run=dry_run)
        table = Table(title=f"Projets du widget sans suite depuis plus de {settings.retention_months} mois",
                      title_justify="left")
        for col in ("initiative", "déposée le", "expirée le"):
            table.add_column(col)
        for e in run.expired:
            table.add_row(e.initiative.id, f"{e.initiative.created_at:%d/%m/%Y}", f"{e.expires_at:%d/%m/%Y}")
        if run.expired:
            out.print(table)
        if dry_run:
            out.print(f"{len(run.expired)} projet(s) expiré(s) (--dry-run : rien n'a été effacé).")
        elif run.report is None:
            out.print("Aucun projet expiré : rien à effacer.")
        else:
            out.print(_said(run.report), highlight=False)


def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many entries, newest first")] = 50,
    action: Annotated[str | None, typer.Option(help="only this action (initiative.erase, import…)")] = None,
) -> None:
    """The audit log of staff actions, newest first (ids and counts, never a text)."""
    settings = load_settings()
    with errors():
        items, total = open_store(settings).audit_page(limit=limit, action=action)
        out.print(f"Journal des actions : {len(items)} sur {total}, les plus récentes d'abord "
                  "(date UTC, action, par, rôle, cible, détail)", highlight=False)
        for e in items:
            detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
            target = f"{e.target_kind or ''} {e.target_id or ''}".strip()
            out.print("\t".join((e.at.astimezone(UTC).strftime("%d/%m/%Y %H:%M:%S"), e.action, e.principal,
                                 e.role or "", target, detail)), highlight=False, soft_wrap=True)
