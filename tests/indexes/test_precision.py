"""The parity gate of the encoder's precision variants: it refuses a variant that fails any condition,
and the choice at materialisation never serves a refused variant, however fast."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexes import HashingEncoder
from indexes.precision import GATE_SETS, choose, cosine_parity, judge, parity_texts, read_gate, record_gate

REFERENCE = {"betagouv": 0.412, "reserve-parlementaire": 0.305}


def test_the_fixed_texts_are_french_queries_and_passages() -> None:
    texts = parity_texts()
    assert len(texts) >= 30
    assert all(t.startswith(("query: ", "passage: ")) for t in texts)
    assert any(len(t) > 400 for t in texts) and any(len(t) < 30 for t in texts)  # typed words and whole texts


def test_a_broken_variant_is_refused_on_cosine() -> None:
    enc = HashingEncoder(64)
    texts = parity_texts()
    reference = enc.encode_queries(texts)
    rng = np.random.default_rng(0)
    broken = reference + rng.normal(scale=0.2, size=reference.shape).astype(np.float32)  # a damaged variant
    cos = cosine_parity(reference, broken)
    assert cos[0] < 0.99
    result = judge("int8", cos, REFERENCE, REFERENCE)  # even with an identical nDCG
    assert not result.passed and "cosine" in result.reasons[0]
    same = judge("int8", cosine_parity(reference, reference * 3.0), REFERENCE, REFERENCE)  # scale is no change
    assert same.passed and same.reasons == []


def test_a_variant_is_refused_on_ndcg_on_either_set_or_when_a_set_is_missing() -> None:
    cos = (0.995, 0.998)
    worse = {**REFERENCE, "reserve-parlementaire": REFERENCE["reserve-parlementaire"] - 0.0051}
    refused = judge("int8", cos, worse, REFERENCE)
    assert not refused.passed and "reserve-parlementaire" in refused.reasons[0]
    assert refused.ndcg_delta["reserve-parlementaire"] == pytest.approx(-0.0051)
    within = {**REFERENCE, "betagouv": REFERENCE["betagouv"] - 0.0049}
    assert judge("int8", cos, within, REFERENCE).passed
    missing = judge("int8", cos, {"betagouv": REFERENCE["betagouv"]}, REFERENCE)
    assert not missing.passed and "not measured" in missing.reasons[0]
    strict = judge("int8", cos, within, REFERENCE, max_ndcg_delta=0.001)  # a stricter threshold refuses it
    assert not strict.passed
    assert not judge("int8", (float("nan"), float("nan")), REFERENCE, REFERENCE).passed
    with pytest.raises(ValueError, match="precision"):
        judge("int4", cos, REFERENCE, REFERENCE)


def _slow(texts: Sequence[str]) -> np.ndarray:
    time.sleep(0.002)
    return HashingEncoder(16).encode_queries(texts)


def _fast(texts: Sequence[str]) -> np.ndarray:
    return HashingEncoder(16).encode_queries(texts)


def test_the_choice_serves_the_fastest_variant_that_passed_and_never_a_refused_one(tmp_path: Path) -> None:
    candidates = {"float32": _slow, "int8": _fast}
    nothing = choose(tmp_path, candidates)  # no verdict recorded: float32 only
    assert nothing["chosen"] == "float32" and "int8" in nothing["refused"]
    record_gate(tmp_path, judge("int8", (0.95, 0.97), REFERENCE, REFERENCE))
    refused = choose(tmp_path, candidates)
    assert refused["chosen"] == "float32" and "cosine" in refused["refused"]["int8"][0]
    record_gate(tmp_path, judge("int8", (0.995, 0.998), REFERENCE, REFERENCE))
    passed = choose(tmp_path, candidates)
    assert passed["chosen"] == "int8" and passed["texts_per_s"]["int8"] > passed["texts_per_s"]["float32"]
    assert passed["gate"] != refused["gate"]  # a new verdict makes a new choice
    assert read_gate(tmp_path)["int8"].passed
    (tmp_path / "gate.json").write_text(json.dumps({"format": 99}), encoding="utf-8")
    assert read_gate(tmp_path) == {}  # an unknown record admits nothing
    assert set(GATE_SETS) == {"betagouv", "reserve-parlementaire"}
