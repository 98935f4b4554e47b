"""``maillage migrate``, ``maillage backup`` and ``maillage restore``: the operator's upkeep commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import create_engine

from matcher.schema_version import schema_state, upgrade
from service.backup import BackupError
from service.backup import backup as make_backup
from service.cli._common import err, errors, fail, load_settings, out
from service.restore import restore as restore_backup

__all__ = ["backup", "migrate", "restore"]


@contextmanager
def _backup_errors() -> Iterator[None]:
    with errors():
        try:
            yield
        except BackupError as exc:
            fail(str(exc))


def migrate(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the revisions, apply nothing")] = False,
) -> None:
    """Bring the catalogue's schema to this version's revision (never downgrades)."""
    settings = load_settings()
    with errors():
        engine = create_engine(settings.db_url)
        try:
            state = schema_state(engine)
            out.print(f"Révision actuelle : {state.current or '(aucune : base vide)'}", highlight=False)
            out.print(f"Révision cible    : {state.head}", highlight=False)
            if not state.pending:
                out.print("Le schéma est à jour : rien à appliquer.")
                return
            out.print(f"À appliquer ({len(state.pending)}) : {', '.join(state.pending)}", highlight=False)
            if dry_run:
                out.print("--dry-run : rien n'a été appliqué.")
                return
            upgrade(engine)
            out.print(f"Migrations appliquées : le schéma est à la révision {schema_state(engine).current}.",
                      highlight=False)
        finally:
            engine.dispose()


def backup(
    dest: Annotated[Path, typer.Argument(help="new folder to write the backup into (must not exist)")],
    without_encoders: Annotated[bool, typer.Option(
        "--without-encoders", help="leave out the materialised encoders (made again from the packages)")] = False,
) -> None:
    """Back up the catalogue (SQLite backup API or pg_dump) and the home's artifacts, with checksums."""
    settings = load_settings()
    with _backup_errors():
        report = make_backup(settings, dest, with_encoders=not without_encoders)
    out.print(f"Sauvegarde écrite dans {report.path} : catalogue {report.database} (révision "
              f"{report.revision or 'aucune'}), {report.files} fichiers, {report.bytes / 1e6:.1f} Mo.",
              highlight=False)


def restore(
    src: Annotated[Path, typer.Argument(help="folder of a backup made by maillage backup")],
    force: Annotated[bool, typer.Option("--force", help="replace what the home and database hold")] = False,
) -> None:
    """Restore a backup into this installation (refuses a non-empty one without --force)."""
    settings = load_settings()
    if not src.is_dir():
        fail(f"{src} n'est pas un dossier de sauvegarde")
    with _backup_errors():
        report = restore_backup(settings, src, force=force)
    err.print("Sauvegarde vérifiée (sommes de contrôle).", highlight=False)
    out.print(f"Restauration faite : sauvegarde du {report.created_at}, catalogue {report.database} "
              f"(révision {report.revision or 'aucune'}, migré à la révision du code), {report.files} fichiers "
              f"dans {settings.home}.", highlight=False)
