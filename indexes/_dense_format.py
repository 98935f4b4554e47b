"""How a :class:`~indexes.dense.DenseIndex` lies on disk: its config, its three files and their checks.

``dense.faiss`` is the FAISS index (position ``p`` is FAISS id ``p``), ``dense_ids.txt`` has one line
per FAISS id (empty for a tombstone), ``dense.json`` holds the format version, kind, dimension and the
:class:`DenseConfig`. The readers here check each file and raise :class:`IndexFileError` naming the
file and what is wrong; :meth:`DenseIndex.save` and :meth:`DenseIndex.load` assemble them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "IDS_FILE",
    "INDEX_FILE",
    "KINDS",
    "VECTORS_FILE",
    "DenseConfig",
    "IndexFileError",
    "Kind",
    "config_fields",
    "legacy_rows",
    "read_index",
    "read_vectors",
    "stored_ids",
    "write_atomic",
]

FORMAT_VERSION = 1
INDEX_FILE, IDS_FILE, CONFIG_FILE = "dense.faiss", "dense_ids.txt", "dense.json"
VECTORS_FILE = "dense_vectors.faiss"
"""The ``ivf_sq8`` kind only: every stored vector in float16 (a flat ``QT_fp16`` index: exact scoring
of small allowed sets, reconstruction, rebuilds)."""

Kind = Literal["exact", "hnsw", "ivf_sq8"]
KINDS: tuple[Kind, ...] = ("exact", "hnsw", "ivf_sq8")


class IndexFileError(RuntimeError):
    """An index file that is missing, corrupt or does not match what the caller expects."""


@dataclass(frozen=True)
class DenseConfig:
    """How a :class:`DenseIndex` is built and searched; saved in ``dense.json`` next to the index.

    ``hnsw_threshold``: live items from which the index is HNSW (0 forces HNSW even when empty).
    ``hnsw_m``: HNSW graph degree; ``ef_construction`` / ``ef_search``: HNSW beam widths at build and
    query time (a search of k results uses ``max(ef_search, k)``).
    ``ivf_threshold``: live items from which the index is IVF with 8-bit scalar quantisation (a
    million items fit in about 1.2 KB each, built in minutes on 2 cores, where HNSW takes hours);
    ``ivf_nprobe``: inverted lists visited per query. Files written before these two fields existed
    read with their defaults.
    """

    hnsw_threshold: int = 30_000
    hnsw_m: int = 32
    ef_construction: int = 128
    ef_search: int = 1536
    ivf_threshold: int = 300_000
    ivf_nprobe: int = 48

    def __post_init__(self) -> None:
        for name, low in (("hnsw_threshold", 0), ("hnsw_m", 2), ("ef_construction", 1), ("ef_search", 1),
                          ("ivf_threshold", 0), ("ivf_nprobe", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

_FIRST_FIELDS = ("hnsw_threshold", "hnsw_m", "ef_construction", "ef_search")  # every dense.json has these


def config_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The :class:`DenseConfig` fields of a ``dense.json`` (a field it predates takes its default)."""
    return {f: config[f] for f in DenseConfig.__dataclass_fields__ if f in config}


def read_vectors(folder: Path, ntotal: int, dim: int) -> Any:
    """The ``ivf_sq8`` kind's float16 rows (a flat FAISS index of ``QT_fp16`` codes), checked."""
    path = folder / VECTORS_FILE
    try:
        rows = faiss.read_index(str(path))
    except Exception as exc:
        raise IndexFileError(f"cannot read dense vectors {path}: {exc}") from exc
    fp16 = isinstance(rows, faiss.IndexScalarQuantizer) and rows.sq.qtype == faiss.ScalarQuantizer.QT_fp16
    if not fp16 or rows.ntotal != ntotal or rows.d != dim:
        raise IndexFileError(f"dense vectors {path} are a {type(rows).__name__} of {rows.ntotal} × {rows.d}, "
                             f"expected float16 rows ({ntotal} × {dim}): the snapshot is inconsistent")
    return rows


def read_index(folder: Path, dim: int) -> tuple[Any, Kind, dict[str, Any] | None, str]:
    """``(FAISS index, kind, checked dense.json or None, text of the ids file)`` from ``folder``.

    ``dense.json`` is None in the earlier layout (an ``IndexIDMap2`` over ``IndexFlatIP``, no
    ``dense.json``), read by :func:`legacy_rows`; the current one is read by :func:`stored_ids`.
    """
    index_path, ids_path, config_path = folder / INDEX_FILE, folder / IDS_FILE, folder / CONFIG_FILE
    config = _read_config(config_path, dim) if config_path.exists() else None
    try:
        raw = faiss.read_index(str(index_path))
    except Exception as exc:
        raise IndexFileError(f"cannot read dense index {index_path}: {exc}") from exc
    if raw.d != dim:
        raise IndexFileError(f"dense index {index_path} has dimension {raw.d}, expected {dim}")
    legacy = config is None  # the earlier layout: an IndexIDMap2 over IndexFlatIP, no dense.json
    inner = faiss.downcast_index(raw.index) if legacy and isinstance(raw, faiss.IndexIDMap2) else raw
    kind = _kind_of(inner) if inner is not raw or not legacy else None
    if kind is None or (legacy and kind != "exact"):
        expected = f"without {config_path.name}, IndexIDMap2 over IndexFlatIP" if legacy else (
            "IndexFlatIP, IndexHNSWFlat or IndexIVFScalarQuantizer")
        raise IndexFileError(
            f"dense index {index_path} is a {type(raw).__name__} over {type(inner).__name__} with metric "
            f"{inner.metric_type}, expected {expected} with the inner-product metric ({faiss.METRIC_INNER_PRODUCT})"
        )
    if config is not None and config["kind"] != kind:
        raise IndexFileError(f"dense index {index_path} is {kind} but {config_path.name} says {config['kind']}")
    try:
        text = ids_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IndexFileError(f"cannot read dense ids {ids_path}: {exc}") from exc
    return raw, kind, config, text


def stored_ids(folder: Path, raw: Any, text: str) -> list[str | None]:
    """The ids file's lines (None: a tombstone), checked against ``raw``: one line per stored vector,
    no live id twice."""
    index_path, ids_path = folder / INDEX_FILE, folder / IDS_FILE
    if text and not text.endswith("\n"):
        raise IndexFileError(f"dense ids {ids_path} is truncated (no final line break)")
    ids: list[str | None] = [i or None for i in text.split("\n")[:-1]]
    if raw.ntotal != len(ids):
        raise IndexFileError(
            f"dense index {index_path} holds {raw.ntotal} vectors but {ids_path.name} has "
            f"{len(ids)} lines: the snapshot is inconsistent"
        )
    live = [i for i in ids if i is not None]
    if len(set(live)) != len(live):
        raise IndexFileError(f"dense ids {ids_path} names an id twice")
    return ids


def legacy_rows(folder: Path, raw: Any, text: str, dim: int) -> tuple[list[str | None], np.ndarray]:
    """The earlier layout's live ids and their ``(n, dim)`` vectors in FAISS id order, to rebuild from
    without gaps (its ids file names positions, its index holds vectors only for the live ones)."""
    index_path, ids_path = folder / INDEX_FILE, folder / IDS_FILE
    old: list[str | None] = [i or None for i in text.split("\n")] if text else []
    fids = faiss.vector_to_array(raw.id_map)
    if fids.size and (fids.min() < 0 or fids.max() >= len(old) or any(old[f] is None for f in fids)):
        raise IndexFileError(f"dense index {index_path} holds vectors that {ids_path.name} does not name")
    n = raw.ntotal
    inner = faiss.downcast_index(raw.index)
    vectors = faiss.rev_swig_ptr(inner.get_xb(), n * dim).reshape(n, dim) if n else np.zeros((0, dim))
    return [old[f] for f in fids], vectors


def _kind_of(index: Any) -> Kind | None:
    """``exact`` / ``hnsw`` for the two index types a DenseIndex writes (inner product), else None."""
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    if isinstance(index, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf_sq8"
    return "exact" if type(index) in (faiss.IndexFlatIP, faiss.IndexFlat) else None


def write_atomic(path: Path, write: Any) -> None:
    """Run ``write(tmp)`` on a temporary name beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_config(path: Path, dim: int) -> dict[str, Any]:
    """Parse and check ``dense.json`` against the expected dimension."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IndexFileError(f"cannot read dense index config {path}: {exc}") from exc
    except ValueError as exc:
        raise IndexFileError(f"{path} is not valid JSON (corrupt or truncated): {exc}") from exc
    expected = {"format_version", "kind", "dim", *_FIRST_FIELDS}
    if not isinstance(config, dict) or not expected <= config.keys():
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise IndexFileError(f"{path} must be an object with keys {sorted(expected)}, got {got}")
    version = config["format_version"]
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise IndexFileError(
            f"{path} has format version {version!r}; this code reads 1 to {FORMAT_VERSION}: "
            "upgrade Maillage or rebuild the index"
        )
    if config["kind"] not in KINDS:
        raise IndexFileError(f"{path}: kind must be one of {', '.join(KINDS)}, got {config['kind']!r}")
    if config["dim"] != dim:
        raise IndexFileError(f"{path} says dimension {config['dim']}, expected {dim}")
    try:
        DenseConfig(**config_fields(config))
    except ValueError as exc:
        raise IndexFileError(f"{path}: {exc}") from exc
    return config
