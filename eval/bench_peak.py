"""How far from the machine's limit the encoder runs: a matrix-multiply microbenchmark in the same
process (numpy float32 GEMM, and ONNX Runtime's MatMul), and the encoder's achieved FLOP/s as a
fraction of that peak.

The encoder's work per text is estimated from the model's shape (``config.json``): a BERT layer does
``2 × (4·h² + 2·h·f)`` FLOPs per token in its matrix products, plus ``4·h·T`` for attention over ``T``
tokens; the embeddings are lookups. Achieved = texts/s × tokens/text × FLOPs/token.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["encoder_flops", "encoder_limit", "fraction_of_peak", "gemm_gflops", "onnx_matmul_gflops", "peak"]


def _rate(run: Callable[[], object], flops: float, seconds: float) -> float:
    run()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        done += 1
    return done * flops / (time.perf_counter() - start) / 1e9


def gemm_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """GFLOP/s of numpy's float32 ``(n, n) @ (n, n)`` (its BLAS, all threads)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    return _rate(lambda: a @ b, 2.0 * n**3, seconds)


def onnx_matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float | None:
    """GFLOP/s of ONNX Runtime's float32 MatMul of two ``(n, n)`` inputs (``None`` without onnx)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    x = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    y = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
    z = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [x, y], [z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    return _rate(lambda: session.run(None, feeds), 2.0 * n**3, seconds)


def encoder_flops(config: dict[str, Any], tokens: float) -> float:
    """FLOPs of one forward pass over a text of ``tokens`` tokens (matrix products and attention)."""
    h, f, layers = int(config["hidden_size"]), int(config["intermediate_size"]), int(config["num_hidden_layers"])
    per_token = 2.0 * (4 * h * h + 2 * h * f) + 4.0 * h * tokens
    return layers * per_token * tokens


def model_config(encoder: Any) -> dict[str, Any] | None:
    """The BERT ``config.json`` of an encoder loaded from a folder, if it has one."""
    source = getattr(encoder, "_source", None) or getattr(encoder, "folder", None)
    inner = getattr(encoder, "encoder", None)
    if source is None:
        return model_config(inner) if inner is not None else None
    try:
        data = json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and "hidden_size" in data else None
    except (OSError, TypeError, ValueError):
        return None


def peak(seconds: float = 1.0) -> dict[str, float]:
    """The microbenchmark's figures, GFLOP/s (``peak.gflops``: the better of the two)."""
    out = {"peak.numpy_gemm_gflops": round(gemm_gflops(seconds=seconds), 1)}
    onnx_rate = onnx_matmul_gflops(seconds=seconds)
    if onnx_rate is not None:
        out["peak.onnx_matmul_gflops"] = round(onnx_rate, 1)
    out["peak.gflops"] = max(out.values())
    return out


def fraction_of_peak(config: dict[str, Any], texts_per_s: float, tokens: Sequence[int], peak_gflops: float
                     ) -> dict[str, float]:
    """Achieved GFLOP/s of the encoder at ``texts_per_s`` over texts of ``tokens`` tokens, and its share
    of ``peak_gflops``."""
    per_text = float(np.mean([encoder_flops(config, t) for t in tokens]))
    achieved = texts_per_s * per_text / 1e9
    return {"gflops": round(achieved, 2), "fraction_of_peak": round(achieved / peak_gflops, 4),
            "mflops_per_text": round(per_text / 1e6, 1), "tokens_per_text": round(float(np.mean(tokens)), 1)}


def _tokens(encoder: Any, texts: Sequence[str]) -> list[int]:
    model = getattr(getattr(encoder, "encoder", encoder), "_model", None)
    tokenizer = getattr(model, "tokenizer", None)
    prefix = str(getattr(getattr(encoder, "encoder", encoder), "query_prefix", ""))
    if tokenizer is None:
        return [int(1.5 * len(t.split())) + 2 for t in texts]
    return [len(ids) for ids in tokenizer([prefix + t for t in texts])["input_ids"]]


def encoder_limit(encoder: Any, kinds: dict[str, Sequence[str]], *, seconds: float = 1.0, batch: int = 8,
                  log: Callable[[str], None] = print) -> dict[str, float]:
    """The peak, then for each kind of query text: texts/s encoded one at a time and ``batch`` at a time
    (as the service's batcher does), with the achieved GFLOP/s and fraction of the peak."""
    figures = peak(seconds)
    config = model_config(encoder)
    log(f"matrix-multiply peak: {figures}")
    for kind, texts in kinds.items():
        texts = list(texts)
        one = _texts_per_s(lambda chunk: [encoder.encode_queries([t]) for t in chunk], texts, 1)
        many = _texts_per_s(encoder.encode_queries, texts, batch)
        figures[f"limit.{kind}.one_texts_per_s"] = round(one, 1)
        figures[f"limit.{kind}.batch{batch}_texts_per_s"] = round(many, 1)
        if config is not None:
            tokens = _tokens(encoder, texts)
            for label, rate in (("one", one), (f"batch{batch}", many)):
                share = fraction_of_peak(config, rate, tokens, figures["peak.gflops"])
                figures[f"limit.{kind}.{label}_gflops"] = share["gflops"]
                figures[f"limit.{kind}.{label}_fraction_of_peak"] = share["fraction_of_peak"]
            figures[f"limit.{kind}.tokens_per_text"] = round(float(np.mean(tokens)), 1)
        log(f"{kind}: " + ", ".join(f"{k.split('.', 2)[2]}={v}" for k, v in figures.items()
                                    if k.startswith(f"limit.{kind}.")))
    return figures


def _texts_per_s(encode: Callable[[list[str]], object], texts: list[str], size: int) -> float:
    encode(texts[:size])
    start = time.perf_counter()
    for i in range(0, len(texts), size):
        encode(texts[i : i + size])
    return len(texts) / max(time.perf_counter() - start, 1e-9)
