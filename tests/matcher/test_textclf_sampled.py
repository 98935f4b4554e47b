"""Past many rows, each resource's regression reads its positives and a weighted sample of the rest."""

from __future__ import annotations

import numpy as np
import pytest

from matcher import textclf
from matcher.textclf import VectorClassifier


def _projects(n: int, seed: int = 0) -> tuple[np.ndarray, list[frozenset[str]]]:
    """Vectors near one of 12 resource centres (some resources rare), labelled by the centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, 16))
    share = np.array([30, 20, 10, 8, 6, 5, 5, 4, 4, 3, 3, 2], dtype=float)
    src = rng.choice(12, size=n, p=share / share.sum())
    x = (centres[src] + rng.normal(scale=1.2, size=(n, 16))).astype(np.float32)
    return x, [frozenset({f"r{s}"}) for s in src]


def test_a_sampled_fit_scores_like_a_fit_on_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    x, labels = _projects(6000)
    held, held_labels = _projects(800, seed=1)
    full = VectorClassifier().fit(x, labels)
    monkeypatch.setattr(textclf, "SAMPLE_ROWS_FROM", 1000)
    monkeypatch.setattr(textclf, "MIN_NEGATIVES", 400)
    monkeypatch.setattr(textclf, "NEGATIVES_PER_POSITIVE", 2)  # a rare resource reads ~400 of 6,000 rows
    sampled = VectorClassifier().fit(x, labels)
    assert sampled.classes_ == full.classes_
    p_full, p_sampled = full.predict(held), sampled.predict(held)
    truth = np.array([full.classes_.index(next(iter(lab))) for lab in held_labels])
    accuracy_full = float((p_full.argmax(axis=1) == truth).mean())
    accuracy_sampled = float((p_sampled.argmax(axis=1) == truth).mean())
    assert accuracy_sampled >= accuracy_full - 0.02
    assert float((p_full.argmax(axis=1) == p_sampled.argmax(axis=1)).mean()) >= 0.8  # 0.86 when written
    # The weights keep the scale: a rare resource's probabilities are not inflated by its sample.
    np.testing.assert_allclose(p_sampled.mean(axis=0), p_full.mean(axis=0), atol=0.02)


def test_a_sample_keeps_every_positive_and_draws_the_negatives_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _, labels = _projects(6000)
    monkeypatch.setattr(textclf, "SAMPLE_ROWS_FROM", 1000)
    monkeypatch.setattr(textclf, "MIN_NEGATIVES", 400)
    monkeypatch.setattr(textclf, "NEGATIVES_PER_POSITIVE", 2)
    rows, rate = textclf._sampled_rows(6000, np.flatnonzero([lab == {"r11"} for lab in labels]), "r11", 0)
    assert rate < 0.1
    assert np.all(np.diff(rows) > 0)  # sorted, no row twice
    y = np.array([lab == {"r11"} for lab in labels])
    assert y[rows].sum() == y.sum()  # every positive kept
    assert (~y[rows]).sum() == 400


def test_below_the_size_every_row_is_read_as_before() -> None:
    """Each regression is the one fitted on every row, labels read one class at a time (the code before)."""
    from sklearn.linear_model import LogisticRegression

    x, labels = _projects(3000)
    model = VectorClassifier().fit(x, labels)
    for j, rid in enumerate(model.classes_):
        y = np.fromiter((rid in rs for rs in labels), dtype=bool, count=len(labels))
        lr = LogisticRegression(C=model.config.C, max_iter=300, random_state=model.config.seed).fit(x, y)
        np.testing.assert_array_equal(model.coef_[j], lr.coef_[0].astype(np.float32))
        assert model.intercept_[j] == np.float32(lr.intercept_[0])
