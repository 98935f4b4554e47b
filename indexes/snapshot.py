"""Versioned on-disk snapshots with a manifest and atomic publication.

Layout under a root folder (``$MAILLAGE_HOME/indexes``)::

    <version>/manifest.json   format version, encoder id and dimension, item count, catalogue hash,
                              package versions, creation time, and the sha256 of every file
    <version>/...             the index files
    CURRENT                   the name of the published version

A snapshot is written into a hidden temporary folder, flushed to disk, renamed to its version, and
only then is ``CURRENT`` replaced (write to a temp file, ``os.replace``). A reader therefore sees
either the previous snapshot or the new one, never a half-written one; :func:`verify` re-hashes the
files so a corrupt or truncated file is reported instead of served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "Manifest", "SnapshotError", "current", "file_sha256", "prune", "publish", "set_current",
           "verify"]

FORMAT_VERSION = 1
_PACKAGES = ("faiss-cpu", "numpy", "sentence-transformers", "torch", "bm25s")


class SnapshotError(RuntimeError):
    """A snapshot that is missing, corrupt, or built for something else than what is asked."""


def _package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and how it was built; written as ``manifest.json``."""

    version: str
    kind: str
    encoder_id: str
    dim: int
    count: int
    catalogue_hash: str
    format_version: int = FORMAT_VERSION
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    packages: dict[str, str] = field(default_factory=_package_versions)
    files: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SnapshotError(f"snapshot {folder} has no manifest.json") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"manifest {path} is not valid JSON: {exc}") from exc
        fmt = data.get("format_version")
        if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
            raise SnapshotError(
                f"snapshot {folder} has format version {fmt!r}, this Maillage reads up to "
                f"{FORMAT_VERSION}: upgrade Maillage or rebuild the index"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise SnapshotError(f"manifest {path} has unexpected fields: {exc}") from exc

    def check(self, *, kind: str, encoder_id: str, dim: int) -> None:
        """Refuse a snapshot built for another kind, encoder or dimension, saying what to do."""
        if self.kind != kind:
            raise SnapshotError(f"snapshot {self.version} is a {self.kind!r} index, expected {kind!r}")
        if self.encoder_id != encoder_id or self.dim != dim:
            raise SnapshotError(
                f"snapshot {self.version} was built with encoder {self.encoder_id!r} (dim {self.dim}) "
                f"but the configured encoder is {encoder_id!r} (dim {dim}): rebuild the index "
                "or configure the same model"
            )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    root: Path,
    write: Callable[[Path], object],
    manifest: Manifest,
    *,
    make_current: bool = True,
) -> Path:
    """Build a snapshot with ``write(tmp_folder)``, seal it with ``manifest`` and publish it.

    Returns the published folder. If ``write`` raises, nothing is published and the previous
    ``CURRENT`` snapshot stays served. With ``make_current=False`` the version is stored but not
    pointed to (a model registered, not yet promoted).
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / manifest.version
    if final.exists():
        raise SnapshotError(f"snapshot {final} already exists; versions are never overwritten")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{manifest.version}-", dir=root))
    try:
        write(tmp)
        files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        sealed = Manifest(**{**asdict(manifest), "files": files})
        (tmp / "manifest.json").write_text(json.dumps(asdict(sealed), indent=2), encoding="utf-8")
        for p in tmp.iterdir():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_current:
        set_current(root, manifest.version)
    return final


def prune(root: Path, keep: int = 3, *, stale_tmp_after_s: float = 3600.0) -> list[str]:
    """Delete all but the ``keep`` newest snapshot versions (never the ``CURRENT`` one), and temporary
    folders of builds interrupted over ``stale_tmp_after_s`` ago. Returns the names removed.

    For index snapshots, which are rebuilt from the catalogue at will; model versions are kept (the
    registry is their audit trail).
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    if not root.is_dir():
        return []
    served = current(root)
    versions = sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").is_file())
    removed = []
    for folder in versions[:-keep]:
        if served is not None and folder.name == served.name:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    now = time.time()
    for tmp in root.glob(".tmp-*"):
        if tmp.is_dir() and now - tmp.stat().st_mtime > stale_tmp_after_s:
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp.name)
    return removed


def set_current(root: Path, version: str) -> None:
    """Point ``CURRENT`` at an existing version, atomically."""
    if not (root / version / "manifest.json").is_file():
        raise SnapshotError(f"no snapshot {version!r} under {root}")
    pointer = root / f".CURRENT.{os.getpid()}.tmp"
    pointer.write_text(version, encoding="utf-8")
    with pointer.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, root / "CURRENT")
    _fsync_dir(root)


def current(root: Path) -> Path | None:
    """The published snapshot folder, or ``None`` when nothing was ever published."""
    pointer = root / "CURRENT"
    if not pointer.is_file():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    folder = root / version
    if not version or not folder.is_dir():
        raise SnapshotError(f"{pointer} names snapshot {version!r}, which does not exist under {root}")
    return folder


def verify(folder: Path) -> Manifest:
    """Read the manifest and re-hash every file it lists; raise on any mismatch."""
    manifest = Manifest.read(folder)
    for name, digest in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise SnapshotError(f"snapshot {manifest.version}: file {name} is missing")
        if file_sha256(path) != digest:
            raise SnapshotError(
                f"snapshot {manifest.version}: file {name} is corrupt or truncated (checksum mismatch); "
                "the index must be rebuilt"
            )
    return manifest
