"""The query encoder's precision variants at load time: the int8 runner, and the ``auto`` choice made
once per export (:func:`indexes.precision.choose`, recorded in ``export.json``)."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["auto_precision", "recorded_variant", "variant_runner"]

_runners: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def variant_runner(tokenizer: Any, fp32_path: Path, max_length: int) -> Any:
    """The :class:`~indexes.onnx_runtime.OnnxRunner` of the int8 quantisation of ``fp32_path`` (made once)."""
    from indexes.onnx_runtime import OnnxRunner, quantize_int8

    key = (str(fp32_path), max_length)
    with _lock:
        if key not in _runners:
            _runners[key] = OnnxRunner(quantize_int8(fp32_path), tokenizer, max_length)
        return _runners[key]


def auto_precision(encoder: Any, folder: Path, fp32_path: Path, *, bf16_units: bool) -> str:
    """The variant ``auto`` serves: the one recorded in the export's manifest if the gate's verdicts
    have not changed since, else the fastest that passed, timed now on this machine and recorded.
    ``bf16_units``: whether this CPU runs bfloat16 natively (else that variant is never chosen)."""
    from indexes.onnx_runtime import read_export, record_choice
    from indexes.precision import PRECISIONS, choose, gate_digest, read_gate

    recorded = read_export(folder).get("precision")
    if (isinstance(recorded, dict) and recorded.get("gate") == gate_digest(folder)
            and recorded.get("chosen") in PRECISIONS and (recorded["chosen"] != "bfloat16" or bf16_units)):
        return str(recorded["chosen"])
    verdicts = read_gate(folder)
    prefix = encoder.query_prefix
    candidates = {"float32": lambda texts: encoder._onnx([prefix + t for t in texts])}
    if "int8" in verdicts and verdicts["int8"].passed:
        runner = variant_runner(encoder._model.tokenizer, fp32_path, encoder.max_seq_length)
        candidates["int8"] = lambda texts: runner([prefix + t for t in texts])
    if "bfloat16" in verdicts and verdicts["bfloat16"].passed and bf16_units:
        import torch

        bf16 = copy.deepcopy(encoder._model).to(torch.bfloat16)

        def in_bf16(texts: list[str]) -> np.ndarray:
            out: np.ndarray = bf16.encode([prefix + t for t in texts], convert_to_tensor=True).float().numpy()
            return out

        candidates["bfloat16"] = in_bf16
    choice = choose(folder, candidates)
    record_choice(folder, choice)
    return str(choice["chosen"])


def recorded_variant(models_dir: Path | None, model_id: str, runtime: str, precision: str) -> str:
    """The queries' variant a model will serve, known without loading it (for the embedding cache)."""
    if runtime != "onnxruntime":
        return ""
    if precision == "auto":
        from indexes.onnx_runtime import read_export
        from indexes.precision import gate_digest

        folder = (models_dir or Path("var/models/encoders")).parent / "onnx" / model_id
        recorded = read_export(folder).get("precision") or {}
        precision = str(recorded.get("chosen", "float32")) if recorded.get("gate") == gate_digest(folder) else "float32"
    return "" if precision == "float32" else precision
