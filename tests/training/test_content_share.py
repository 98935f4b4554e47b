"""How far a learned ranker's history is trusted against content: the fused content order, its weight
chosen on held-out labelled lists, stored with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matcher.features import COLUMN, FEATURES
from matcher.fusion import fuse_with_prior
from matcher.ranker import LearnedRanker, PriorRanker, RankerError, load_ranker, served_scores
from training.flow import CONTENT_GRID, TrainConfig, choose_content_share, gate_and_fit
from training.pairs import PairSet

GROUP = 20


def test_every_candidate_gets_its_content_order_at_content_share() -> None:
    learned = np.array([0.9, 0.1, 0.5, 0.3])  # learned order: 0, 2, 3, 1
    prior = np.array([1.0, 4.0, 3.0, 2.0])  # prior order: 1, 2, 3, 0
    content = np.array([0.1, 0.2, 0.0, 0.9])  # content order: 3, 1, 0, 2
    fused = fuse_with_prior(learned, prior, share=0.5, k=5, content=content, content_share=2.0)
    base = fuse_with_prior(learned, prior, share=0.5, k=5)
    np.testing.assert_allclose(fused - base, [2 / 7, 2 / 6, 2 / 8, 2 / 5], rtol=1e-6)
    assert list(np.argsort(-fused)) == [3, 1, 0, 2]  # the content order leads at twice the learned weight
    # without content scores, or at weight 0, nothing is added
    np.testing.assert_allclose(fuse_with_prior(learned, prior, content=content, content_share=0.0),
                               fuse_with_prior(learned, prior))
    np.testing.assert_allclose(fuse_with_prior(learned, prior, content_share=1.0), fuse_with_prior(learned, prior))
    # with the prior at 0 the content order still counts
    only = fuse_with_prior(learned, prior, share=0.0, content=content, content_share=1.0)
    assert not np.allclose(only, learned)
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="content_share"):
            fuse_with_prior(learned, prior, content=content, content_share=bad)


def _lists(rng: np.random.Generator, n_lists: int, follow: str) -> PairSet:
    """Lists of GROUP candidates whose one relevant item is the best by the prior's content part
    (``follow="content"``) or by the kNN vote alone, a history feature (``follow="history"``)."""
    X = rng.random((n_lists * GROUP, len(FEATURES))).astype(np.float32)
    X[:, COLUMN["has_history"]] = 1.0
    key = PriorRanker().content_scores(X) if follow == "content" else X[:, COLUMN["knn_vote"]]
    y = np.zeros(len(X), dtype=np.int32)
    for g in range(n_lists):
        rows = slice(g * GROUP, (g + 1) * GROUP)
        y[g * GROUP + int(np.argmax(key[rows]))] = 1
    return PairSet(X, y, np.full(n_lists, GROUP), [f"q{g}" for g in range(n_lists)], 0)


def _history_ranker(rng: np.random.Generator) -> LearnedRanker:
    train = _lists(rng, 60, "history")
    return LearnedRanker(n_estimators=40, min_child_samples=5, n_models=1).fit(train.X, train.y, train.groups)


def test_the_weight_is_chosen_on_the_lists_given() -> None:
    rng = np.random.default_rng(4)
    ranker = _history_ranker(rng)
    weight, figures = choose_content_share(ranker, _lists(rng, 40, "content"))
    assert sorted(figures) == sorted(CONTENT_GRID)
    assert weight > 0 and figures[weight] == max(figures.values()) and figures[weight] > figures[0.0] + 0.05
    assert ranker.content_share == 0.0  # the ranker is left as it was
    weight, figures = choose_content_share(ranker, _lists(rng, 40, "history"))
    assert weight == 0.0 and figures[0.0] == max(figures.values())  # history is what these lists reward
    # a tie goes to the smaller weight: history is trusted unless the lists say otherwise
    weight, figures = choose_content_share(ranker, _lists(rng, 40, "history"), grid=(0.0, 0.0001, 1e-9))
    assert weight == min(w for w, v in figures.items() if v == max(figures.values()))
    with pytest.raises(ValueError, match="no labelled list"):
        choose_content_share(ranker, PairSet(np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int32),
                                             np.zeros(0, np.int64), [], 0))


def test_the_weight_is_served_and_stored_with_the_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ranker = _history_ranker(rng)
    lists = _lists(rng, 10, "content")
    before = served_scores(ranker, lists.X, lists.groups)
    ranker.content_share = 2.0
    after = served_scores(ranker, lists.X, lists.groups)
    assert not np.allclose(before, after)
    ranker.save(tmp_path)
    loaded = load_ranker(tmp_path)
    assert isinstance(loaded, LearnedRanker) and loaded.content_share == 2.0
    np.testing.assert_allclose(served_scores(loaded, lists.X, lists.groups), after, rtol=1e-6)
    # a model saved before the weight existed is served as it was trained: history alone
    head = json.loads((tmp_path / "ranker.json").read_text())
    del head["params"]["content_share"]
    (tmp_path / "ranker.json").write_text(json.dumps(head))
    old = load_ranker(tmp_path)
    assert isinstance(old, LearnedRanker) and old.content_share == 0.0
    np.testing.assert_allclose(served_scores(old, lists.X, lists.groups), before, rtol=1e-6)
    # a damaged weight is refused when the model is loaded, not at the first request
    for bad in (None, -1.0, "2", float("inf")):
        (tmp_path / "ranker.json").write_text(json.dumps({**head, "params": {**head["params"], "content_share": bad}}))
        with pytest.raises(RankerError, match="content_share"):
            load_ranker(tmp_path)


def test_the_gate_chooses_the_weight_and_the_refit_keeps_it() -> None:
    rng = np.random.default_rng(6)
    # The train lists reward history; the later, held-out ones reward a mix: the gate passes (the
    # learned ranker reads history better than the prior) and the held-out lists set the weight.
    train = _lists(rng, 60, "history")
    held = PairSet.concat(_lists(rng, 15, "history"), _lists(rng, 15, "content"))
    params: dict[str, float | int] = {"n_estimators": 40, "min_child_samples": 5, "n_models": 1}
    outcome = gate_and_fit(train, held, config=TrainConfig(folds=None, params=params, refit_on_all=True,
                                                            cold_rate=0.0))
    assert outcome.gate is not None and outcome.gate.passed and outcome.content_choice is not None
    best = max(outcome.content_choice.values())
    assert outcome.validated is not None and outcome.ranker is not None
    assert outcome.content_choice[outcome.validated.content_share] == best
    assert outcome.gate.learned_ndcg10 == best  # the gate judges the ranker at the weight it is served with
    assert outcome.ranker is not outcome.validated and outcome.ranker.content_share == outcome.validated.content_share
    # the weight is chosen for a ranker the gate refused too (`maillage train` registers it anyway)
    refused = gate_and_fit(_lists(rng, 30, "content"), _lists(rng, 20, "history"),
                           config=TrainConfig(folds=None, params={**params, "n_estimators": 2}, cold_rate=0.0),
                           reference=_history_ranker(rng))
    assert refused.gate is not None and not refused.gate.passed and refused.kept is None
    assert refused.content_choice is not None and refused.ranker is not None
    assert refused.content_choice[refused.ranker.content_share] == max(refused.content_choice.values())


def test_the_evaluation_chooses_again_on_hand_judgments_and_keeps_training_s_choice_without(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import eval.maillage_system as ms
    import training.flow as flow
    from matcher.recommender import RecommenderConfig

    base = SimpleNamespace(config=RecommenderConfig())  # the candidates come from the patched build_pairs
    rng = np.random.default_rng(7)
    kept = _history_ranker(rng)
    judged = _lists(rng, 30, "content")  # the judgments reward content
    monkeypatch.setattr(flow, "build_pairs", lambda base, examples, today: judged)
    system = ms.MaillageSystem()
    trained = {0.0: 0.9, 0.25: 0.8}
    kept.content_share = 0.0
    query = SimpleNamespace(initiative=None, relevant=frozenset({"r"}))
    system._trust_content(SimpleNamespace(calibration=[query], today=None), base, kept, trained)  # type: ignore[arg-type]
    want, figures = choose_content_share(kept, judged)
    assert kept.content_share == want > 0 and system.gate_["content_choice"] == figures
    # no judgments: training's choice is recorded as it is
    kept.content_share = 0.25
    system._trust_content(SimpleNamespace(calibration=[], today=None), base, kept, trained)  # type: ignore[arg-type]
    assert kept.content_share == 0.25 and system.gate_ == {**system.gate_, "content_share": 0.25,
                                                          "content_choice": trained}
    # judgments with no usable list (no relevant resource retrieved): training's choice stays
    monkeypatch.setattr(flow, "build_pairs", lambda base, examples, today: PairSet(
        np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64), [], 1))
    system._trust_content(SimpleNamespace(calibration=[query], today=None), base, kept, trained)  # type: ignore[arg-type]
    assert kept.content_share == 0.25 and system.gate_["content_choice"] == trained
