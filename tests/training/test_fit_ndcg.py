"""The grouped nDCG of the gates is the evaluation's nDCG, list by list (:mod:`matcher.metrics`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import eval.metrics
from matcher.metrics import ndcg_at_k
from training import ndcg_of_lists

# Four consecutive lists: a positive second; a positive first; ties (scores 2 and 2: the stable order
# keeps list order, so positions 1 then 2); no positive at all.
SCORES = np.array([3.0, 2.0, 1.0, 5.0, 1.0, 1.0, 2.0, 2.0, 0.0, 1.0, 0.0])
Y = np.array([0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0])
GROUPS = np.array([3, 2, 4, 2])
RANKED = [[0, 1, 2], [0, 1], [1, 2, 0, 3], [0, 1]]  # by hand: a stable sort of -scores, per list
RELEVANT = [{1}, {0}, {2, 3}, set()]


def test_each_list_by_hand() -> None:
    by_hand = [1 / math.log2(3), 1.0, (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)), 0.0]
    per_list = [ndcg_at_k(r, rel, 10) for r, rel in zip(RANKED, RELEVANT, strict=True)]
    assert per_list == pytest.approx(by_hand, abs=1e-12)
    assert per_list[2] == pytest.approx(0.650921, abs=1e-6)  # the worked example of tests/eval/test_metrics.py


def test_grouped_helper_is_the_mean_of_per_list_ndcg() -> None:
    for k in (1, 2, 3, 10):
        per_list = [ndcg_at_k(r, rel, k) for r, rel in zip(RANKED, RELEVANT, strict=True)]
        assert ndcg_of_lists(SCORES, Y, GROUPS, k=k) == float(np.mean(per_list)), k  # to the last bit
    # The tie decides: were it broken the other way, list 3 would score 1 + ... over the same ideal.
    assert ndcg_of_lists(SCORES, Y, GROUPS, k=1) == pytest.approx((0 + 1 + 0 + 0) / 4)
    flipped = SCORES.copy()
    flipped[7] += 1e-3
    assert ndcg_of_lists(flipped, Y, GROUPS, k=1) == pytest.approx((0 + 1 + 1 + 0) / 4)


def test_a_list_without_positives_scores_zero_and_no_lists_score_zero() -> None:
    assert ndcg_of_lists(np.array([1.0, 0.0]), np.array([0, 0]), np.array([2])) == 0.0
    assert ndcg_of_lists(np.zeros(0), np.zeros(0, dtype=int), np.zeros(0, dtype=int)) == 0.0


def test_evaluation_and_training_share_one_implementation() -> None:
    assert eval.metrics.ndcg_at_k is ndcg_at_k
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        ndcg_of_lists(SCORES, Y, GROUPS, k=0)
