"""Backup of one installation: the catalogue database and the artifacts of its home, with a manifest.

A backup is a folder::

    manifest.json        format version, creation time, schema revision, database kind, every file's
                         size and SHA-256
    catalogue.sqlite     the catalogue, copied by SQLite's online backup API (readers and writers may
      or catalogue.pgdump  run meanwhile), or PostgreSQL's custom-format ``pg_dump``
    home/…               the home's artifacts: index snapshots, models (encoders, ONNX exports,
                         rankers), the embedding cache (its own SQLite: backup API too), the secret
                         key file and the widget's demo keys when they exist

Hidden entries (builds in progress, ``.tmp-*``), SQLite's ``-wal``/``-shm``/``-journal`` side files and
the catalogue file itself (copied apart) are left out. The folder is written under a hidden name beside
the destination, flushed, then renamed: a backup that exists is whole. :mod:`service.restore` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from matcher.schema_version import stored_revision
from service.settings import Settings

__all__ = ["FORMAT_VERSION", "BackupError", "BackupReport", "backup", "pg_tool", "sqlite_path"]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_DUMP = "catalogue.sqlite"
PG_DUMP = "catalogue.pgdump"
HOME = "home"
_SIDE_FILES = ("-wal", "-shm", "-journal")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(RuntimeError):
    """A backup or a restore that cannot be done (French message: what and what to do)."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds: its folder, the database kind and schema revision, files and bytes."""

    path: Path
    database: str
    revision: str | None
    files: int
    bytes: int


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(parsed.database or "").resolve()


def pg_tool(name: str) -> str:
    """The path of PostgreSQL's ``pg_dump`` or ``pg_restore``: on ``PATH``, else the newest installed."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if candidates:
        return str(candidates[-1])
    raise BackupError(f"{name} est introuvable : installez le client PostgreSQL (paquet postgresql-client), "
                      "de la même version majeure que le serveur ou plus récent")


def libpq_args(url: URL) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as a libpq connection URI for the PostgreSQL tools, with its password
    moved into the environment (``PGPASSWORD``) so that it shows in no process list."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database with the online backup API (consistent while others read or write)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == _SQLITE_MAGIC


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _home_files(home: Path, skip: set[Path], without: set[str]) -> Iterator[Path]:
    """Files of the home worth keeping, as paths relative to it (see the module docstring)."""
    for root, dirs, files in os.walk(home):
        rel_root = Path(root).relative_to(home)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (rel_root / d).as_posix() not in without)
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or name.endswith(_SIDE_FILES) or path.resolve() in skip:
                continue
            if path.is_file() and not path.is_symlink():
                yield rel_root / name


def _dump_database(settings: Settings, out: Path) -> tuple[str, str | None]:
    """Write the catalogue into ``out``; returns the database kind and its schema revision."""
    db_file = sqlite_path(settings.db_url)
    if db_file is not None and not db_file.is_file():
        raise BackupError(f"le catalogue {db_file} n'existe pas : rien à sauvegarder")
    engine = create_engine(settings.db_url)
    try:
        revision = stored_revision(engine)
    except Exception as exc:
        raise BackupError(f"le catalogue est illisible : {exc}") from exc
    finally:
        engine.dispose()
    if db_file is not None:
        sqlite_copy(db_file, out / SQLITE_DUMP)
        return "sqlite", revision
    uri, env = libpq_args(make_url(settings.db_url))
    done = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                           f"--file={out / PG_DUMP}", f"--dbname={uri}"],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_dump a échoué ({done.returncode}) : {done.stderr.strip()}")
    return "postgresql", revision


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write(settings: Settings, out: Path, without: set[str]) -> dict[str, Any]:
    """Fill ``out`` with the database and the home's artifacts; returns the manifest written."""
    database, revision = _dump_database(settings, out)
    home = settings.home.resolve()
    db_file = sqlite_path(settings.db_url)
    for rel in (_home_files(home, {db_file} if db_file else set(), without) if home.is_dir() else ()):
        target = out / HOME / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_sqlite(home / rel):
            sqlite_copy(home / rel, target)
        else:
            shutil.copy2(home / rel, target)
    files = {p.relative_to(out).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "format_version": FORMAT_VERSION, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "maillage_version": metadata.version("maillage"), "database": database, "schema_revision": revision,
        "model": settings.model, "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def backup(settings: Settings, dest: Path, *, with_encoders: bool = True) -> BackupReport:
    """Back the installation of ``settings`` up into the new folder ``dest`` (refused if it exists).

    ``with_encoders=False`` leaves out the materialised encoders and their ONNX exports
    (``models/encoders``, ``models/onnx``): the installed packages make them again on first use.
    """
    dest = dest.resolve()
    if dest.exists():
        raise BackupError(f"la destination {dest} existe déjà : choisissez un nouveau dossier")
    if dest.is_relative_to(settings.home.resolve()):
        raise BackupError(f"la destination {dest} est dans le dossier MAILLAGE_HOME : choisissez un dossier hors de "
                          "celui-ci (idéalement sur un autre disque)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        manifest = _write(settings, partial, set() if with_encoders else {"models/encoders", "models/onnx"})
        _fsync_tree(partial)
        os.rename(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    files = manifest["files"]
    return BackupReport(path=dest, database=manifest["database"], revision=manifest["schema_revision"],
                        files=len(files), bytes=sum(f["bytes"] for f in files.values()))
