"""The "forte" bound of a calibration: fitted so that the label keeps its promise, stored, and shown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matcher.calibration import (
    CALIBRATION_FILE,
    LABELS,
    NEVER,
    STRONG_PRECISION,
    Calibration,
    CalibrationError,
    calibration_inputs,
    fit_calibration,
    label_of,
    load_calibration,
    strong_bound,
)


def _wilson_low(hits: int, n: int) -> float:
    z, share = 1.96, hits / n
    return (share + z * z / (2 * n) - z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def test_the_bound_is_the_least_that_keeps_seven_in_ten_by_the_wilson_interval() -> None:
    # 100 pairs at p 0.95 of which 95 relevant, then 100 at 0.75 of which 65, then 100 at 0.65, 20
    p = np.repeat([0.95, 0.75, 0.65], 100)
    y = np.concatenate([np.arange(100) < 95, np.arange(100) < 65, np.arange(100) < 20]).astype(int)
    assert _wilson_low(160, 200) >= STRONG_PRECISION > _wilson_low(180, 300)  # the figures the rule sees
    assert strong_bound(p, y) == 0.75  # from 0.75: 160 of 200 relevant; from 0.65: 180 of 300
    assert strong_bound(p[::-1], y[::-1]) == 0.75  # order of the pairs does not matter
    # a bound never splits pairs of one probability, nor goes below the fixed "forte" bound
    assert strong_bound(np.full(50, 0.99), np.ones(50)) == 0.99
    assert strong_bound(np.full(50, 0.5), np.ones(50)) == NEVER
    # too few pairs, or too few relevant ones even at the top: nothing is "forte"
    assert strong_bound(np.full(10, 0.99), np.ones(10)) == NEVER
    assert strong_bound(np.linspace(0.99, 0.6, 400), np.arange(400) % 2) == NEVER
    assert strong_bound([], []) == NEVER
    with pytest.raises(ValueError, match="3 probabilities for 2 labels"):
        strong_bound([0.9, 0.8, 0.7], [1, 0])


def test_labels_follow_the_bound() -> None:
    assert [label_of(p, 0.8) for p in (0.85, 0.8, 0.79, 0.3)] == ["forte", "forte", "moyenne", "moyenne"]
    assert label_of(1.0, NEVER) == "moyenne" and label_of(0.2, NEVER) == "faible"
    cal = Calibration((1.0, 0.0, 0.0), 0.0, 0.1, "e", "x", 10, 3, strong=0.9)
    assert (cal.label(0.95), cal.label(0.85), cal.label(0.1)) == ("forte", "moyenne", "faible")
    for bad in (0.5, 1.5, float("nan")):
        with pytest.raises(CalibrationError):
            Calibration((1.0, 0.0, 0.0), 0.0, 0.1, "e", "x", 10, 3, strong=bad)


def test_a_fitted_bound_keeps_its_promise_on_new_lists(tmp_path: Path) -> None:
    def lists(seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        n = 6000
        # probabilities mostly below 0.75: most of those from 0.6 are near it
        prior, ranks, dense = rng.normal(0.0, 0.8, n), np.tile(np.arange(1, 11), n // 10), rng.uniform(0.7, 0.95, n)
        X = calibration_inputs(prior, ranks, dense)
        truth = 1.0 / (1.0 + np.exp(-(1.0 * X[:, 0] - 0.2 * X[:, 1])))
        return X, (rng.uniform(size=n) < truth).astype(int)

    X, y = lists(0)
    cal = fit_calibration(X, y, encoder="e", fitted_on="synthetic")
    assert LABELS[0][1] < cal.strong < NEVER  # a fixed 0.6 would not keep the promise here
    X_new, y_new = lists(1)
    top = np.rint(np.exp(X_new[:, 1])) <= 5
    p = cal.probabilities(X_new)
    strong = top & (p >= cal.strong)
    assert strong.sum() >= 100 and y_new[strong].mean() >= STRONG_PRECISION
    fixed = top & (p >= LABELS[0][1])
    assert y_new[fixed].mean() < STRONG_PRECISION  # what the fixed bound would have promised
    # stored and read back; a file written before the bound existed reads as the fixed bound
    cal.save(tmp_path)
    assert load_calibration(tmp_path, encoder="e") == cal
    head = json.loads((tmp_path / CALIBRATION_FILE).read_text())
    del head["strong"]
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(head))
    old = load_calibration(tmp_path, encoder="e")
    assert old is not None and old.strong == LABELS[0][1]
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({**head, "strong": "forte"}))
    with pytest.raises(CalibrationError, match="malformed"):
        load_calibration(tmp_path, encoder="e")


def test_a_probability_of_one_is_a_bound_like_any_other() -> None:
    p = np.r_[np.ones(30), np.full(30, 0.9)]
    assert strong_bound(p, np.ones(60)) == 0.9  # the "never" value is never returned as a bound
    assert strong_bound(np.ones(30), np.ones(30)) == NEVER


def test_the_evaluation_counts_forte_from_the_labels_shown() -> None:
    from eval.calibration_report import calibration_figures
    from eval.datasets import EvalQuery
    from matcher.schemas import Initiative

    queries = [EvalQuery(f"q{i}", Initiative(id=f"q{i}", title="Un projet"), frozenset({"a"})) for i in range(2)]
    rankings = [["a", "b"], ["b", "a"]]
    probs = [[0.65, 0.62], [0.7, 0.61]]  # all "forte" by the fixed bound
    fixed = calibration_figures(queries, rankings, probs, [False, False], 2)
    assert fixed is not None and fixed["forte_top5"] == 4 and fixed["forte_top5_relevant"] == 0.5
    shown = [["forte", "moyenne"], ["moyenne", "moyenne"]]  # a fitted bound of 0.65
    got = calibration_figures(queries, rankings, probs, [False, False], 2, labels=shown)
    assert got is not None and got["forte_top5"] == 1 and got["forte_top5_relevant"] == 1.0
    assert got["ece"] == fixed["ece"]  # the probabilities are the same
