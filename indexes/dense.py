"""Dense vector index on FAISS: exact while small, HNSW past a measured size, IVF past a larger one,
live updates, filtered search.

Vectors are ``(n, d) float32`` L2-normalised rows; scores are inner products (cosine).

Three kinds behind one class, chosen by the number of live items whenever the index is (re)built:

- ``exact``: ``IndexFlatIP``, below ``hnsw_threshold`` items: exact results, nothing to tune.
- ``hnsw``: ``IndexHNSWFlat`` (float32 storage) from ``hnsw_threshold`` items up.
- ``ivf_sq8``: ``IndexIVFScalarQuantizer`` (8-bit codes, inverted lists trained by k-means on a
  sample) from ``ivf_threshold`` items up, beside a ``float16`` copy of every vector: a million items
  in about 1.2 KB each, built in minutes on 2 cores (HNSW would take hours there). The float16 rows
  score small allowed sets exactly and give vectors back (reconstruction, rebuilds).

``build`` picks the kind; an ``upsert`` that takes an exact index past the threshold rebuilds it as
HNSW; ``compact`` re-picks. FAISS ids are positions in insertion order. HNSW cannot remove a vector, so
``remove`` and the replaced half of an ``upsert`` leave a *tombstone*: the position stays in FAISS but
every search excludes it with an id selector, so it never comes back. ``compact`` rebuilds without
tombstones; it runs by itself once they exceed 20% of the stored vectors.

Filtered search (``allowed``) returns k results whenever k allowed live items exist. It runs inside
FAISS with an id selector (a bitmap over FAISS ids). The exact kind scans only the allowed rows. HNSW
walks disallowed nodes too, so it misses results when they are few: below 20% of the live items, or
for the rows where HNSW comes back short, the allowed rows are scored exactly from the flat storage,
without a second copy of it (a zero-copy view gathers a small subset; FAISS scans a large one in place).

Defaults and the filtered-search thresholds were measured on this project's 2-core machine by ``maillage
bench``, ``scripts/bench_scale.py`` and sweeps on the same data: ``docs/decisions.md``, "Indexes"."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from itertools import repeat
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexes import _dense_format as fmt
from indexes import _dense_kinds as kinds
from indexes._dense_format import FORMAT_VERSION, DenseConfig, IndexFileError, Kind

__all__ = ["FORMAT_VERSION", "DenseConfig", "DenseIndex", "IndexFileError"]

# Tombstones above this share of the stored vectors trigger a rebuild without them.
_COMPACT_ABOVE = 0.2
# A filtered HNSW search below this allowed share of the live items is scored exactly instead
# (docs/decisions.md, "exact search below 20 % allowed").
_EXACT_BELOW_FRACTION = 0.2
# Exact scoring gathers the allowed rows from the storage view while they are at most 1/32 of the
# stored vectors, and above that lets FAISS scan the storage in place with a selector, no copy
# (docs/decisions.md, "gather below n/32").
_GATHER_SHARE = 1 / 32
_ORDER: dict[str, int] = {"exact": 0, "hnsw": 1, "ivf_sq8": 2}


class DenseIndex:
    """Inner-product index over catalogue ids, exact or HNSW (see the module docstring).

    ``search`` returns ``(scores, ids)`` of shape ``(nq, k)``, best first; missing results have id
    ``None`` and score ``-inf``. Safe to call from several threads (one lock serialises them).
    ``generation`` changes with every add, removal or compaction: :meth:`faiss_ids` stay valid till then.
    """

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = DenseConfig.hnsw_threshold,
        hnsw_m: int = DenseConfig.hnsw_m,
        ef_construction: int = DenseConfig.ef_construction,
        ef_search: int = DenseConfig.ef_search,
        ivf_threshold: int = DenseConfig.ivf_threshold,
        ivf_nprobe: int = DenseConfig.ivf_nprobe,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim <= 0:
            raise ValueError(f"dim must be an int > 0, got {dim!r}")
        self.dim = int(dim)
        self.config = DenseConfig(hnsw_threshold, hnsw_m, ef_construction, ef_search, ivf_threshold, ivf_nprobe)
        self._lock = threading.RLock()
        self._half = kinds.half_rows(self.dim)  # ivf_sq8 only: every stored vector in float16, by FAISS id
        self._set(self._new_index(np.zeros((0, self.dim), dtype=np.float32)), [])

    @classmethod
    def build(cls, ids: Sequence[str], vectors: np.ndarray, **config: Any) -> DenseIndex:
        """A new index over ``ids`` / ``(n, d) vectors``: exact below ``hnsw_threshold`` items, HNSW below
        ``ivf_threshold``, else IVF (trained on a seeded sample of ``vectors``)."""
        v = np.asarray(vectors)
        if v.ndim != 2:
            raise ValueError(f"vectors must have shape (n, d), got {v.shape}")
        self = cls(v.shape[1], **config)
        self.upsert(ids, v)
        return self

    # --- state ---------------------------------------------------------------------------------

    def _kind_for(self, n_live: int, current: Kind | None = None) -> Kind:
        """The kind for ``n_live`` items. An IVF that shrinks stays one down to half its threshold:
        a sync that removes a few items just under it must not rebuild a large index as HNSW (slow,
        under the write lock), nor the next additions retrain it."""
        c = self.config
        if n_live < c.hnsw_threshold:
            return "exact"
        # An IVF trains its lists on the items: it needs some (a forced threshold of 0 starts as HNSW).
        ivf_from = max(c.ivf_threshold // 2 if current == "ivf_sq8" else c.ivf_threshold, kinds.IVF_MIN_ITEMS)
        return "hnsw" if n_live < ivf_from else "ivf_sq8"

    def _new_index(self, vectors: np.ndarray, current: Kind | None = None) -> Any:
        """An empty index of the kind for ``len(vectors)`` items (IVF: trained on a sample of them)."""
        return kinds.new_index(self._kind_for(len(vectors), current), self.dim, self.config, vectors)

    def _add(self, v: np.ndarray) -> None:
        """Append ``v`` to the FAISS index (and to the float16 rows of an IVF)."""
        self._index.add(v)
        self.generation += 1
        if self.kind == "ivf_sq8":
            self._half.add(v)

    def _set(self, index: Any, ids: list[str | None]) -> None:
        """Install ``index`` whose position ``p`` holds ``ids[p]`` (``None``: a tombstone)."""
        self._index = index
        self._ids = ids  # FAISS id (position) → catalogue id, None once removed or replaced
        self._rows = {i: p for p, i in enumerate(ids) if i is not None}  # live catalogue id → FAISS id
        self._live = np.fromiter((i is not None for i in ids), dtype=bool, count=len(ids))
        self._live_bits: np.ndarray | None = None  # packed self._live for IDSelectorBitmap, cached
        self.generation: int = getattr(self, "generation", 0) + 1

    def _rebuild(self, ids: list[str | None], vectors: np.ndarray) -> None:
        """Replace everything with ``ids`` / ``vectors`` (no tombstones), re-picking the kind."""
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        self._set(self._new_index(v, self.kind), [])
        self._half = kinds.half_rows(self.dim)
        if len(ids):
            self._add(v)
        self._set(self._index, list(ids))

    @property
    def kind(self) -> Kind:
        if isinstance(self._index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf_sq8" if isinstance(self._index, faiss.IndexIVF) else "exact"

    @property
    def tombstones(self) -> int:
        """Stored vectors that no longer belong to a live item (removed or replaced)."""
        return len(self._ids) - len(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def ids(self) -> list[str]:
        """Live catalogue ids in insertion order."""
        return [i for i in self._ids if i is not None]

    def _storage(self) -> Any:
        """The ``IndexFlat`` holding the vectors (the index itself when exact)."""
        return faiss.downcast_index(self._index.storage) if self.kind == "hnsw" else self._index

    def _vectors(self) -> np.ndarray:
        """``(ntotal, d) float32`` zero-copy view of the stored vectors (exact and HNSW kinds); invalid
        after the next add."""
        n = self._index.ntotal
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        view: np.ndarray = faiss.rev_swig_ptr(self._storage().get_xb(), n * self.dim).reshape(n, self.dim)
        return view

    def _gather(self, fids: np.ndarray | list[int]) -> np.ndarray:
        """``(len(fids), d) float32`` copy of the stored vectors at these FAISS ids (an IVF's: decoded
        from its float16 rows)."""
        if self.kind != "ivf_sq8":
            return np.ascontiguousarray(self._vectors()[fids], dtype=np.float32)
        return kinds.decode_rows(self._half, fids)

    # --- updates -------------------------------------------------------------------------------

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("vectors must be finite (got NaN or inf)")
        return v

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add items, replacing any that already exist; visible to the next search.

        ``ids``: unique non-empty strings without line breaks; ``vectors``: ``(len(ids), d)``.
        """
        v = self._check(vectors)
        if isinstance(ids, str):
            raise ValueError(f"ids must be a sequence of ids, not the single string {ids!r}")
        if len(ids) != v.shape[0]:
            raise ValueError(f"{len(ids)} ids for {v.shape[0]} vectors")
        for item_id in ids:
            if not isinstance(item_id, str) or not item_id or "\n" in item_id or "\r" in item_id:
                raise ValueError(f"ids must be non-empty strings without line breaks, got {item_id!r}")
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise ValueError(f"duplicate id {item_id!r} in the batch")
            seen.add(item_id)
        with self._lock:
            self._tombstone(ids)
            if _ORDER[self._kind_for(len(self._rows) + len(ids))] > _ORDER[self.kind]:
                keep = np.flatnonzero(self._live)
                self._rebuild([self._ids[p] for p in keep] + list(ids), np.vstack([self._gather(keep), v]))
            elif len(ids):
                start = len(self._ids)
                self._add(v)
                self._ids.extend(ids)
                self._rows.update((item_id, start + n) for n, item_id in enumerate(ids))
                self._live = np.concatenate([self._live, np.ones(len(ids), dtype=bool)])
                self._live_bits = None
            self._maybe_compact()

    def _tombstone(self, ids: Iterable[str]) -> int:
        fids = [p for p in (self._rows.pop(i, None) for i in ids) if p is not None]
        for p in fids:
            self._ids[p] = None
        if fids:
            self._live[fids] = False
            self._live_bits, self.generation = None, self.generation + 1
        return len(fids)

    def remove(self, ids: Iterable[str]) -> int:
        """Remove the given ids (unknown ones are skipped); returns how many were removed."""
        if isinstance(ids, str):
            raise ValueError(f"remove expects an iterable of ids, not the single string {ids!r}")
        with self._lock:
            removed = self._tombstone(ids)
            self._maybe_compact()
        return removed

    def _maybe_compact(self) -> None:
        if self.tombstones > _COMPACT_ABOVE * len(self._ids):
            self.compact()

    def compact(self) -> None:
        """Rebuild without tombstones (FAISS ids become positions among the live items again)."""
        with self._lock:
            keep = np.flatnonzero(self._live)
            self._rebuild([self._ids[p] for p in keep], self._gather(keep))

    # --- queries -------------------------------------------------------------------------------

    def faiss_ids(self, ids: Iterable[str]) -> np.ndarray:
        """FAISS ids of the live catalogue ids among ``ids`` (unknown or removed ids are skipped)."""
        fids = np.fromiter(map(self._rows.get, ids, repeat(-1)), dtype=np.int64)
        return fids[fids >= 0]

    def search(
        self, queries: np.ndarray, k: int, *, allowed: Iterable[str] | np.ndarray | None = None
    ) -> tuple[np.ndarray, list[list[str | None]]]:
        """Top ``k`` live items for each ``(nq, d)`` query, restricted to ``allowed`` ids when given.

        Returns ``(nq, k) float32`` scores and ``nq`` lists of ``k`` ids, padded with ``-inf`` / ``None``
        only when fewer than ``k`` allowed live items exist. Unknown ids in ``allowed`` are ignored.
        ``allowed`` may also be an integer array of FAISS ids from :meth:`faiss_ids`, for a caller
        that filters by the same set many times (at a million items, mapping the catalogue ids of a
        large set costs more than the search); ids no longer live are ignored. Such an array is valid
        while ``generation`` is the same (a compaction, which any write may run, renumbers FAISS ids).
        """
        q = self._check(queries)
        k = max(1, int(k))
        if isinstance(allowed, str):
            raise ValueError(f"allowed must be an iterable of ids, not the single string {allowed!r}")
        with self._lock, kinds.one_thread_for(q.shape[0]):
            if allowed is None:
                cand, bits = None, self._live_bitmap() if self.tombstones else None
                n_cand = len(self._rows)
            else:
                # A bitmap over FAISS ids both deduplicates and selects: for 75k allowed of 100k it
                # takes 0.3 ms, where np.unique plus an IDSelectorBatch (a hash set) took 21 ms.
                mask = np.zeros(self._index.ntotal, dtype=bool)
                mask[self._allowed_fids(allowed)] = True
                cand, bits = np.flatnonzero(mask), np.packbits(mask, bitorder="little")
                n_cand = cand.size
            if n_cand == 0:
                return np.full((q.shape[0], k), -np.inf, dtype=np.float32), [[None] * k for _ in q]
            below = kinds.IVF_EXACT_BELOW_FRACTION if self.kind == "ivf_sq8" else _EXACT_BELOW_FRACTION
            if cand is not None and (self.kind == "exact" or n_cand < below * len(self)):
                scores, fids = self._exact(q, k, cand, bits)
            else:
                share = 1.0 if cand is None else n_cand / max(1, len(self))
                scores, fids = self._search(self._index, q, k, bits, share=share)
                if self.kind == "ivf_sq8":
                    scores, fids = kinds.rescore(self._half, q, fids)
                short = (fids >= 0).sum(axis=1) < min(k, n_cand)
                if short.any():  # HNSW missed allowed items it could not reach: score them exactly
                    scores[short], fids[short] = self._exact(q[short], k, cand, bits)
            ids = self._ids
            out = [[ids[f] if f >= 0 else None for f in row] for row in fids.tolist()]
        return np.where(fids < 0, -np.inf, scores).astype(np.float32), out

    def _allowed_fids(self, allowed: Iterable[str] | np.ndarray) -> np.ndarray:
        if isinstance(allowed, np.ndarray) and allowed.dtype.kind in "iu":
            fids = allowed.astype(np.int64, copy=False).ravel()
            fids = fids[(fids >= 0) & (fids < self._index.ntotal)]
            live: np.ndarray = fids[self._live[fids]]
            return live
        return self.faiss_ids(allowed)

    def _live_bitmap(self) -> np.ndarray:
        if self._live_bits is None:
            self._live_bits = np.packbits(self._live, bitorder="little")
        return self._live_bits

    def _search(self, index: Any, q: np.ndarray, k: int, bits: np.ndarray | None,
                share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """``index.search`` restricted to the FAISS ids set in ``bits`` (packed, little-endian) if given.
        An IVF visits more lists when a small ``share`` of the items is allowed (:func:`kinds.ivf_params`)."""
        sel = None if bits is None else faiss.IDSelectorBitmap(self._index.ntotal, faiss.swig_ptr(bits))
        if isinstance(index, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.config.ef_search, k)
            if sel is not None:
                params.sel = sel
        elif isinstance(index, faiss.IndexIVF):
            params = kinds.ivf_params(index, self.config.ivf_nprobe, share, sel)
        else:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
        found: tuple[np.ndarray, np.ndarray] = index.search(q, k, params=params)
        return found

    def _exact(
        self, q: np.ndarray, k: int, cand: np.ndarray | None, bits: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` among ``cand`` (sorted live FAISS ids, also set in ``bits``; None: all live),
        scored from the stored vectors without copying them all (an IVF's float16 rows: in blocks)."""
        if self.kind == "ivf_sq8":
            return self._search(self._half, q, k, bits if cand is not None else self._live_bitmap())
        if cand is not None and cand.size <= _GATHER_SHARE * self._index.ntotal:
            scores, rows = faiss.knn(q, self._vectors()[cand], min(k, cand.size), faiss.METRIC_INNER_PRODUCT)
            fids = np.where(rows >= 0, cand[np.maximum(rows, 0)], -1)
            if k > cand.size:
                pad = ((0, 0), (0, k - cand.size))
                scores, fids = np.pad(scores, pad, constant_values=-np.inf), np.pad(fids, pad, constant_values=-1)
            return scores, fids
        return self._search(self._storage(), q, k, bits)

    def reconstruct(self, item_id: str) -> np.ndarray:
        """``(d,) float32`` stored vector of a live item (``KeyError`` if absent)."""
        with self._lock:
            vector: np.ndarray = self._gather([self._rows[item_id]])[0]
            return vector

    def reconstruct_many(self, item_ids: Sequence[str]) -> np.ndarray:
        """``(len(item_ids), d) float32`` stored vectors of live items, in order (``KeyError`` if one is absent)."""
        with self._lock:
            rows = [self._rows[i] for i in item_ids]
            return self._gather(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    # --- persistence (files: indexes._dense_format) --------------------------------------------

    def save(self, folder: Path) -> list[Path]:
        """Write ``dense.faiss``, ``dense_ids.txt`` (one line per FAISS id, empty for a tombstone) and
        ``dense.json`` (format version, kind, dimension, config) into ``folder``; returns them.

        Each file is written to a temporary name and renamed; publish through ``snapshot.publish`` to
        make the set atomic.
        """
        folder.mkdir(parents=True, exist_ok=True)
        paths = folder / fmt.INDEX_FILE, folder / fmt.IDS_FILE, folder / fmt.CONFIG_FILE
        with self._lock:
            ids_text = "".join(("" if i is None else i) + "\n" for i in self._ids)
            config = {"format_version": FORMAT_VERSION, "kind": self.kind, "dim": self.dim,
                      "stored": len(self._ids), "live": len(self._rows), **asdict(self.config)}
            fmt.write_atomic(paths[0], lambda tmp: faiss.write_index(self._index, str(tmp)))
            if self.kind == "ivf_sq8":
                fmt.write_atomic(folder / fmt.VECTORS_FILE, lambda tmp: faiss.write_index(self._half, str(tmp)))
        fmt.write_atomic(paths[1], lambda tmp: tmp.write_text(ids_text, encoding="utf-8"))
        fmt.write_atomic(paths[2], lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8"))
        return [*paths, folder / fmt.VECTORS_FILE] if config["kind"] == "ivf_sq8" else list(paths)

    @classmethod
    def load(cls, folder: Path, *, dim: int) -> DenseIndex:
        """Read what ``save`` wrote; raise ``IndexFileError`` naming the file and what is wrong.

        Also reads the earlier layout (an ``IndexIDMap2`` over a flat index, no ``dense.json``).
        """
        raw, kind, config, text = fmt.read_index(folder, dim)
        params = {} if config is None else fmt.config_fields(config)
        self = cls(dim, **params)
        if config is None:  # the earlier layout: rebuilt without gaps
            self._rebuild(*fmt.legacy_rows(folder, raw, text, dim))
        else:
            ids = fmt.stored_ids(folder, raw, text)
            if kind == "hnsw":
                raw.hnsw.efSearch = self.config.ef_search
            elif kind == "ivf_sq8":
                raw.nprobe = self.config.ivf_nprobe
                self._half = fmt.read_vectors(folder, raw.ntotal, dim)
            self._set(raw, ids)
        return self
