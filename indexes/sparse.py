"""Sparse BM25 index (bm25s) over catalogue ids, with a French analyser.

``FrenchAnalyzer`` (:mod:`indexes.french`, re-exported here) turns text into index terms: elisions
removed, stop words dropped, Snowball French stemming, then accent folding.

``SparseIndex`` keeps the analysed tokens of every document. BM25 statistics (document frequencies,
average length) depend on the whole corpus, so ``upsert`` and ``remove`` only mark the model stale
and the next query re-fits it from the kept tokens (about 0.2 s for 10k short documents, one core). A removed
id is gone from the kept tokens, so no later query can return it.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import repeat
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from indexes.dense import IndexFileError
from indexes.french import FRENCH_STOP_WORDS, FrenchAnalyzer

__all__ = ["FORMAT_VERSION", "FRENCH_STOP_WORDS", "FrenchAnalyzer", "SparseIndex", "SparseIndexFileError", "top_rows"]

FORMAT_VERSION = 1
CONFIG_FILE = "sparse.json"
TOKENS_FILE = "sparse_tokens.jsonl"

_RECENT_QUERIES = 32
"""Score rows kept per fit: more than the queries being matched at once (a batch of 16, the admission
workers), so that a match's search and its pool's scores read one row (each ``(n,)`` float32)."""
_MISS = object()
_SAMPLE = 16_384
"""Rows of the strided sample :func:`top_rows` reads its cut from (vectors of at least four times as many)."""


class SparseIndexFileError(IndexFileError, ValueError):
    """A sparse index file that is missing, corrupt or truncated (also a ``ValueError``)."""


@dataclass(frozen=True)
class _Fitted:
    """BM25 model over the documents as they were at fit time; row ``r`` of the model is ``ids[r]``."""

    model: bm25s.BM25 | None  # None when no document has any token (nothing can match)
    ids: list[str]
    rows: dict[str, int]
    recent: dict[str, np.ndarray | None] = field(default_factory=dict, compare=False, repr=False)
    """The score rows of the last few queries (a match searches, then scores its pool, for one query)."""


class SparseIndex:
    """BM25 (Lucene variant) over catalogue ids.

    ``search`` returns ``(scores, ids)``: ``(k,) float32`` best first, then ``-inf`` / ``None`` padding
    once no document with a positive score (and allowed, if ``allowed`` is given) is left. Ties are
    broken by insertion order, so results are deterministic and survive save/load.

    Safe to query from several threads; the lazy re-fit happens under a lock.
    """

    def __init__(self, analyzer: FrenchAnalyzer | None = None, k1: float = 1.5, b: float = 0.75) -> None:
        if not (isinstance(k1, int | float) and math.isfinite(k1) and k1 >= 0):
            raise ValueError(f"k1 must be a finite number >= 0, got {k1!r}")
        if not (isinstance(b, int | float) and 0 <= b <= 1):
            raise ValueError(f"b must be a number in [0, 1], got {b!r}")
        self.analyzer = analyzer if analyzer is not None else FrenchAnalyzer()
        self.k1 = float(k1)
        self.b = float(b)
        self._docs: dict[str, list[str]] = {}  # catalogue id → analysed tokens, in insertion order
        self._fitted_: _Fitted | None = None  # None when stale: re-fit on the next query
        self._df: Counter[str] | None = None  # documents holding each term; None when stale
        self._lock = threading.Lock()
        self.generation = 0
        """Bumped by every change to the documents: an array from :meth:`rows_of` is valid while it is the same."""

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def ids(self) -> list[str]:
        return list(self._docs)

    # --- updates -------------------------------------------------------------------------------

    def _analyse_batch(self, ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[str]]:
        if isinstance(ids, str) or isinstance(texts, str):
            raise ValueError("ids and texts must be sequences of strings, not a single string")
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        batch: dict[str, list[str]] = {}
        for item_id, text in zip(ids, texts, strict=True):
            if not isinstance(item_id, str) or not item_id:
                raise ValueError(f"ids must be non-empty strings, got {item_id!r}")
            if not isinstance(text, str):
                raise ValueError(f"text of {item_id!r} must be a string, got {type(text).__name__}")
            if item_id in batch:
                raise ValueError(f"duplicate id {item_id!r} in the batch")
            batch[item_id] = self.analyzer.analyze(text)
        return batch

    def build(self, ids: Sequence[str], texts: Sequence[str]) -> SparseIndex:
        """Replace the whole corpus with ``ids``/``texts`` (ids unique) and fit; returns ``self``."""
        batch = self._analyse_batch(ids, texts)
        with self._lock:
            self._docs = batch
            self._stale()
        self._fitted()
        return self

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add documents, replacing the text of ids already present (they keep their place)."""
        batch = self._analyse_batch(ids, texts)
        with self._lock:
            self._docs.update(batch)
            self._stale()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove the given ids (unknown ids are skipped); returns how many were removed."""
        if isinstance(ids, str):
            raise ValueError(f"remove expects an iterable of ids, not the single string {ids!r}")
        with self._lock:
            removed = sum(self._docs.pop(i, None) is not None for i in set(ids))
            if removed:
                self._stale()
        return removed

    def _stale(self) -> None:
        """The documents changed (under the lock): re-fit on the next query."""
        self._fitted_ = self._df = None
        self.generation += 1

    def _fitted(self) -> _Fitted:
        with self._lock:
            if self._fitted_ is None:
                ids = list(self._docs)
                corpus = list(self._docs.values())
                model = None
                if any(corpus):  # bm25s cannot index a corpus without a single token
                    model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
                    model.index(corpus, show_progress=False)
                self._fitted_ = _Fitted(model, ids, {i: r for r, i in enumerate(ids)})
            return self._fitted_

    # --- queries -------------------------------------------------------------------------------

    def _score_rows(self, fit: _Fitted, query: str) -> np.ndarray | None:
        """``(n,) float32`` BM25 score of every fitted row, or None when no query term is indexed."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        if fit.model is None:
            return None
        hit = fit.recent.get(query, _MISS)  # one read: another thread may drop the entry meanwhile
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        token_ids = fit.model.get_tokens_ids(self.analyzer.analyze(query))
        scores = np.asarray(fit.model.get_scores_from_ids(token_ids), dtype=np.float32) if token_ids else None
        if scores is not None:
            scores.setflags(write=False)  # shared by the callers of the same query
        with self._lock:
            while len(fit.recent) >= _RECENT_QUERIES:
                del fit.recent[next(iter(fit.recent))]
            fit.recent[query] = scores
        return scores

    def rows_of(self, ids: Iterable[str]) -> np.ndarray:
        """``(m,) int64`` rows of the known ids among ``ids`` (unknown ones skipped), to pass as
        ``allowed`` to :meth:`search` many times; valid until the next ``upsert`` or ``remove``."""
        fit = self._fitted()
        return np.fromiter({fit.rows[i] for i in ids if i in fit.rows}, dtype=np.int64)

    def search(
        self, query: str, k: int, *, allowed: Iterable[str] | np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Top ``k`` ids by BM25 score among documents with a positive score (and in ``allowed``).

        Filtering happens on the full score vector before selection, so the result is only short
        when fewer than ``k`` allowed documents match. Unknown ids in ``allowed`` are ignored.
        ``allowed`` may also be an integer array from :meth:`rows_of`.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        if isinstance(allowed, str):
            raise ValueError(f"allowed must be an iterable of ids, not the single string {allowed!r}")
        k = int(k)
        out_scores = np.full(k, -np.inf, dtype=np.float32)
        out_ids: list[str | None] = [None] * k
        fit = self._fitted()
        scores = self._score_rows(fit, query)
        if scores is None:
            return out_scores, out_ids
        if allowed is not None:
            if isinstance(allowed, np.ndarray) and allowed.dtype.kind in "iu":
                rows = allowed[(allowed >= 0) & (allowed < scores.size)].astype(np.int64, copy=False)
            else:
                rows = np.fromiter({fit.rows[i] for i in allowed if i in fit.rows}, dtype=np.int64)
            masked = np.zeros_like(scores)
            masked[rows] = scores[rows]
            scores = masked
        top = top_rows(scores, k)
        out_scores[: top.size] = scores[top]
        out_ids[: top.size] = [fit.ids[r] for r in top]
        return out_scores, out_ids

    def document_frequency(self, term: str) -> int:
        """How many documents hold the index term ``term`` (an analysed term, not a raw word)."""
        with self._lock:
            if self._df is None:
                self._df = Counter(t for tokens in self._docs.values() for t in set(tokens))
            return self._df.get(term, 0)

    def document_terms(self, item_id: str) -> frozenset[str]:
        """The index terms of one document (empty for an unknown id)."""
        with self._lock:
            return frozenset(self._docs.get(item_id, ()))

    def score_of(self, query: str, ids: Sequence[str]) -> np.ndarray:
        """``(len(ids),) float32`` BM25 score of each id for ``query``; 0.0 for no match or unknown id."""
        if isinstance(ids, str):
            raise ValueError(f"ids must be a sequence of ids, not the single string {ids!r}")
        fit = self._fitted()
        out = np.zeros(len(ids), dtype=np.float32)
        scores = self._score_rows(fit, query)
        if scores is not None:
            rows = np.fromiter(map(fit.rows.get, ids, repeat(-1)), dtype=np.int64, count=len(ids))
            known = rows >= 0
            out[known] = scores[rows[known]]
        return out

    # --- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path, *, prefix: str = "") -> list[Path]:
        """Write ``sparse.json`` (config, count, checksum) and ``sparse_tokens.jsonl`` (one
        ``[id, [tokens...]]`` per line, insertion order); returns the files written. ``prefix``
        lets several sparse indexes share one snapshot folder.

        Plain files for a snapshot manifest to hash; publish through ``snapshot.publish`` for atomicity.
        """
        folder.mkdir(parents=True, exist_ok=True)
        config_path, tokens_path = folder / (prefix + CONFIG_FILE), folder / (prefix + TOKENS_FILE)
        with self._lock:
            lines = [json.dumps([i, t], ensure_ascii=False) + "\n" for i, t in self._docs.items()]
        payload = "".join(lines).encode("utf-8")
        tokens_path.write_bytes(payload)
        config = {
            "format_version": FORMAT_VERSION,
            "analyzer": asdict(self.analyzer),
            "k1": self.k1,
            "b": self.b,
            "n_docs": len(lines),
            "tokens_sha256": hashlib.sha256(payload).hexdigest(),
        }
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return [config_path, tokens_path]

    @classmethod
    def load(cls, folder: Path, *, prefix: str = "") -> SparseIndex:
        """Read what ``save`` wrote; raise ``SparseIndexFileError`` (a ``ValueError``) naming the bad file."""
        config_path, tokens_path = folder / (prefix + CONFIG_FILE), folder / (prefix + TOKENS_FILE)
        config = _read_config(config_path)
        try:
            payload = tokens_path.read_bytes()
        except OSError as exc:
            raise SparseIndexFileError(f"cannot read sparse tokens {tokens_path}: {exc}") from exc
        if hashlib.sha256(payload).hexdigest() != config["tokens_sha256"]:
            raise SparseIndexFileError(
                f"{tokens_path} is corrupt or truncated: its checksum differs from the one in {config_path.name}"
            )
        docs: dict[str, list[str]] = {}
        for n, line in enumerate(payload.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                item_id, tokens = json.loads(line)
            except (ValueError, TypeError) as exc:
                raise SparseIndexFileError(f"{tokens_path} line {n}: not an [id, tokens] JSON pair") from exc
            if not (isinstance(item_id, str) and isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)):
                raise SparseIndexFileError(f"{tokens_path} line {n}: expected [str, [str, ...]]")
            if item_id in docs:
                raise SparseIndexFileError(f"{tokens_path} line {n}: duplicate id {item_id!r}")
            docs[item_id] = tokens
        if len(docs) != config["n_docs"]:
            raise SparseIndexFileError(
                f"{tokens_path} holds {len(docs)} documents but {config_path.name} says {config['n_docs']}"
            )
        self = cls(config["analyzer"], k1=config["k1"], b=config["b"])
        self._docs = docs
        return self


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best positive ``scores``, best first, ties broken by row (insertion order).

    At a million rows, gathering every positive row and partitioning them cost 12 ms of a 17 ms search.
    A large vector is first cut at a value read from a strided sample (``_SAMPLE`` rows, cut where
    about four times ``k`` rows are expected above it): when at least ``k`` rows reach the cut, the
    ``k``-th best score reaches it too, so every row of the answer (ties included) is kept and the
    exact selection below runs on a few hundred rows; otherwise it runs on every positive row.
    """
    n = scores.size
    cand = None
    if n >= 4 * _SAMPLE:
        step = n // _SAMPLE
        sample = scores[::step]
        m = min(sample.size, 4 * k // step + 1)
        cut = np.partition(sample, sample.size - m)[sample.size - m]
        if cut > 0:
            above_cut = np.flatnonzero(scores >= cut)
            cand = above_cut if above_cut.size >= k else None
    if cand is None:
        cand = np.flatnonzero(scores > 0)
    if cand.size > k:
        part = cand[np.argpartition(-scores[cand], k - 1)[:k]]
        kth = scores[part].min()
        above = cand[scores[cand] > kth]
        tied = cand[scores[cand] == kth]  # ascending rows: insertion order breaks the tie
        cand = np.concatenate([above, tied[: k - above.size]])
    return cand[np.lexsort((cand, -scores[cand]))]


def _read_config(path: Path) -> dict[str, Any]:
    """Parse and check ``sparse.json``; the analyser comes back as a ``FrenchAnalyzer``."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SparseIndexFileError(f"cannot read sparse index config {path}: {exc}") from exc
    except ValueError as exc:
        raise SparseIndexFileError(f"{path} is not valid JSON (corrupt or truncated): {exc}") from exc
    expected = {"format_version", "analyzer", "k1", "b", "n_docs", "tokens_sha256"}
    if not isinstance(config, dict) or not expected <= config.keys():
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise SparseIndexFileError(f"{path} must be an object with keys {sorted(expected)}, got {got}")
    version = config["format_version"]
    if not isinstance(version, int) or version < 1:
        raise SparseIndexFileError(f"{path}: format_version must be an int >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise SparseIndexFileError(
            f"{path} has format version {version}, newer than this code reads ({FORMAT_VERSION}): "
            "upgrade Maillage or rebuild the index"
        )
    if not isinstance(config["n_docs"], int) or not isinstance(config["tokens_sha256"], str):
        raise SparseIndexFileError(f"{path}: n_docs must be an int and tokens_sha256 a string")
    analyzer = config["analyzer"]
    names = {f.name for f in fields(FrenchAnalyzer)}
    if not isinstance(analyzer, dict) or analyzer.keys() != names:
        raise SparseIndexFileError(f"{path}: analyzer must be an object with keys {sorted(names)}, got {analyzer!r}")
    try:
        config["analyzer"] = FrenchAnalyzer(**analyzer)
        SparseIndex(config["analyzer"], k1=config["k1"], b=config["b"])  # validates k1 and b
    except ValueError as exc:
        raise SparseIndexFileError(f"{path}: {exc}") from exc
    return config
