"""Calibrated relevance: fitting, the threshold, the stored artifact and its refusal, and its use in lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matcher.calibration import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    calibration_inputs,
    expected_calibration_error,
    fit_calibration,
    label_of,
    load_calibration,
    packaged_prior_calibration,
    reliability,
)
from matcher.ranker import PriorRanker, history_scale


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose true probability of relevance is a logistic function of the three inputs."""
    rng = np.random.default_rng(seed)
    prior, ranks, dense = rng.normal(4.0, 1.0, n), rng.integers(1, 11, n), rng.uniform(0.7, 0.95, n)
    X = calibration_inputs(prior, ranks, dense)
    p = 1.0 / (1.0 + np.exp(-(1.5 * X[:, 0] - 0.8 * X[:, 1] + 2.0 * X[:, 2] - 7.0)))
    return X, (rng.uniform(size=n) < p).astype(int)


def test_a_fitted_calibration_is_calibrated_on_pairs_it_has_not_seen() -> None:
    X, y = _synthetic(4000, 0)
    cal = fit_calibration(X, y, encoder="e", fitted_on="synthetic")
    X_new, y_new = _synthetic(4000, 1)
    p = cal.probabilities(X_new)
    assert expected_calibration_error(p, y_new) < 0.03
    # A constant probability at the base rate is calibrated too, but a wrong constant is not.
    assert expected_calibration_error(np.full(len(y_new), 0.99), y_new) > 0.3
    assert cal.coef[1] < 0 < cal.coef[0]  # lower ranks and lower prior scores are less often relevant


def test_reliability_bins_and_ece_by_hand() -> None:
    p, y = [0.05, 0.15, 0.95, 0.85], [0, 0, 1, 0]
    assert reliability(p, y) == [(0.05, 0.0, 1), (0.15, 0.0, 1), (0.85, 0.0, 1), (0.95, 1.0, 1)]
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 0.15 + 0.85 + 0.05) / 4)
    assert expected_calibration_error([], []) == 0.0


def test_labels_and_the_threshold_never_say_nothing_fits_for_a_list_that_shows_a_fit() -> None:
    assert [label_of(p) for p in (0.9, 0.6, 0.59, 0.3, 0.29, 0.0)] == [
        "forte", "forte", "moyenne", "moyenne", "faible", "faible"]
    X, y = _synthetic(2000, 2)
    best, fits = X[:50], np.array([True] * 40 + [False] * 10)
    cal = fit_calibration(X, y, encoder="e", fitted_on="synthetic", best_inputs=best, list_fits=fits)
    p = cal.probabilities(best)
    assert (p[fits] >= cal.threshold).all()
    assert cal.threshold == pytest.approx(p[fits].min(), abs=1e-12)
    assert fit_calibration(X, y, encoder="e", fitted_on="s", threshold=0.25).threshold == 0.25
    with pytest.raises(ValueError, match="one class only"):
        fit_calibration(X, np.zeros(len(X), dtype=int), encoder="e", fitted_on="s")


def test_the_stored_calibration_loads_back_and_is_refused_when_it_cannot_be_used(tmp_path: Path) -> None:
    X, y = _synthetic(500, 3)
    cal = fit_calibration(X, y, encoder="enc-a", fitted_on="synthetic", threshold=0.2)
    cal.save(tmp_path)
    assert load_calibration(tmp_path, encoder="enc-a") == cal
    assert load_calibration(tmp_path / "nothing-here", encoder="enc-a") is None
    with pytest.raises(CalibrationError, match="fitted with the encoder 'enc-a'"):
        load_calibration(tmp_path, encoder="enc-b")
    path = tmp_path / CALIBRATION_FILE
    head = json.loads(path.read_text())
    for broken, message in ((b"{not json", "cannot read"),
                            (json.dumps({**head, "format_version": 9}).encode(), "format"),
                            (json.dumps({**head, "coef": [1.0, "x", 2.0]}).encode(), "malformed"),
                            (json.dumps({**head, "coef": [1.0, float("nan"), 2.0]}).encode(), "finite"),
                            (json.dumps({**head, "threshold": 3}).encode(), "probability")):
        path.write_bytes(broken)
        with pytest.raises(CalibrationError, match=message):
            load_calibration(tmp_path, encoder="enc-a")
    with pytest.raises(CalibrationError, match="3 finite numbers"):
        Calibration((1.0, 2.0), 0.0, 0.1, "e", "x", 1, 1)  # type: ignore[arg-type]


def test_the_packaged_prior_calibration_is_for_the_packaged_encoder_only() -> None:
    cal = packaged_prior_calibration("multilingual-e5-small")
    assert cal is not None and "judged dev" in cal.fitted_on and 0.0 < cal.threshold < 1.0
    assert packaged_prior_calibration("hashing-256") is None


def test_a_prior_served_alone_trusts_history_by_its_quantity() -> None:
    assert history_scale(0, 100) == 0.0 and history_scale(5, 0) == 0.0
    assert history_scale(100, 100) == pytest.approx(0.5)
    assert history_scale(4664, 184) > 0.95  # réserve parlementaire (dev): thousands over a few hundred
    from matcher.features import COLD_VALUES, COLUMN, FEATURES
    cold = np.zeros((1, len(FEATURES)), dtype=np.float32)
    for name, value in COLD_VALUES.items():
        cold[0, COLUMN[name]] = value
    cold[0, COLUMN["dense"]] = 0.8
    warm = cold.copy()
    warm[0, COLUMN["knn_vote"]] = 0.9
    warm[0, COLUMN["text_clf"]] = 0.8
    full, half, none = PriorRanker(), PriorRanker(history_scale=0.5), PriorRanker(history_scale=0.0)
    # A resource nobody partnered with scores the same whatever the trust; a warm one gains in proportion.
    assert full.predict(cold)[0] == pytest.approx(none.predict(cold)[0], abs=1e-5)
    gain_full = full.predict(warm)[0] - full.predict(cold)[0]
    assert half.predict(warm)[0] - half.predict(cold)[0] == pytest.approx(gain_full / 2, rel=1e-4)
    assert none.predict(warm)[0] == pytest.approx(none.predict(cold)[0], abs=1e-5)
    with pytest.raises(ValueError, match="history_scale"):
        PriorRanker(history_scale=1.5)
