"""An encoder that starts from the ONNX export alone: no PyTorch import until something needs it.

A one-off ``maillage match`` used to spend most of its 15–22 s importing PyTorch and loading the model
to encode one query. When the model folder has an export recorded for it (``export.json`` names the
folder's digest, :func:`indexes.onnx_runtime.source_digest`), :class:`OnnxFirstEncoder` reads the
tokenizer (``tokenizer.json``, with the ``tokenizers`` library) and runs the export in ONNX Runtime:
the same tokens and the same graph as :class:`indexes.encoders.SentenceTransformerEncoder`'s ONNX path,
so the same vectors. What that path does not cover — a batch of more than ``ONNX_MAX_TEXTS`` texts, a
text longer than the model's window — goes to the full encoder, loaded then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from indexes._base import Encoder

__all__ = ["OnnxFirstEncoder", "onnx_first"]


class _Tokenizer:
    """The calls :class:`~indexes.onnx_runtime.OnnxRunner` makes of a transformers tokenizer, over a
    ``tokenizers.Tokenizer`` (padding to the longest text, truncation to ``max_length``)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.load()

    @classmethod
    def later(cls, path: Path) -> _Tokenizer:
        """A tokenizer whose file is read by :meth:`load`, before any call."""
        self = cls.__new__(cls)
        self._path = path
        return self

    def load(self) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(self._path))
        self._pad = self._tok.token_to_id("<pad>") or 0

    def __call__(self, texts: Sequence[str], *, padding: bool = True, truncation: bool = True,
                 max_length: int = 512, return_tensors: str = "np") -> dict[str, np.ndarray]:
        ids = [e.ids[:max_length - 1] + e.ids[-1:] if len(e.ids) > max_length else e.ids
               for e in self._tok.encode_batch(list(texts))]
        width = max(map(len, ids))
        out = np.full((len(ids), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            out[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": out, "attention_mask": mask}

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, special tokens included."""
        return [len(e.ids) for e in self._tok.encode_batch(list(texts))]


_T = TypeVar("_T")


def _in_thread(make: Callable[[], _T]) -> Callable[[], _T]:
    """Start ``make()`` in a thread; the returned call waits for its result (or raises its error).
    Returns once the thread runs, so that it enters ONNX Runtime (which releases the GIL) before the
    caller goes on."""
    box: dict[str, Any] = {}
    running = threading.Event()

    def run() -> None:
        running.set()
        try:
            box["value"] = make()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="onnx-session", daemon=True)
    thread.start()
    running.wait()

    def result() -> _T:
        thread.join()
        if "error" in box:
            raise box["error"]
        value: _T = box["value"]
        return value

    return result


class OnnxFirstEncoder:
    """See the module docstring. ``full``: builds the full encoder (same ``model_id`` and vectors)."""

    def __init__(self, folder: Path, export: Path, *, model_id: str, dim: int, query_prefix: str,
                 document_prefix: str, precision: str, full: Callable[[], Encoder], max_texts: int) -> None:
        from indexes.onnx_runtime import OnnxRunner

        self.model_id, self.dim, self.precision = model_id, dim, precision
        self.query_prefix, self.document_prefix = query_prefix, document_prefix
        self.query_variant = "" if precision == "float32" else precision
        self.max_seq_length, self._max_texts = 512, max_texts
        # The sessions load in threads while this one reads the tokenizer: ONNX Runtime releases the GIL
        # while it loads a graph, the tokenizers library holds it while it parses tokenizer.json, and
        # the two took about as long as each other (0.8 s and 0.6 s) in a one-off match.
        import onnxruntime  # noqa: F401 - here: an import in the thread would wait for the GIL the tokenizer holds

        tokenizer = _Tokenizer.later(folder / "tokenizer.json")
        documents = _in_thread(lambda: OnnxRunner(export / "model.onnx", tokenizer, self.max_seq_length))
        queries = (_in_thread(lambda: OnnxRunner(export / "model.int8.onnx", tokenizer, self.max_seq_length))
                   if precision == "int8" else None)
        tokenizer.load()
        self._count = tokenizer.count
        self._documents = documents()
        self._queries = queries() if queries is not None else self._documents
        self._factory = full
        self._full_encoder: Encoder | None = None
        self._lock = threading.Lock()
        self.runtime = "onnxruntime"

    @property
    def full_loaded(self) -> bool:
        return self._full_encoder is not None

    def _full(self) -> Encoder:
        with self._lock:
            if self._full_encoder is None:
                self._full_encoder = self._factory()
            return self._full_encoder

    def _encode(self, texts: Sequence[str], prefix: str, runner: Any, query: bool) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        full = [prefix + t for t in texts]
        too_long = any(n > self.max_seq_length for n in self._count(full)) if any(
            len(t) > self.max_seq_length - 2 for t in full) else False
        if len(full) > self._max_texts or too_long:
            encoder = self._full()
            return encoder.encode_queries(texts) if query else encoder.encode_documents(texts)
        out = np.asarray(runner(full), dtype=np.float32)
        unit: np.ndarray = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return unit

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix, self._queries, True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prefix, self._documents, False)


def onnx_first(folder: Path, export: Path, precision: str, full: Callable[[], Encoder], *, model_id: str,
               dim: int, query_prefix: str, document_prefix: str, max_texts: int) -> OnnxFirstEncoder | None:
    """The encoder of ``folder`` from its export in ``export``, or ``None`` when the export is missing,
    was made from other weights, or the precision wanted is not ready there (then the full encoder
    makes, checks and chooses it)."""
    from indexes.onnx_runtime import read_export, source_digest
    from indexes.precision import gate_digest

    recorded = read_export(export)
    if not (export / "model.onnx").is_file() or recorded.get("source") != source_digest(folder):
        return None
    if precision == "auto":
        choice = recorded.get("precision") or {}
        if choice.get("gate") != gate_digest(export):
            return None
        precision = str(choice.get("chosen"))
    if precision not in ("float32", "int8") or (precision == "int8" and not (export / "model.int8.onnx").is_file()):
        return None  # bfloat16 is PyTorch's
    return OnnxFirstEncoder(folder, export, model_id=model_id, dim=dim, query_prefix=query_prefix,
                            document_prefix=document_prefix, precision=precision, full=full, max_texts=max_texts)
