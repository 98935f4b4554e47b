"""Restore of a backup made by :mod:`service.backup` into the installation that ``settings`` describe.

Everything is checked before anything is touched: the manifest's format, every file's size and
SHA-256, the schema revision (a backup made by a newer Maillage is refused), that the database kind is
the target's, and that the target is empty (a home with files, or a database holding a catalogue, is
replaced only with ``force``). Then the catalogue is restored (SQLite: a fresh file by the backup API,
renamed over the old one; PostgreSQL: ``pg_restore`` in one transaction), the home's artifacts are
staged in a hidden folder of the home and renamed into place, and the schema is brought to this code's
head by the usual migrations. Stop the service first: a running worker would keep the old files open.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from matcher.schema_version import known_revisions
from matcher.store import Catalogue
from service.backup import (
    FORMAT_VERSION,
    HOME,
    MANIFEST,
    PG_DUMP,
    SQLITE_DUMP,
    BackupError,
    libpq_args,
    pg_tool,
    sha256,
    sqlite_copy,
    sqlite_path,
)
from service.settings import Settings

__all__ = ["RestoreReport", "restore", "verify"]


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did: the backup's creation time and revision, and the files put in the home."""

    created_at: str
    revision: str | None
    database: str
    files: int


def verify(src: Path) -> dict[str, Any]:
    """The manifest of the backup in ``src`` once every file it lists is there with its size and SHA-256
    (and no file it does not list); raises :class:`BackupError` naming the files that fail."""
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} n'est pas une sauvegarde de Maillage : {MANIFEST} est absent") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"le manifeste {src / MANIFEST} est illisible : {exc}") from exc
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(f"la sauvegarde est au format {version!r}, plus récent que celui que cette version de "
                          f"Maillage lit ({FORMAT_VERSION}) : restaurez-la avec la version qui l'a faite")
    listed: dict[str, Any] = manifest.get("files") or {}
    bad: list[str] = [f"{p.relative_to(src)} (lien symbolique)" for p in sorted(src.rglob("*")) if p.is_symlink()]
    for rel, expected in listed.items():
        path = src / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            bad.append(f"{rel} (hors de la sauvegarde)")
        elif not path.is_file():
            bad.append(f"{rel} (absent)")
        elif path.stat().st_size != expected.get("bytes") or sha256(path) != expected.get("sha256"):
            bad.append(f"{rel} (contenu modifié)")
    present = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file() and not p.is_symlink()}
    present -= {MANIFEST}
    bad += [f"{rel} (absent du manifeste)" for rel in sorted(present - set(listed))]
    if bad:
        shown = ", ".join(bad[:5]) + (f" et {len(bad) - 5} autres" if len(bad) > 5 else "")
        raise BackupError(f"la sauvegarde {src} est altérée, rien n'a été restauré : {shown}")
    return manifest


def _occupied(settings: Settings) -> list[str]:
    """What the target already holds: a home with files, a database with a catalogue."""
    held: list[str] = []
    home = settings.home
    if home.is_dir() and any(not p.name.startswith(".") for p in home.iterdir()):
        held.append(f"le dossier {home} n'est pas vide")
    db_file = sqlite_path(settings.db_url)
    if db_file is not None:
        if db_file.is_file() and db_file.stat().st_size > 0 and not db_file.is_relative_to(home.resolve()):
            held.append(f"le catalogue {db_file} existe")
        return held
    engine = create_engine(settings.db_url)
    try:
        if inspect(engine).get_table_names():
            held.append(f"la base {make_url(settings.db_url).render_as_string(hide_password=True)} "
                        "contient déjà des tables")
    except Exception as exc:
        raise BackupError(f"la base cible est injoignable : {exc}") from exc
    finally:
        engine.dispose()
    return held


def _restore_sqlite(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    sqlite_copy(src / SQLITE_DUMP, tmp)
    for side in ("-wal", "-shm", "-journal"):  # an old WAL replayed over the restored file would corrupt it
        target.with_name(target.name + side).unlink(missing_ok=True)
    os.replace(tmp, target)


def _restore_postgres(src: Path, url: str, force: bool) -> None:
    uri, env = libpq_args(make_url(url))
    args = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
            f"--dbname={uri}"]
    if force:
        args += ["--clean", "--if-exists"]
    done = subprocess.run([*args, str(src / PG_DUMP)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_restore a échoué ({done.returncode}), la base est inchangée : {done.stderr.strip()}")


def _restore_home(src: Path, home: Path) -> int:
    """Stage the backup's home in a hidden folder of ``home``, then rename each top-level entry into place."""
    saved = src / HOME
    if not saved.is_dir():
        return 0
    home.mkdir(parents=True, exist_ok=True)
    staging = home / f".restore-{os.getpid()}"
    old = home / f".restore-old-{os.getpid()}"
    for folder in (staging, old):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved, staging)
    old.mkdir()
    for entry in sorted(staging.iterdir()):
        if (home / entry.name).exists():
            os.rename(home / entry.name, old / entry.name)
        os.rename(entry, home / entry.name)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return sum(1 for p in saved.rglob("*") if p.is_file())


def restore(settings: Settings, src: Path, *, force: bool = False) -> RestoreReport:
    """Restore the backup in ``src`` into the installation of ``settings`` (see the module docstring)."""
    manifest = verify(src)
    revision = manifest.get("schema_revision")
    if revision is not None and revision not in known_revisions():
        raise BackupError(f"la sauvegarde a un catalogue à la révision de schéma {revision}, que cette version de "
                          "Maillage ne connaît pas : restaurez-la avec une version au moins aussi récente que "
                          f"celle qui l'a faite ({manifest.get('maillage_version')})")
    database = manifest.get("database")
    target = "sqlite" if sqlite_path(settings.db_url) is not None else "postgresql"
    if database != target:
        raise BackupError(f"la sauvegarde contient un catalogue {database}, la cible est {target} "
                          "(MAILLAGE_DATABASE_URL) : restaurez dans le même type de base")
    held = _occupied(settings)
    if held and not force:
        raise BackupError(f"restauration refusée : {' ; '.join(held)}. Restaurez dans une installation vide, "
                          "ou ajoutez --force pour remplacer son contenu")
    db_file = sqlite_path(settings.db_url)
    if db_file is not None:
        _restore_sqlite(src, db_file)
    else:
        _restore_postgres(src, settings.db_url, force)
    files = _restore_home(src, settings.home)
    Catalogue.open(settings.db_url).close()  # brings an older backup's schema to this code's head
    return RestoreReport(created_at=str(manifest.get("created_at")), revision=revision, database=target,
                         files=files)
