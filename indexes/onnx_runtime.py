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

__all__ = ["OnnxRunner", "export_onnx", "supports_onnx"]

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


def export_onnx(model: Any, folder: Path) -> Path:
    """``folder/model.onnx`` for ``model`` (exported now unless an export of the same weights exists)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    target, meta = folder / "model.onnx", folder / "export.json"
    fingerprint = _fingerprint(model)
    if target.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
                return target
        except (OSError, json.JSONDecodeError):
            pass

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
        meta.write_text(json.dumps({"fingerprint": fingerprint, "parity_min_cosine": parity}), encoding="utf-8")
        log.info("exported %s to ONNX (parity %.6f)", folder.name, parity)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit


class OnnxRunner:
    """Mean-pooled (not yet normalised) vectors of texts that fit the model's window."""

    def __init__(self, path: Path, tokenizer: Any, max_length: int, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.log_severity_level = 3
        # A server runs several queries at once on few cores: threads that spin while waiting for work
        # would take the CPU from the other queries.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
