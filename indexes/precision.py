"""Precision variants of the query encoder, and the parity gate that admits them.

A free-text match waits for one forward pass of the encoder; the variants make it cheaper:

- ``float32``: the ONNX export as is (the reference);
- ``int8``: the export with its matrix weights quantised to int8 (ONNX Runtime's dynamic
  quantisation: activations quantised on the fly, accumulation in int32);
- ``bfloat16``: PyTorch in bfloat16, only where the CPU has bfloat16 matrix units (AMX, AVX512-BF16).

A variant is served only once it has passed the **parity gate** against float32: every text of a
fixed set of French texts (``indexes/data/parity_fr.txt``) at a cosine ≥ :data:`MIN_COSINE` to its
float32 vector, **and** nDCG@10 within :data:`MAX_NDCG_DELTA` of float32's on each of
:data:`GATE_SETS`. The evaluations are expensive, so ``scripts/encoder_gate.py`` runs them and
records every variant's verdict in ``gate.json`` beside the export; when the model is materialised
(:func:`choose`), the variants that passed are timed on this machine and the fastest is recorded in
the export's manifest, so ``MAILLAGE_ENCODER_PRECISION=auto`` serves it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GATE_FILE", "GATE_SETS", "MAX_NDCG_DELTA", "MIN_COSINE", "PRECISIONS", "GateResult", "choose",
           "cosine_parity", "gate_digest", "judge", "parity_texts", "read_gate", "record_gate", "time_encoder"]

PRECISIONS = ("float32", "int8", "bfloat16")
MIN_COSINE = 0.99
"""Least cosine between a variant's vector and float32's, for every text of the fixed set."""
MAX_NDCG_DELTA = 0.005
"""Largest difference of nDCG@10 to float32's allowed on each evaluation set."""
GATE_SETS = ("betagouv", "reserve-parlementaire")
GATE_FILE = "gate.json"
_GATE_FORMAT = 1


def parity_texts() -> list[str]:
    """The fixed French texts of the gate (each with its ``query: `` or ``passage: `` prefix)."""
    raw = importlib.resources.files("indexes").joinpath("data/parity_fr.txt").read_text(encoding="utf-8")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("#")]


def cosine_parity(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """``(min, mean)`` row-wise cosine between two ``(n, d)`` arrays of the same texts (normalised here)."""
    if reference.shape != candidate.shape or reference.ndim != 2 or len(reference) == 0:
        raise ValueError(f"expected two (n, d) arrays of one shape, got {reference.shape} and {candidate.shape}")
    a = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    b = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
    cos = np.sum(a.astype(np.float64) * b, axis=1)
    return float(cos.min()), float(cos.mean())


@dataclass(frozen=True)
class GateResult:
    """One variant's verdict: its cosines to float32 on the fixed texts, nDCG@10 per set for it and for
    float32 (same run), whether it passed, and why not."""

    precision: str
    cosine_min: float
    cosine_mean: float
    ndcg: dict[str, float] = field(default_factory=dict)
    ndcg_reference: dict[str, float] = field(default_factory=dict)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)
    min_cosine: float = MIN_COSINE
    max_ndcg_delta: float = MAX_NDCG_DELTA

    @property
    def ndcg_delta(self) -> dict[str, float]:
        return {s: round(self.ndcg[s] - self.ndcg_reference[s], 5) for s in self.ndcg if s in self.ndcg_reference}


def judge(precision: str, cosine: tuple[float, float], ndcg: Mapping[str, float], ndcg_reference: Mapping[str, float],
          *, min_cosine: float = MIN_COSINE, max_ndcg_delta: float = MAX_NDCG_DELTA,
          sets: Sequence[str] = GATE_SETS) -> GateResult:
    """The gate's verdict on ``precision`` (``cosine``: ``(min, mean)`` from :func:`cosine_parity`).
    Every condition is required: a set not evaluated is a failure, never a pass."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    reasons = []
    if not cosine[0] >= min_cosine:  # NaN fails too
        reasons.append(f"cosine to float32 {cosine[0]:.4f} < {min_cosine} on at least one fixed text")
    for s in sets:
        if s not in ndcg or s not in ndcg_reference:
            reasons.append(f"nDCG@10 on {s} not measured")
        elif not abs(ndcg[s] - ndcg_reference[s]) <= max_ndcg_delta:
            reasons.append(f"nDCG@10 on {s} {ndcg[s]:.4f} against {ndcg_reference[s]:.4f} for float32 "
                           f"(differs by more than {max_ndcg_delta})")
    return GateResult(precision, round(cosine[0], 6), round(cosine[1], 6), dict(ndcg), dict(ndcg_reference),
                      not reasons, reasons, min_cosine, max_ndcg_delta)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def read_gate(folder: Path) -> dict[str, GateResult]:
    """The verdicts recorded in ``folder/gate.json`` (none when absent or unreadable: nothing passes)."""
    try:
        data = json.loads((folder / GATE_FILE).read_text(encoding="utf-8"))
        if data.get("format") != _GATE_FORMAT:
            return {}
        return {p: GateResult(**{k: v for k, v in r.items() if k in GateResult.__dataclass_fields__})
                for p, r in data["variants"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def record_gate(folder: Path, result: GateResult, meta: Mapping[str, Any] | None = None) -> None:
    """Add (or replace) ``result`` in ``folder/gate.json``, atomically."""
    try:
        data = json.loads((folder / GATE_FILE).read_text(encoding="utf-8"))
        variants = data["variants"] if data.get("format") == _GATE_FORMAT else {}
    except (OSError, ValueError, KeyError):
        variants = {}
    variants[result.precision] = {**asdict(result), "ndcg_delta": result.ndcg_delta, **(meta or {})}
    _write_json(folder / GATE_FILE, {"format": _GATE_FORMAT, "variants": variants})


def gate_digest(folder: Path) -> str:
    """Identifies the recorded verdicts: a choice made against other verdicts is made again."""
    try:
        return hashlib.sha256((folder / GATE_FILE).read_bytes()).hexdigest()[:16]
    except OSError:
        return "none"


def time_encoder(encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], *, rounds: int = 2) -> float:
    """Texts per second of ``encode`` called on one text at a time (as a request encodes its own), the
    best of ``rounds`` passes after one warm-up call."""
    encode(texts[:1])
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for t in texts:
            encode([t])
        best = min(best, time.perf_counter() - start)
    return len(texts) / max(best, 1e-9)


def choose(folder: Path, candidates: Mapping[str, Callable[[Sequence[str]], np.ndarray]]) -> dict[str, Any]:
    """The fastest of ``candidates`` (precision → encode) that passed the gate recorded in ``folder``,
    float32 always admitted; timed here on the fixed texts. Returns what goes in the manifest:
    ``{"chosen", "texts_per_s", "admitted", "refused", "gate", "measured_at"}``."""
    verdicts = read_gate(folder)
    admitted = {p: f for p, f in candidates.items() if p == "float32" or (p in verdicts and verdicts[p].passed)}
    refused = {p: (verdicts[p].reasons if p in verdicts else ["not gated (run scripts/encoder_gate.py)"])
               for p in candidates if p not in admitted}
    texts = parity_texts()
    speeds = {p: round(time_encoder(f, texts), 1) for p, f in admitted.items()} if len(admitted) > 1 else {}
    chosen = max(speeds, key=lambda p: speeds[p]) if speeds else "float32"
    return {"chosen": chosen, "texts_per_s": speeds, "admitted": sorted(admitted), "refused": refused,
            "gate": gate_digest(folder), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
