"""Metrics against values worked out by hand (and, where ranx is installed, against ranx)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from eval import metrics as M

RANKED = ["a", "b", "c", "d", "e"]
REL = {"b", "d"}  # relevant at ranks 2 and 4


def test_ndcg_binary_gains_log2_discount_ideal_from_relevant_count() -> None:
    # DCG@5 = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677; IDCG = 1 + 1/log2(3) = 1.630930.
    assert M.ndcg_at_k(RANKED, REL, 5) == pytest.approx(1.061606 / 1.630930, abs=1e-6)
    assert M.ndcg_at_k(RANKED, REL, 5) == pytest.approx(0.650921, abs=1e-6)
    # @2: one hit at rank 2 → 0.630930 / 1.630930.
    assert M.ndcg_at_k(RANKED, REL, 2) == pytest.approx(0.386853, abs=1e-6)
    # @1: ideal has min(|rel|, k) = 1 hit; the list has none.
    assert M.ndcg_at_k(RANKED, REL, 1) == 0.0
    assert M.ndcg_at_k(["b", "d", "a"], REL, 3) == pytest.approx(1.0)
    # Three relevant items, one found first: ideal at k=2 counts two hits → 1 / (1 + 0.630930).
    assert M.ndcg_at_k(["x", "y"], {"x", "p", "q"}, 2) == pytest.approx(1 / 1.630930, abs=1e-6)
    assert M.ndcg_at_k(RANKED, set(), 5) == 0.0


def test_recall_hit_rr_ap_by_hand() -> None:
    assert M.recall_at_k(RANKED, REL, 2) == 0.5
    assert M.recall_at_k(RANKED, REL, 5) == 1.0
    assert M.hit_at_k(RANKED, REL, 1) == 0.0
    assert M.hit_at_k(RANKED, REL, 2) == 1.0
    assert M.reciprocal_rank(RANKED, REL) == 0.5
    assert M.reciprocal_rank(RANKED, {"zz"}) == 0.0
    # AP = (1/2 + 2/4) / 2 = 0.5
    assert M.average_precision(RANKED, REL) == pytest.approx(0.5)
    # A relevant item never retrieved counts as precision 0: (1/2) / 2.
    assert M.average_precision(["a", "b"], {"b", "z"}) == pytest.approx(0.25)
    # (1/1 + 2/3) / 2
    assert M.average_precision(["x", "a", "y"], {"x", "y"}) == pytest.approx((1 + 2 / 3) / 2)


def test_k_is_validated() -> None:
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        M.ndcg_at_k(RANKED, REL, 0)


def test_coverage_is_share_of_candidates_in_some_top_k() -> None:
    rankings = [["a", "b"], ["a", "c"], ["zz"]]  # "zz" is not a candidate
    assert M.coverage(rankings, {"a", "b", "c", "d"}, 1) == 0.25
    assert M.coverage(rankings, {"a", "b", "c", "d"}, 2) == 0.75


def test_gini_by_hand() -> None:
    assert M.gini([1, 1, 1, 1]) == 0.0
    assert M.gini([0, 0, 0, 4]) == pytest.approx(0.75)  # (n - 1) / n: one holds everything
    # sorted [1, 2, 3]: Σ (2i - n - 1) x_i = -2 + 0 + 6 = 4; / (n Σx = 18)
    assert M.gini([3, 1, 2]) == pytest.approx(4 / 18)
    assert M.gini([0, 0]) == 0.0


def test_provider_concentration_by_hand() -> None:
    provider_of = {f"r{i}": f"p{i}" for i in range(10)}  # 10 providers → top 10 % is one provider
    rankings = [["r0", "r1"], ["r0", "r2"], ["r0", "r1"]]  # slots: p0 3, p1 2, p2 1, others 0
    share, g = M.provider_concentration(rankings, provider_of, 2)
    assert share == pytest.approx(3 / 6)
    # sorted ascending [0 ×7, 1, 2, 3] at i = 8, 9, 10: (5·1 + 7·2 + 9·3) / (10 · 6) = 46 / 60
    assert g == pytest.approx(46 / 60)
    share1, _ = M.provider_concentration(rankings, provider_of, 1)
    assert share1 == 1.0  # every top-1 slot is p0
    assert M.concentration_from_counts([3, 2, 1, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx((0.5, 46 / 60))
    # 30 providers: the top ⌈3.0⌉ = 3, not 4 (0.1 · 30 is 3.0000000000000004 in floating point).
    counts = [10, 5, 5, 5] + [0] * 26
    assert M.concentration_from_counts(counts)[0] == pytest.approx(20 / 25)


def test_bootstrap_ci_is_seeded_and_sized_right() -> None:
    assert M.bootstrap_ci([0.5] * 20) == M.CI(0.5, 0.5, 0.5)
    values = np.random.default_rng(1).normal(size=400)
    a = M.bootstrap_ci(values, seed=3)
    assert a == M.bootstrap_ci(values, seed=3)
    assert a.low < a.value < a.high
    assert a.value == pytest.approx(values.mean())
    # Half-width ≈ 1.96 σ / √n ≈ 0.098 for σ = 1, n = 400.
    assert (a.high - a.low) / 2 == pytest.approx(1.96 / 20, rel=0.2)


def test_bootstrap_ci_of_a_statistic_is_centred_and_clipped() -> None:
    rankings = [[f"r{i}"] for i in range(50)]
    ci = M.bootstrap_ci(statistic=lambda idx: M.coverage([rankings[i] for i in idx], {f"r{i}" for i in range(50)}, 1),
                        n=50, resamples=200, bounds=(0.0, 1.0))
    # Every resample covers fewer distinct resources; centring keeps the point inside the interval.
    assert ci.value == 1.0 and ci.low <= 1.0 and ci.high == 1.0


def test_paired_ttest_against_hand_t_statistic() -> None:
    from scipy import stats

    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 1.0, 4.0]
    # d = [1, 0, 2, 0]: mean 0.75, sd = √(2.75 / 3), t = 0.75 / (sd / 2) = 1.566699, df = 3
    t = 0.75 / (math.sqrt(2.75 / 3) / 2)
    assert t == pytest.approx(1.566699, abs=1e-6)
    assert M.paired_ttest_pvalue(a, b) == pytest.approx(2 * stats.t.sf(t, df=3))
    assert M.paired_ttest_pvalue(a, a) == 1.0
    with pytest.raises(ValueError, match="same length"):
        M.paired_ttest_pvalue([1.0], [1.0, 2.0])


def test_paired_bootstrap_pvalue() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(200)
    assert M.paired_bootstrap_pvalue(a, a) == 1.0
    assert M.paired_bootstrap_pvalue(a + 0.2, a - 0.0 + rng.normal(0, 0.05, 200)) < 0.01
    noisy = M.paired_bootstrap_pvalue(a, a + rng.normal(0, 0.5, 200), seed=1)
    assert noisy > 0.05


def test_metrics_agree_with_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(7)
    docs = [f"d{i}" for i in range(30)]
    rankings, relevant = [], []
    for _ in range(40):
        rankings.append(list(rng.permutation(docs)[:15]))
        relevant.append(set(rng.choice(docs, size=int(rng.integers(1, 4)), replace=False)))
    qrels = ranx.Qrels({f"q{i}": dict.fromkeys(rel, 1) for i, rel in enumerate(relevant)})
    run = ranx.Run({f"q{i}": {d: float(15 - n) for n, d in enumerate(r)} for i, r in enumerate(rankings)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ranx.evaluate(qrels, run, ["ndcg@5", "ndcg@10", "recall@10", "hit_rate@3", "mrr", "map"])
    ours = {
        "ndcg@5": np.mean([M.ndcg_at_k(r, rel, 5) for r, rel in zip(rankings, relevant, strict=True)]),
        "ndcg@10": np.mean([M.ndcg_at_k(r, rel, 10) for r, rel in zip(rankings, relevant, strict=True)]),
        "recall@10": np.mean([M.recall_at_k(r, rel, 10) for r, rel in zip(rankings, relevant, strict=True)]),
        "hit_rate@3": np.mean([M.hit_at_k(r, rel, 3) for r, rel in zip(rankings, relevant, strict=True)]),
        "mrr": np.mean([M.reciprocal_rank(r, rel) for r, rel in zip(rankings, relevant, strict=True)]),
        "map": np.mean([M.average_precision(r, rel) for r, rel in zip(rankings, relevant, strict=True)]),
    }
    for name, value in ours.items():
        assert theirs[name] == pytest.approx(value, abs=1e-9), name


# --- judged sets: graded gains, precision with missing slots, hubness ----------------------------

GRADES = {"a": 3, "b": 2, "c": 1, "z": 0}


def test_graded_ndcg_exponential_gain_ideal_from_every_grade() -> None:
    # [c, a, x] @3: DCG = (2^1-1)/log2(2) + (2^3-1)/log2(3) = 1 + 4.416508 = 5.416508;
    # ideal [a, b, c] = 7 + 3/log2(3) + 1/log2(4) = 7 + 1.892789 + 0.5 = 9.392789.
    assert M.graded_ndcg_at_k(["c", "a", "x"], GRADES, 3) == pytest.approx(5.416508 / 9.392789, abs=1e-6)
    assert M.graded_ndcg_at_k(["c", "a", "x"], GRADES, 3) == pytest.approx(0.576666, abs=1e-6)
    # @1: c (gain 1) against the ideal a (gain 7).
    assert M.graded_ndcg_at_k(["c", "a"], GRADES, 1) == pytest.approx(1 / 7)
    # The ideal counts judged items the list never shows: [a] @2 → 7 / (7 + 3/log2(3)).
    assert M.graded_ndcg_at_k(["a"], GRADES, 2) == pytest.approx(7 / 8.892789, abs=1e-6)
    assert M.graded_ndcg_at_k(["a", "b", "c"], GRADES, 3) == pytest.approx(1.0)
    assert M.graded_ndcg_at_k(["a", "b", "c", "z", "q"], GRADES, 10) == pytest.approx(1.0)
    # Nothing graded above 0: 0 whatever the list.
    assert M.graded_ndcg_at_k(["z", "a"], {"z": 0}, 5) == 0.0
    assert M.graded_ndcg_at_k([], GRADES, 5) == 0.0
    with pytest.raises(ValueError, match="grades must be >= 0"):
        M.graded_ndcg_at_k(["a"], {"a": -1}, 5)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        M.graded_ndcg_at_k(["a"], GRADES, 0)


def test_graded_ndcg_with_binary_grades_is_the_binary_ndcg() -> None:
    # Gain 2^1 - 1 = 1 for every relevant item: the same figure as the binary nDCG.
    binary = dict.fromkeys(REL, 1)
    for k in (1, 2, 5):
        assert M.graded_ndcg_at_k(RANKED, binary, k) == pytest.approx(M.ndcg_at_k(RANKED, REL, k))


def test_precision_counts_missing_slots_as_misses() -> None:
    assert M.precision_at_k(RANKED, REL, 5) == pytest.approx(2 / 5)
    assert M.precision_at_k(RANKED, REL, 2) == pytest.approx(1 / 2)
    assert M.precision_at_k(["b"], REL, 5) == pytest.approx(1 / 5)  # one hit, four empty slots
    assert M.precision_at_k([], REL, 5) == 0.0
    assert M.precision_at_k(RANKED, set(), 5) == 0.0


def test_most_exposed_is_the_largest_share_of_lists_and_its_item() -> None:
    lists = [["a", "b"], ["b", "c"], ["b"], ["d", "a", "b"]]
    assert M.most_exposed(lists, 2) == (0.75, "b")  # b in 3 top-2 lists; the 4th holds it at rank 3
    assert M.most_exposed(lists, 3) == (1.0, "b")
    assert M.most_exposed([["a"], ["b"]], 1) == (0.5, "a")  # tie: smallest id
    assert M.most_exposed([["a", "a"]], 2) == (1.0, "a")  # a list counts once
    assert M.most_exposed([[], []], 5) == (0.0, None)
