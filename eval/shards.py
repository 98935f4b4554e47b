"""Sharded batch matching: a register of initiatives → one output file per shard, plus a manifest.

A shard is a fixed slice of the input's valid initiatives by position (shard ``n`` holds initiatives
``n * shard_size`` to ``(n + 1) * shard_size - 1``), so the same input always cuts into the same
shards. Each shard is matched (``Recommender.recommend``, the one pipeline) and written to
``OUT/shard-00042.parquet`` (or ``.csv``) through a temporary file and ``os.replace``: a shard file is
either absent or complete. ``OUT/manifest.json``, rewritten atomically after every shard, holds the
run's :class:`Fingerprint` (input file hash, index and model versions, k, date, shard size, format) and
each finished shard's row counts and sha256.

Resuming is running the same command again: shards in the manifest whose file still has its sha256
are skipped; the others (never finished, deleted, corrupted) are matched and written again. A
manifest written for another input, index, model or setting is refused with what differs.

How shards are computed is an *executor*: :func:`local_executor` in this process, or
:func:`eval.ray_batch.ray_executor` on Ray Data; both call :func:`shard_file`, so they write the
same bytes for the same shard.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

from eval.batch import COLUMNS
from indexes.cache import CachedEncoder
from indexes.snapshot import file_sha256
from matcher.recommender import Recommender
from matcher.schemas import Initiative, MatchQuery

__all__ = [
    "FORMATS", "MANIFEST", "BatchError", "EngineUnavailable", "Executor", "Fingerprint", "ShardReport",
    "file_sha256", "iter_shards", "local_executor", "match_shard", "resumed_day", "run_sharded", "shard_file",
    "shard_name",
]

FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
ENCODE_CHUNK = 64
"""Query texts of a shard are encoded this many at a time (the same chunks on every executor)."""

Shard = tuple[int, list[Initiative]]
Executor = Callable[[Iterable[Shard]], Iterator[tuple[int, bytes, int]]]
"""Takes the shards to compute, yields ``(shard number, file bytes, match rows)`` as each finishes
(in any order)."""


class BatchError(ValueError):
    """A batch run that cannot start as asked (the message is French and says what to do)."""


class EngineUnavailable(RuntimeError):
    """The executor cannot run: Ray missing, its cluster unreachable, or its workers failing (French)."""


@dataclass(frozen=True)
class Fingerprint:
    """What a run's outputs depend on; a resume must have the same."""

    input_sha256: str
    index_version: str
    model_version: str
    encoder_id: str
    k: int
    on: str
    shard_size: int
    format: str
    format_version: int = FORMAT_VERSION

    def differences(self, other: Fingerprint) -> list[str]:
        """French phrases, one per field where ``other`` (this run) differs from ``self`` (the manifest)."""
        what = {
            "input_sha256": "le fichier d'entrée a changé", "index_version": "l'index des ressources a changé",
            "model_version": "le modèle servi a changé", "encoder_id": "l'encodeur a changé", "k": "k diffère",
            "on": "la date d'appariement (--on) diffère", "shard_size": "la taille des lots (--shard-size) diffère",
            "format": "le format (--format) diffère", "format_version": "la version du format de sortie diffère",
        }
        out = []
        for f in fields(self):
            was, now = getattr(self, f.name), getattr(other, f.name)
            if was != now:
                out.append(f"{what[f.name]} (manifeste : {was}, cette exécution : {now})")
        return out


@dataclass
class ShardReport:
    shards: int = 0
    done: int = 0
    skipped: int = 0
    rewritten: int = 0
    """Shards listed in the manifest whose file was missing or did not match its sha256."""
    initiatives: int = 0
    rows: int = 0
    errors: list[str] = field(default_factory=list)


def shard_name(number: int, fmt: str) -> str:
    return f"shard-{number:05d}.{fmt}"


def iter_shards(initiatives: Iterable[Initiative], size: int) -> Iterator[Shard]:
    """``(number, initiatives)`` slices of ``size`` by position; the last one may be shorter."""
    chunk: list[Initiative] = []
    number = 0
    for ini in initiatives:
        chunk.append(ini)
        if len(chunk) == size:
            yield number, chunk
            number, chunk = number + 1, []
    if chunk:
        yield number, chunk


def match_shard(rec: Recommender, initiatives: Sequence[Initiative], *, k: int, today: date) -> dict[str, list[Any]]:
    """One column list per name of :data:`eval.batch.COLUMNS`, one row per (initiative, rank), in input
    order. Query texts are encoded :data:`ENCODE_CHUNK` at a time (the same chunks wherever the shard is
    computed, so the same vectors), then each initiative is matched by ``Recommender.recommend`` with its
    vector."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    texts = [MatchQuery.from_initiative(ini).text for ini in initiatives]
    # Past the embedding cache: a register's texts are matched once, and a million query vectors in the
    # cache's SQLite file would bloat it and make every worker wait on its lock.
    encoder = rec.encoder.encoder if isinstance(rec.encoder, CachedEncoder) else rec.encoder
    for start in range(0, len(initiatives), ENCODE_CHUNK):
        vectors = encoder.encode_queries(texts[start : start + ENCODE_CHUNK])
        for ini, vector in zip(initiatives[start : start + ENCODE_CHUNK], vectors, strict=True):
            for m in rec.recommend(ini, k, today=today, query_vector=vector).matches:
                row = (ini.id, m.rank, m.resource_id, m.title, m.provider or "", m.kind or "", m.score,
                       m.closes_at.isoformat() if m.closes_at else "", " | ".join(m.reasons),
                       " | ".join(m.near_misses), m.index_version or "", m.model_version or "")
                for name, value in zip(COLUMNS, row, strict=True):
                    cols[name].append(value)
    return cols


def _csv_bytes(cols: dict[str, list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in zip(*(cols[c] for c in COLUMNS), strict=True):
        writer.writerow(["" if v is None else f"{v:.6f}" if isinstance(v, float) else v for v in row])
    return buf.getvalue().encode("utf-8")


def _parquet_bytes(cols: dict[str, list[Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"rank": pa.int32(), "score": pa.float64()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
    table = pa.Table.from_pydict(cols, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def shard_file(cols: dict[str, list[Any]], fmt: str) -> bytes:
    """The bytes of one shard's file: Parquet (``rank`` int32, ``score`` float64, the rest strings) or
    CSV with a header (scores to 6 decimals). Deterministic: the same rows give the same bytes."""
    if fmt == "parquet":
        return _parquet_bytes(cols)
    if fmt == "csv":
        return _csv_bytes(cols)
    raise BatchError(f"format inconnu {fmt!r} : attendu l'un de {', '.join(FORMATS)}")


def local_executor(rec: Recommender, *, k: int, today: date, fmt: str) -> Executor:
    """Shards computed one after the other in this process."""

    def execute(shards: Iterable[Shard]) -> Iterator[tuple[int, bytes, int]]:
        for number, initiatives in shards:
            cols = match_shard(rec, initiatives, k=k, today=today)
            yield number, shard_file(cols, fmt), len(cols["rank"])

    return execute


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Manifest:
    """``manifest.json`` of an output folder: the fingerprint and the finished shards."""

    def __init__(self, folder: Path, fingerprint: Fingerprint, shards: dict[int, dict[str, Any]]) -> None:
        self.path, self.fingerprint, self.shards = folder / MANIFEST, fingerprint, shards

    @classmethod
    def read(cls, folder: Path) -> _Manifest:
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            fp = Fingerprint(**raw["fingerprint"])
            shards = {int(s["shard"]): s for s in raw["shards"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BatchError(f"{path} est illisible ({exc}) : passez --overwrite pour repartir de zéro") from exc
        return cls(folder, fp, shards)

    def write(self, *, complete: bool, total_shards: int | None = None) -> None:
        shards = [self.shards[n] for n in sorted(self.shards)]
        body = {"fingerprint": asdict(self.fingerprint), "complete": complete, "total_shards": total_shards,
                "initiatives": sum(s["initiatives"] for s in shards), "rows": sum(s["rows"] for s in shards),
                "shards": shards}
        _write_atomic(self.path, (json.dumps(body, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def _open_manifest(out: Path, fp: Fingerprint, overwrite: bool) -> _Manifest:
    """The manifest to continue: the folder's own when its fingerprint is this run's, a fresh one for an
    empty or new folder (or any folder of ours with ``overwrite``)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(".shard-*.tmp-*"), *out.glob(f".{MANIFEST}.tmp-*")]:  # left by a killed run
        stale.unlink()
    ours = [p for p in out.iterdir() if p.name == MANIFEST or p.name.startswith("shard-")]
    if overwrite:
        for p in ours:
            p.unlink()
    elif (out / MANIFEST).is_file():
        manifest = _Manifest.read(out)
        diffs = manifest.fingerprint.differences(fp)
        if diffs:
            raise BatchError(
                f"{out} contient un lot lancé avec d'autres réglages : {' ; '.join(diffs)}. Relancez avec les "
                "mêmes réglages pour le reprendre, choisissez un autre dossier, ou passez --overwrite pour repartir "
                "de zéro"
            )
        return manifest
    elif any(out.iterdir()):
        raise BatchError(f"{out} n'est pas vide et ne contient pas de {MANIFEST} d'un lot : choisissez un dossier "
                         "vide ou nouveau")
    return _Manifest(out, fp, {})


def run_sharded(
    initiatives: Iterable[Initiative],
    out: Path,
    fingerprint: Fingerprint,
    execute: Executor,
    *,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> ShardReport:
    """Match every shard of ``initiatives`` not already finished in ``out`` (see the module docstring);
    ``progress(n)`` after ``n`` more initiatives are done or skipped. Raises :class:`BatchError` when
    ``out`` holds another run (or other files) and ``overwrite`` is not set."""
    if fingerprint.format not in FORMATS:
        raise BatchError(f"format inconnu {fingerprint.format!r} : attendu l'un de {', '.join(FORMATS)}")
    if fingerprint.shard_size < 1:
        raise BatchError(f"--shard-size doit être un entier ≥ 1, reçu {fingerprint.shard_size}")
    with _locked(out):
        return _run(initiatives, out, fingerprint, execute, progress, overwrite)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One run at a time per folder: a second ``maillage batch`` on it (a resume typed while the first
    still runs) is refused instead of deleting the first one's temporary files and manifest entries.
    The lock is the kernel's ``flock`` on the folder itself: no file, and a killed run leaves none."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(f"un autre lot écrit déjà dans {out} : attendez qu'il finisse (ou arrêtez-le) avant "
                             "de le reprendre") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def resumed_day(out: Path) -> str | None:
    """The ``--on`` date of the run whose manifest ``out`` holds (``AAAA-MM-JJ``), or None."""
    if not (out / MANIFEST).is_file():
        return None
    return _Manifest.read(out).fingerprint.on


def _run(initiatives: Iterable[Initiative], out: Path, fingerprint: Fingerprint, execute: Executor,
         progress: Callable[[int], None] | None, overwrite: bool) -> ShardReport:
    manifest = _open_manifest(out, fingerprint, overwrite)
    manifest.write(complete=False)  # before any shard file: a folder with shards always has its manifest
    report = ShardReport()
    sizes: dict[int, tuple[str, str]] = {}

    def pending() -> Iterator[Shard]:
        for number, chunk in iter_shards(initiatives, fingerprint.shard_size):
            report.shards += 1
            sizes[number] = (chunk[0].id, chunk[-1].id)
            entry = manifest.shards.get(number)
            path = out / shard_name(number, fingerprint.format)
            if entry is not None and entry["initiatives"] == len(chunk) and path.is_file() \
                    and file_sha256(path) == entry["sha256"]:
                report.skipped += 1
                report.initiatives += len(chunk)
                report.rows += entry["rows"]
                if progress is not None:
                    progress(len(chunk))
                continue
            if entry is not None:
                report.rewritten += 1
                del manifest.shards[number]
            yield number, chunk

    counts: dict[int, int] = {}
    for number, data, rows in execute(_counted(pending(), counts)):
        path = out / shard_name(number, fingerprint.format)
        _write_atomic(path, data)
        first, last = sizes[number]
        manifest.shards[number] = {"shard": number, "file": path.name, "initiatives": counts[number], "rows": rows,
                                   "first_id": first, "last_id": last, "sha256": hashlib.sha256(data).hexdigest()}
        manifest.write(complete=False)
        report.done += 1
        report.initiatives += counts[number]
        report.rows += rows
        if progress is not None:
            progress(counts[number])
    manifest.write(complete=len(manifest.shards) == report.shards, total_shards=report.shards)
    return report


def _counted(shards: Iterable[Shard], counts: dict[int, int]) -> Iterator[Shard]:
    for number, chunk in shards:
        counts[number] = len(chunk)
        yield number, chunk
