"""Dense vector index on FAISS with catalogue ids and filtered search.

Vectors are ``(n, d) float32`` L2-normalised rows; scores are inner products (cosine). Catalogue ids
(strings) map to FAISS int64 ids in insertion order. Filtering is done inside FAISS with an id
selector, so a filtered search returns k results whenever k allowed items exist, rather than
searching first and coming back short after filtering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

__all__ = ["DenseIndex", "IndexFileError"]


class IndexFileError(RuntimeError):
    """An index file that is missing, corrupt or does not match what the caller expects."""


class DenseIndex:
    """Exact inner-product index over catalogue ids.

    ``search`` returns ``(scores, ids)`` of shape ``(nq, k)``; missing results have id ``None`` and
    score ``-inf`` (FAISS' ``-1``).
    """

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be > 0, got {dim}")
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._ids: list[str | None] = []  # FAISS id → catalogue id (None once removed)
        self._rows: dict[str, int] = {}  # catalogue id → FAISS id

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def ids(self) -> list[str]:
        return [i for i in self._ids if i is not None]

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {v.shape}")
        return v

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add items, replacing any that already exist."""
        v = self._check(vectors)
        if len(ids) != v.shape[0]:
            raise ValueError(f"{len(ids)} ids for {v.shape[0]} vectors")
        self.remove([i for i in ids if i in self._rows])
        start = len(self._ids)
        fids = np.arange(start, start + len(ids), dtype=np.int64)
        self._index.add_with_ids(v, fids)
        for offset, item_id in enumerate(ids):
            self._ids.append(item_id)
            self._rows[item_id] = start + offset

    def remove(self, ids: Iterable[str]) -> int:
        fids = [self._rows.pop(i) for i in ids if i in self._rows]
        if not fids:
            return 0
        for f in fids:
            self._ids[f] = None
        return int(self._index.remove_ids(np.asarray(fids, dtype=np.int64)))

    def faiss_ids(self, ids: Iterable[str]) -> np.ndarray:
        """FAISS ids of the catalogue ids present in the index (unknown ids are skipped)."""
        return np.asarray([self._rows[i] for i in ids if i in self._rows], dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: Iterable[str] | None = None
    ) -> tuple[np.ndarray, list[list[str | None]]]:
        q = self._check(queries)
        k = max(1, int(k))
        params = None
        if allowed is not None:
            sel_ids = self.faiss_ids(allowed)
            if sel_ids.size == 0:
                return np.full((q.shape[0], k), -np.inf, dtype=np.float32), [[None] * k for _ in q]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(sel_ids))
        scores, fids = self._index.search(q, k, params=params)
        scores = np.where(fids < 0, -np.inf, scores).astype(np.float32)
        out = [[self._ids[f] if f >= 0 else None for f in row] for row in fids]
        return scores, out

    def reconstruct(self, item_id: str) -> np.ndarray:
        return self._index.reconstruct(self._rows[item_id])

    # --- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> list[Path]:
        """Write ``dense.faiss`` and ``dense_ids.txt`` into ``folder``; returns the files written."""
        index_path, ids_path = folder / "dense.faiss", folder / "dense_ids.txt"
        faiss.write_index(self._index, str(index_path))
        ids_path.write_text("\n".join("" if i is None else i for i in self._ids), encoding="utf-8")
        return [index_path, ids_path]

    @classmethod
    def load(cls, folder: Path, *, dim: int) -> DenseIndex:
        index_path, ids_path = folder / "dense.faiss", folder / "dense_ids.txt"
        try:
            raw = faiss.read_index(str(index_path))
        except Exception as exc:
            raise IndexFileError(f"cannot read dense index {index_path}: {exc}") from exc
        if raw.d != dim:
            raise IndexFileError(f"dense index {index_path} has dimension {raw.d}, expected {dim}")
        text = ids_path.read_text(encoding="utf-8")
        ids: list[str | None] = [i or None for i in text.split("\n")] if text else []
        self = cls(dim)
        if not isinstance(raw, faiss.IndexIDMap2):
            raise IndexFileError(f"dense index {index_path} is a {type(raw).__name__}, expected IndexIDMap2")
        self._index = raw
        self._ids = ids
        self._rows = {i: n for n, i in enumerate(ids) if i is not None}
        if self._index.ntotal != len(self._rows):
            raise IndexFileError(
                f"dense index {index_path} holds {self._index.ntotal} vectors but "
                f"{ids_path.name} names {len(self._rows)} items: the snapshot is inconsistent"
            )
        return self
