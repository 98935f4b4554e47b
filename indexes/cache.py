"""On-disk embedding cache keyed by (model id, role, text hash).

Re-indexing and re-evaluating unchanged texts costs nothing: :class:`CachedEncoder` wraps any
encoder, looks every text up by the sha256 of its content, encodes only the misses and stores them.
The cache is one SQLite file (WAL mode, safe for several processes); vectors are stored as raw
``float32`` bytes. Only hashes are keys, but the vectors of personal texts are personal data too, so
:meth:`EmbeddingCache.forget` removes them when an initiative is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexes._base import Encoder

__all__ = ["CachedEncoder", "EmbeddingCache", "text_key"]

log = logging.getLogger("maillage.indexes")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """A persistent map ``(model_id, role, sha256(text)) → (d,) float32``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._pid = os.getpid()
        self._inherited: list[threading.local] = []
        self.moved_aside: Path | None = None
        try:
            self._create()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, disk full: not the file's fault
                raise
            # Garbage or a damaged file ("file is not a database", "malformed"): a cache holds nothing
            # that cannot be encoded again, so it is kept aside for a look and a new one started.
            self._local.conn.close()
            self._local = threading.local()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.moved_aside = path.with_name(f"{path.name}.corrupt-{stamp}")
            for suffix in ("", "-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.replace(side, self.moved_aside.with_name(self.moved_aside.name + suffix))
            log.warning("embedding cache %s is unreadable (%s): moved aside to %s, starting with an empty cache",
                        path, exc, self.moved_aside)
            self._create()

    def _create(self) -> None:
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, role TEXT NOT NULL, "
                "key TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, "
                "PRIMARY KEY (model, role, key))"
            )

    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # A forked child (matcher.parallel): SQLite forbids using the parent's connection, so the
            # child opens its own. The inherited one is kept, not closed: closing it here could
            # disturb the parent's locks on the file.
            self._inherited.append(self._local)
            self._local, self._pid = threading.local(), os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            self._local.conn = conn  # before the first statement, which may find the file unreadable
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA secure_delete=ON")  # a forgotten vector's bytes are zeroed, not left free
        return conn

    def get(self, model: str, role: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Vectors found for ``keys`` (missing keys are absent from the result)."""
        found: dict[str, np.ndarray] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, dim, vector FROM embeddings WHERE model = ? AND role = ? AND key IN ({marks})",
                [model, role, *chunk],
            )
            for key, d, blob in rows:
                if d == dim and len(blob) == 4 * dim:  # a damaged row is a miss, re-encoded
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model: str, role: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (model, role, k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        with self._conn() as conn:
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)

    def forget(self, texts: Sequence[str]) -> int:
        """Delete the vectors of ``texts`` for every model and role; returns rows removed. The WAL is
        then checkpointed and truncated, so the vectors are left in no frame of it either."""
        keys = [text_key(t) for t in texts]
        conn = self._conn()
        with conn:
            cur = conn.executemany("DELETE FROM embeddings WHERE key = ?", [(k,) for k in keys])
            removed = int(cur.rowcount)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def has(self, text: str) -> bool:
        """Whether any model or role holds a vector of ``text``."""
        row = self._conn().execute("SELECT 1 FROM embeddings WHERE key = ? LIMIT 1", [text_key(text)]).fetchone()
        return row is not None

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])


class CachedEncoder:
    """An :class:`~indexes.Encoder` that reads and fills an :class:`EmbeddingCache`."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache) -> None:
        self.encoder = encoder
        self.cache = cache
        self._local = threading.local()
        self.model_id = encoder.model_id
        self.dim = encoder.dim
        self.hits = 0
        self.misses = 0

    def _role(self, role: str) -> str:
        """Query vectors of a precision variant are kept apart from float32's (``query@int8``)."""
        variant = getattr(self.encoder, "query_variant", "") if role == "query" else ""
        return f"{role}@{variant}" if variant else role

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        fn = self.encoder.encode_queries if role == "query" else self.encoder.encode_documents
        role = self._role(role)
        found = self.cache.get(self.model_id, role, sorted(set(keys)), self.dim)
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            vectors = fn([t for _, t in missing])
            self.cache.put(self.model_id, role, [k for k, _ in missing], vectors)
            found.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)

    @contextmanager
    def transient(self) -> Iterator[None]:
        """Within this block, in this thread, queries bypass the cache: neither read nor written (the
        service's free-text matches: a citizen's text leaves no trace unless they consent)."""
        before = getattr(self._local, "transient", False)
        self._local.transient = True
        try:
            yield
        finally:
            self._local.transient = before

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self._local, "transient", False):
            return self.encoder.encode_queries(texts)
        return self._encode(texts, "query")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")
