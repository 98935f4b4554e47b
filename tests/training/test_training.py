from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import matcher.ranker
from indexes import HashingEncoder
from matcher.demo_catalogue import load_demo
from matcher.features import FEATURES
from matcher.indexing import ResourceIndex
from matcher.ranker import LearnedRanker, PriorRanker, load_ranker
from matcher.recommender import Recommender
from matcher.registry import ModelRegistry, PromotionRefused
from matcher.schemas import MatchQuery
from matcher.store import Catalogue, sqlite_url
from service.engine import served_recommender
from service.settings import Settings
from training import (
    build_pairs,
    examples_from_outcomes,
    ndcg_of_lists,
    train_from_catalogue,
)
from training.flow import TooFewExamples, TrainConfig, gate_and_fit, thin_evenly, train_ranker
from training.pairs import PairSet

TODAY = date(2026, 12, 1)
FAST = {"limit": 80, "folds": 3, "params": {"n_estimators": 40}}  # small: the machine has two cores


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalogue, ResourceIndex, HashingEncoder, Path]]:
    root = tmp_path_factory.mktemp("train")
    store = Catalogue.open(sqlite_url(root / "m.db"))
    load_demo(store, today=TODAY)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, root / "idx")
    yield store, index, encoder, root
    store.close()


def test_ndcg_of_lists_by_hand() -> None:
    y = np.array([0, 1, 0, 1, 0])
    # list 1 (3 items): relevant at position 2 → 1/log2(3); list 2 (2 items): relevant first → 1
    assert ndcg_of_lists(np.array([3.0, 2.0, 1.0, 5.0, 1.0]), y, np.array([3, 2])) == pytest.approx(
        (1 / np.log2(3) + 1.0) / 2
    )


def test_examples_are_oldest_first_with_their_positives(setup) -> None:  # type: ignore[no-untyped-def]
    store, *_ = setup
    rows = examples_from_outcomes(store)
    assert len(rows) > 50
    dates = [when for _, _, when in rows]
    assert dates == sorted(dates) and all(pos for _, pos, _ in rows)


def test_pairs_have_positives_and_hard_negatives_and_leave_one_out(setup) -> None:  # type: ignore[no-untyped-def]
    store, index, encoder, _ = setup
    rec = Recommender(index, encoder)
    examples = [(i, r) for i, r, _ in examples_from_outcomes(store)[:15]]
    pairs = build_pairs(rec, examples, today=TODAY, per_query=20)
    assert pairs.groups.sum() == len(pairs) and len(pairs.query_ids) == len(pairs.groups)
    start = 0
    for g in pairs.groups:
        labels = pairs.y[start : start + g]
        assert 0 < labels.sum() < g  # each list has a positive and negatives
        start += g
    ini, relevant = examples[0]
    own = rec.candidates(MatchQuery.from_initiative(ini), 20, today=TODAY, exclude_history_of=ini.id)
    for c in own:
        if c.resource.id in relevant:
            assert c.features["knn_best"] < 0.999  # it never finds itself among its neighbours


def test_train_register_promote_and_gate(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store, index, encoder, root = setup
    registry = ModelRegistry(root / "rankers")
    first = train_from_catalogue(store, index, encoder, registry, today=TODAY, **FAST)
    assert registry.current_version() is None  # registered, not served
    assert first.compared_to is None and first.train_queries > first.validation_queries > 0
    # the content weight chosen on the validation lists is the best of those tried, served with the model
    assert first.content_choice and first.content_choice[first.content_share] == max(first.content_choice.values())
    loaded = load_ranker(root / "rankers" / first.version)
    assert isinstance(loaded, LearnedRanker) and loaded.content_share == first.content_share
    registry.promote(first.version)
    assert registry.current_version() == first.version
    second = train_from_catalogue(store, index, encoder, registry, today=TODAY, **FAST)
    assert second.compared_to == first.version
    manifest = root / "rankers" / second.version / "manifest.json"
    data = json.loads(manifest.read_text())
    # The training config travels with the model it made.
    assert data["extra"]["train_config"] == {
        "max_examples": 80, "validation_share": 0.2, "min_examples": 20, "min_train_queries": 0,
        "min_validation_queries": 0, "folds": 3, "cold_rate": "auto", "params": {"n_estimators": 40},
        "refit_on_all": False}
    # make the candidate lose on the validation split, as a worse model would
    data["extra"]["metrics"]["validation_ndcg10"] = data["extra"]["metrics"]["current_validation_ndcg10"] - 0.01
    manifest.write_text(json.dumps(data))
    with pytest.raises(PromotionRefused, match="does not beat the served model"):
        registry.promote(second.version)
    assert registry.current_version() == first.version
    registry.promote(second.version, force=True)
    assert registry.current_version() == second.version
    loaded = registry.load(second.version, encoder_id=encoder.model_id, dim=encoder.dim)
    assert loaded.kind == "lambdarank"


def test_too_few_examples_is_a_clear_error(tmp_path: Path) -> None:
    store = Catalogue.open(sqlite_url(tmp_path / "m.db"))
    encoder = HashingEncoder(64)
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    with pytest.raises(ValueError, match="too few to train a ranker"):
        train_from_catalogue(store, index, encoder, ModelRegistry(tmp_path / "r"), today=TODAY)


def _pair_set(n_queries: int, signal: str, seed: int, *, noise: bool = True) -> PairSet:
    """Lists of 10 candidates with one relevant each, told apart only by feature ``signal`` (the
    others random, or 0 without ``noise``)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_queries * 10, len(FEATURES))).astype(np.float32) * noise
    y = np.zeros(n_queries * 10, dtype=np.int32)
    y[np.arange(n_queries) * 10 + rng.integers(0, 10, n_queries)] = 1
    X[:, FEATURES.index(signal)] = y * 5.0 + rng.random(len(y)).astype(np.float32)
    return PairSet(X, y, np.full(n_queries, 10), [f"q{seed}-{i}" for i in range(n_queries)], 0)


def test_the_gate_keeps_a_ranker_that_beats_the_prior_and_refits_it_on_every_example() -> None:
    # The prior weighs unknown checks negatively; here they mark the relevant candidate.
    pairs, held = _pair_set(60, "unknown_checks", 1), _pair_set(15, "unknown_checks", 2)
    config = TrainConfig(cold_rate=0.0, params={"n_estimators": 30}, folds=3, refit_on_all=True)
    refit = gate_and_fit(pairs, held, config=config)
    gate = refit.gate
    assert refit.kept is not None and gate is not None and gate.passed
    assert gate.learned_ndcg10 > gate.reference_ndcg10 + 0.4
    # The gate judges the ranker as served, its order fused with the prior's (which is wrong here):
    # alone it would score higher, and with no weight on the prior the gate says so.
    assert gate.learned_ndcg10 < 0.9
    alone = gate_and_fit(pairs, held, config=config, share=0.0).gate
    assert alone is not None and alone.learned_ndcg10 > 0.9
    assert refit.trained_queries == 75 and refit.report is not None and refit.report.queries == 60
    assert (refit.train_queries, refit.validation_queries, refit.pairs) == (60, 15, 600)
    kept = gate_and_fit(pairs, held, config=replace(config, refit_on_all=False))
    assert kept.kept is not None and kept.trained_queries == 60
    assert kept.gate == gate  # the gate judges the same model either way
    assert not np.allclose(refit.kept.predict(held.X), kept.kept.predict(held.X))  # the refit one has seen more
    quick = gate_and_fit(pairs, held, config=replace(config, folds=None))
    assert quick.report is None and quick.gate == gate  # the report is all that skipping folds leaves out
    assert quick.kept is not None
    np.testing.assert_allclose(quick.kept.predict(held.X), refit.kept.predict(held.X), rtol=1e-6)
    # Where the prior is already right (only dense similarity, which marks the relevant one), nothing
    # replaces it: a tie is not a win. The ranker is still returned (``maillage train`` registers it),
    # not refitted, and not kept.
    easy, easy_held = _pair_set(60, "dense", 3, noise=False), _pair_set(15, "dense", 4, noise=False)
    none = gate_and_fit(easy, easy_held, config=config)
    assert none.kept is None and none.gate is not None and not none.gate.passed
    assert none.ranker is not None and none.trained_queries == 60


def test_the_gate_compares_with_the_reference_as_served() -> None:
    pairs, held = _pair_set(40, "unknown_checks", 5), _pair_set(12, "unknown_checks", 6)
    config = TrainConfig(cold_rate=0.0, params={"n_estimators": 20}, folds=None)
    first = gate_and_fit(pairs, held, config=config)
    assert first.ranker is not None and first.gate is not None
    # Against itself (a served model of the same fit), the learned ranker ties, so it is not kept.
    again = gate_and_fit(pairs, held, config=config, reference=first.ranker)
    assert again.gate is not None and again.gate.reference_ndcg10 == first.gate.learned_ndcg10
    assert again.kept is None
    # The default reference is the prior, scored by its own order.
    prior = ndcg_of_lists(PriorRanker().predict(held.X), held.y, held.groups)
    assert first.gate.reference_ndcg10 == prior


def test_thin_evenly_keeps_every_period() -> None:
    rows = list(range(10))
    assert thin_evenly(rows, 4) == [0, 2, 5, 7]  # rows int(j * 10 / 4)
    assert thin_evenly(rows, None) == rows and thin_evenly(rows, 10) == rows and thin_evenly(rows, 20) == rows
    assert thin_evenly(rows, 1) == [0]


def test_train_config_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"validation_share must be in \(0, 0.5\), got 0.5"):
        TrainConfig(validation_share=0.5)
    with pytest.raises(ValueError, match="folds must be None or >= 2, got 1"):
        TrainConfig(folds=1)
    with pytest.raises(ValueError, match="max_examples must be None or >= 1, got 0"):
        TrainConfig(max_examples=0)
    with pytest.raises(ValueError, match="cold_rate must be 'auto' or in \\[0, 1\\), got 'warm'"):
        TrainConfig(cold_rate="warm")


def test_train_ranker_thins_splits_in_time_and_gates(setup) -> None:  # type: ignore[no-untyped-def]
    store, index, encoder, _ = setup
    rec = Recommender(index, encoder)
    examples = examples_from_outcomes(store)
    config = TrainConfig(max_examples=60, folds=None, params={"n_estimators": 20}, refit_on_all=True)
    seen: list[int] = []
    outcome = train_ranker(rec, examples, today=TODAY, config=config, progress=seen.append)
    assert len(seen) == 60  # thinned to 60, each turned into pairs once
    thinned = thin_evenly(examples, 60)
    train = build_pairs(rec, thinned[:48], today=TODAY)
    held = build_pairs(rec, thinned[48:], today=TODAY)
    assert (outcome.train_queries, outcome.validation_queries, outcome.pairs) == (
        len(train.groups), len(held.groups), len(train))
    assert outcome.skipped_no_positive == train.skipped_no_positive + held.skipped_no_positive
    same = gate_and_fit(train, held, config=config, share=rec.config.prior_share)
    assert same.gate == outcome.gate and outcome.ranker is not None and same.ranker is not None
    np.testing.assert_array_equal(same.ranker.predict(held.X), outcome.ranker.predict(held.X))
    # Too few lists: no ranker and no gate, not an error; too few examples: an error that says so.
    few = train_ranker(rec, examples, today=TODAY, config=replace(config, min_validation_queries=10**6))
    assert few.ranker is None and few.gate is None and few.kept is None and few.trained_queries == 0
    with pytest.raises(TooFewExamples, match="only 60 examples: too few to train a ranker \\(need 61\\)"):
        train_ranker(rec, examples, today=TODAY, config=replace(config, min_examples=61))


def test_a_served_ranker_of_an_older_feature_schema_gives_way_to_the_prior(
    setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    _, index, encoder, root = setup
    settings = Settings(home=root / "home")
    registry = ModelRegistry(settings.rankers_dir)
    with monkeypatch.context() as m:  # saved by an older Maillage
        m.setattr(matcher.ranker, "FEATURE_VERSION", 1)
        old = registry.register(PriorRanker(weights={"dense": 1.0}), encoder_id=encoder.model_id, dim=encoder.dim,
                                pairs=0, catalogue_hash="x", metrics={"validation_ndcg10": 0.5}, compared_to=None)
    registry.promote(old)
    with caplog.at_level("WARNING", logger="maillage.engine"):
        rec = served_recommender(index, encoder, settings)
    assert isinstance(rec.ranker, PriorRanker) and rec.ranker.weights != {"dense": 1.0}  # the default prior
    assert rec.model_version.startswith("prior@")
    assert "must be trained again" in caplog.text and "(maillage train, then maillage promote)" in caplog.text
    assert "served ranker refused" in caplog.text
    # A ranker of this schema is served as it is.
    new = registry.register(PriorRanker(weights={"dense": 1.0}), encoder_id=encoder.model_id, dim=encoder.dim,
                            pairs=0, catalogue_hash="x", metrics={"validation_ndcg10": 0.6}, compared_to=old)
    registry.promote(new)
    served = served_recommender(index, encoder, settings)
    assert served.model_version == new and served.ranker.weights == {"dense": 1.0}


def test_hand_judged_projects_choose_the_content_weight_and_the_calibration(setup) -> None:  # type: ignore[no-untyped-def]
    from eval.judged import judged_path, read_judged

    store, index, encoder, root = setup
    projects = read_judged(judged_path("dev"), set(index.resources))  # graded over the demo catalogue
    judged = [(q.initiative, q.relevant, None) for q in projects]
    registry = ModelRegistry(root / "rankers-judged")
    result = train_from_catalogue(store, index, encoder, registry, today=TODAY, judged=judged, **FAST)
    assert result.judged_projects == len(projects) == 35
    assert result.judged_choice and result.judged_choice[result.content_share] == max(result.judged_choice.values())
    assert result.judged_choice != result.content_choice  # other lists, other figures
    # the registry compares the two models as served on the lists that chose the weight
    assert result.validation_ndcg10 == result.judged_choice[result.content_share]
    from training.flow import served_ndcg10
    from training.pairs import build_pairs

    lists = build_pairs(Recommender(index, encoder, None, PriorRanker()), judged, today=TODAY)
    served_prior = Recommender(index, encoder).ranker  # no model served: the prior, history-scaled
    assert isinstance(served_prior, PriorRanker) and served_prior.history_scale < 1
    assert result.current_validation_ndcg10 == pytest.approx(served_ndcg10(served_prior, lists))
    folder = root / "rankers-judged" / result.version
    loaded = load_ranker(folder)
    assert isinstance(loaded, LearnedRanker) and loaded.content_share == result.content_share
    calibration = registry.load_calibration(result.version, encoder_id=encoder.model_id)
    assert calibration is not None and "35 judged projects" in calibration.fitted_on
    extra = json.loads((folder / "manifest.json").read_text())["extra"]
    assert extra["metrics"]["validation_ndcg10"] == result.validation_ndcg10
    assert set(extra["content_choice_judged"]) == {str(w) for w in result.judged_choice}
    assert extra["compared_on"] == "judged projects"
    # the validation lists' figures stay beside, at the weight served
    assert extra["validation_lists_ndcg10"]["model"] == result.content_choice[result.content_share]


def test_judged_projects_without_a_fit_leave_the_validation_lists_in_charge(setup) -> None:  # type: ignore[no-untyped-def]
    from eval.judged import judged_path, read_judged

    store, index, encoder, root = setup
    none = [(q.initiative, q.relevant, None) for q in read_judged(judged_path("dev"), set(index.resources))
            if not q.relevant]
    assert none  # the dev split has projects that nothing fits
    registry = ModelRegistry(root / "rankers-none")
    result = train_from_catalogue(store, index, encoder, registry, today=TODAY, judged=none, **FAST)
    assert result.judged_choice is None and result.judged_projects == len(none)
    assert result.content_choice and result.content_share == max(result.content_choice, key=lambda w: (
        result.content_choice[w], -w))  # chosen on the validation lists
    assert result.validation_ndcg10 == result.content_choice[result.content_share]
    extra = json.loads((root / "rankers-none" / result.version / "manifest.json").read_text())["extra"]
    assert extra["compared_on"] == "validation lists"
    calibration = registry.load_calibration(result.version, encoder_id=encoder.model_id)
    assert calibration is not None and "validation lists" in calibration.fitted_on
