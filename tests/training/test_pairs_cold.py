"""Feature dropout for cold start: some pairs show their resource as a newcomer."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.features import COLD_VALUES, FEATURES
from training.pairs import PairSet, newcomer_share, simulate_cold


def _pairs(n: int = 2000) -> PairSet:
    rng = np.random.default_rng(0)
    X = rng.random((n, len(FEATURES))).astype(np.float32) + 1.0  # no feature equals a cold value by chance
    y = (rng.random(n) < 0.1).astype(np.int32)
    return PairSet(X, y, np.full(n // 50, 50), [f"q{i}" for i in range(n // 50)], 0)


def test_a_share_of_pairs_loses_its_history_and_nothing_else_changes() -> None:
    pairs = _pairs()
    out = simulate_cold(pairs, 0.2, seed=3)
    history = [FEATURES.index(n) for n in COLD_VALUES]
    others = [j for j in range(len(FEATURES)) if j not in history]
    hidden = np.all(out.X[:, history] == np.asarray(list(COLD_VALUES.values()), dtype=np.float32), axis=1)
    assert 0.15 < hidden.mean() < 0.25
    np.testing.assert_array_equal(out.X[~hidden], pairs.X[~hidden])  # untouched rows are untouched
    np.testing.assert_array_equal(out.X[:, others], pairs.X[:, others])  # content features never change
    # Positives and negatives are hidden alike, or "no history" would itself predict the label.
    assert abs(hidden[pairs.y == 1].mean() - hidden[pairs.y == 0].mean()) < 0.08
    np.testing.assert_array_equal(out.y, pairs.y)
    assert simulate_cold(pairs, 0.0) is pairs
    with pytest.raises(ValueError, match="rate must be 'auto' or in"):
        simulate_cold(pairs, 1.0)


def test_auto_rate_is_the_share_of_newcomers_among_positives() -> None:
    pairs = _pairs()
    col = FEATURES.index("has_history")
    X = pairs.X.copy()
    X[:, col] = 1.0
    positives = np.flatnonzero(pairs.y == 1)
    X[positives[: len(positives) // 4], col] = 0.0  # a quarter of the positives had no history yet
    with_newcomers = PairSet(X, pairs.y, pairs.groups, pairs.query_ids, 0)
    assert newcomer_share(with_newcomers) == pytest.approx(len(positives) // 4 / len(positives))
    hidden = simulate_cold(with_newcomers, "auto", seed=1).X[:, col] == 0.0
    assert 0.18 < hidden[pairs.y == 0].mean() < 0.32  # negatives hidden at about the same rate
    warm = PairSet(np.where(np.arange(len(FEATURES)) == col, 1.0, pairs.X).astype(np.float32), pairs.y,
                   pairs.groups, pairs.query_ids, 0)
    assert simulate_cold(warm, "auto") is warm  # no newcomer in the data: nothing hidden


def test_concat_keeps_every_query_list_whole_and_in_order() -> None:
    pairs = _pairs(500)
    first = pairs.subset(np.arange(len(pairs.groups)) < 4)
    rest = pairs.subset(np.arange(len(pairs.groups)) >= 4)
    back = PairSet.concat(first, rest)
    np.testing.assert_array_equal(back.X, pairs.X)
    np.testing.assert_array_equal(back.y, pairs.y)
    np.testing.assert_array_equal(back.groups, pairs.groups)
    assert back.query_ids == pairs.query_ids
    assert len(PairSet.concat(first)) == len(first)
    with pytest.raises(ValueError, match="at least one"):
        PairSet.concat()
