"""ONNX Runtime inference for sentence-transformers models of the usual shape (a BERT-like encoder, mean
pooling, L2 normalisation), such as multilingual-e5-small.

The model is exported once from its local folder (``torch.onnx.export``: no download), checked against
PyTorch on a few texts, and written atomically under ``$MAILLAGE_HOME/models/onnx/``. Inference then
runs the encoder and the mean pooling in ONNX Runtime: the same vectors (cosine ≥ 0.9999 against
PyTorch, checked at export and by the tests) in a fraction of the time for a single query, which is
what a free-text match waits for. Texts longer than the model's window still go through the
windowed PyTorch path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OnnxRunner", "export_onnx", "quantize_int8", "read_export", "record_choice", "set_threads",
           "source_digest", "supports_onnx"]

log = logging.getLogger("maillage.onnx")

_CHECK_TEXTS = (
    "query: recyclerie solidaire et atelier de réparation de vélos",
    "passage: Appel à projets pour les tiers-lieux ruraux et la mobilité solidaire en Lozère",
    "passage: Aide à l'investissement pour le réemploi",
)
MIN_PARITY = 0.9999


def supports_onnx(model: Any) -> bool:
    """True for Transformer → Pooling(mean) [→ Normalize] pipelines, the only shape exported here."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers ≥ 5
    if mode is None:
        mode = "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else None
    # Prompt tokens must count in the mean, as the exported graph pools every attended token.
    return mode in ("mean", ["mean"], ("mean",)) and getattr(pooling, "include_prompt", True) is not False


def _fingerprint(model: Any) -> str:
    """Identifies the weights an export came from (shape and a sample of every tensor)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model[0].auto_model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        h.update(f"{name}:{tuple(tensor.shape)}".encode())
        h.update(flat[:: max(1, flat.numel() // 64)].float().numpy().tobytes())
    return h.hexdigest()[:24]


def source_digest(source: Path) -> str:
    """Identifies a model folder without loading it (its manifest and configuration files): an export
    recorded with this digest serves that folder with no PyTorch (:mod:`indexes.onnx_encoder`)."""
    h = hashlib.sha256()
    for name in ("maillage_e5.json", "config.json", "modules.json", "tokenizer.json"):
        path = source / name
        h.update(name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    return h.hexdigest()[:24]


def export_onnx(model: Any, folder: Path, source: Path | None = None) -> Path:
    """``folder/model.onnx`` for ``model`` (exported now unless an export of the same weights exists);
    ``source``: the model's folder, whose digest is recorded for loading the export without PyTorch."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    fingerprint = _fingerprint(model)
    digest = source_digest(source) if source is not None else None
    recorded = read_export(folder)
    if target.is_file() and recorded.get("fingerprint") == fingerprint:
        if digest is not None and recorded.get("source") != digest:
            _write_export(folder, {**recorded, "source": digest})
        return target

    class _Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    wrapped = _Pooled(model[0].auto_model).eval()
    sample = model.tokenizer(list(_CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
    fd, tmp_name = tempfile.mkstemp(prefix=".model-", suffix=".onnx", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped, (sample["input_ids"], sample["attention_mask"]), str(tmp),
                input_names=["input_ids", "attention_mask"], output_names=["pooled"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "pooled": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        runner = OnnxRunner(tmp, model.tokenizer, int(model.max_seq_length or 512))
        ours = _unit(runner(list(_CHECK_TEXTS)))
        theirs = np.asarray(model.encode(list(_CHECK_TEXTS), normalize_embeddings=True), dtype=np.float32)
        parity = float(np.min(np.sum(ours * theirs, axis=1)))
        if parity < MIN_PARITY:
            raise RuntimeError(f"ONNX export disagrees with PyTorch (min cosine {parity:.6f} < {MIN_PARITY})")
        os.replace(tmp, target)
        _write_export(folder, {"fingerprint": fingerprint, "parity_min_cosine": parity, "source": digest})
        log.info("exported %s to ONNX (parity %.6f)", folder.name, parity)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def quantize_int8(source: Path) -> Path:
    """``model.int8.onnx`` beside ``source``: its matrix weights quantised to int8 (ONNX Runtime's dynamic
    quantisation: per-channel weights, activations quantised at run time), made once per export."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = source.with_name("model.int8.onnx")
    stamp = source.with_name("int8.json")
    made_from = f"{source.stat().st_size}:{source.stat().st_mtime_ns}"
    if target.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")).get("source") == made_from:
                return target
        except (OSError, json.JSONDecodeError):
            pass
    fd, tmp_name = tempfile.mkstemp(prefix=".model-int8-", suffix=".onnx", dir=source.parent)
    os.close(fd)
    try:
        quantize_dynamic(str(source), tmp_name, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(tmp_name, target)
        stamp.write_text(json.dumps({"source": made_from}), encoding="utf-8")
        log.info("quantised %s to int8", source.parent.name)
        return target
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def read_export(folder: Path) -> dict[str, Any]:
    """The export's manifest ``export.json`` (empty when absent or unreadable)."""
    try:
        data = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def record_choice(folder: Path, choice: dict[str, Any]) -> None:
    """Record the precision chosen at materialisation (:func:`indexes.precision.choose`) in the manifest."""
    _write_export(folder, {**read_export(folder), "precision": choice})


def _write_export(folder: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, folder / "export.json")


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit


def _session(ort: Any, path: Path, options: Any) -> Any:
    """The session of ``path``, from its graph optimised once and saved beside it (``*.mapped.onnx``):
    optimising a 470 MB graph at every start took most of a one-off match's load time. The optimised
    graph keeps its weights in a side file (``*.mapped-<token>.data``) that ONNX Runtime maps into
    memory instead of parsing them out of the graph: 0.1 s to open the e5 session instead of 1.2 s,
    the same vectors. The side file is named anew at each optimisation and the graph, which names it,
    is published last (``os.replace``), so a reader never pairs a graph with the wrong weights."""
    optimised = path.with_suffix(".mapped.onnx")
    session = _open_optimised(ort, path, optimised, options)
    if session is not None:
        return session
    # One process optimises at a time (the others wait, then open its graph): the clean-up of older
    # side files below must not remove the one a concurrent optimisation is writing.
    with open(path.parent / ".optimise.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        session = _open_optimised(ort, path, optimised, options)
        return session if session is not None else _optimise(ort, path, optimised, options)


def _open_optimised(ort: Any, path: Path, optimised: Path, options: Any) -> Any:
    """The session of the optimised graph when it is there and newer than ``path``, else ``None``."""
    if not (optimised.is_file() and optimised.stat().st_mtime_ns >= path.stat().st_mtime_ns):
        return None
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(optimised), options, providers=["CPUExecutionProvider"])
    except Exception:  # a damaged or foreign file, or its weights removed: optimise again
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return None


def _optimise(ort: Any, path: Path, optimised: Path, options: Any) -> Any:
    """Optimise ``path``, publish the graph as ``optimised`` with its weights in a new side file."""
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    fd, tmp = tempfile.mkstemp(prefix=".mapped-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    data = f"{path.stem}.mapped-{Path(tmp).stem.removeprefix('.mapped-')}.data"
    options.optimized_model_filepath = tmp
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", data)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
        if not (path.parent / data).is_file():
            raise OSError(f"ONNX Runtime did not write the weights of {optimised.name} to {data}")
        os.replace(tmp, optimised)
    except BaseException:
        (path.parent / data).unlink(missing_ok=True)
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)
    _forget_older(path, keep=data)
    return session


def _forget_older(path: Path, *, keep: str) -> None:
    """Remove the side files of earlier optimisations of ``path`` and the graph an older Maillage
    optimised with its weights inside (``*.opt.onnx``): 470 MB each for e5. A session already open on
    them keeps its mapping; one about to open them fails and optimises again (see :func:`_session`)."""
    for old in [*path.parent.glob(f"{path.stem}.mapped-*.data"), path.with_suffix(".opt.onnx")]:
        if old.name != keep:
            old.unlink(missing_ok=True)


_threads: int | None = None


def set_threads(threads: int | None) -> None:
    """The ONNX Runtime threads of every session opened from now on in this process (``None``: as many
    as CPUs, up to 4). ``maillage serve`` leaves one CPU to the pipeline (see
    :func:`service.settings.Settings.serving_encoder_threads`)."""
    global _threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
    _threads = threads


class OnnxRunner:
    """Mean-pooled (not yet normalised) vectors of texts that fit the model's window."""

    def __init__(self, path: Path, tokenizer: Any, max_length: int, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _threads or min(os.cpu_count() or 1, 4)
        options.log_severity_level = 3
        # A server runs several queries at once on few cores: threads that spin while waiting for work
        # would take the CPU from the other queries.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = options.intra_op_num_threads
        self.session = _session(ort, path, options)
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            enc = self.tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="np")
            pooled = self.session.run(None, {"input_ids": enc["input_ids"].astype(np.int64),
                                             "attention_mask": enc["attention_mask"].astype(np.int64)})[0]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[chunk] = pooled
        return out
