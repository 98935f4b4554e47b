"""History (kNN vote, profiles), the rankers, and diversity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexes import HashingEncoder
from matcher.features import COLD_VALUES, COLUMN, FEATURES, to_matrix
from matcher.history import History
from matcher.indexing import ResourceIndex
from matcher.ranker import (
    HISTORY_FEATURES,
    LearnedRanker,
    PriorRanker,
    RankerError,
    fuse_with_prior,
    load_ranker,
    served_scores,
)
from matcher.recommender import Recommender, RecommenderConfig
from matcher.schemas import Initiative, MatchQuery, Outcome, Provider, Resource
from matcher.store import Catalogue
from tests.conftest import TODAY


def _history_store(store: Catalogue) -> Catalogue:
    """Two programmes with identical, uninformative texts; only past grants tell them apart."""
    store.upsert_providers([Provider(id="p1", name="Ministère A"), Provider(id="p2", name="Ministère B")])
    store.upsert_resources([
        Resource(id="prog-a", kind="financement", provider_id="p1", title="Programme 101", recurrence="permanent"),
        Resource(id="prog-b", kind="financement", provider_id="p2", title="Programme 102", recurrence="permanent"),
    ])
    past = [
        ("chorale", "Chorale et concerts de musique classique", "prog-a"),
        ("theatre", "Troupe de théâtre et festival de musique", "prog-a"),
        ("foot", "Club de football, équipements sportifs", "prog-b"),
        ("judo", "Club de judo, tatamis et équipements sportifs", "prog-b"),
    ]
    store.upsert_initiatives([Initiative(id=i, title=t) for i, t, _ in past])
    store.append_outcomes([
        Outcome(id=f"o-{i}", initiative_id=i, resource_id=r, decision="obtained") for i, _, r in past
    ])
    store.append_outcomes([Outcome(id="o-x", initiative_id="foot", resource_id="prog-a", decision="refused")])
    return store


def test_history_votes_and_profiles(store: Catalogue, encoder: HashingEncoder) -> None:
    _history_store(store)
    history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
    assert len(history) == 4 and history.positives["prog-a"] == 2 and history.negatives["prog-a"] == 1
    q = encoder.encode_queries(["Club de rugby et équipements sportifs"])[0]
    votes, _ = history.view().knn_votes(q, k=3)
    assert votes.get("prog-b", 0) > votes.get("prog-a", 0) and 0 <= sum(votes.values()) <= 1 + 1e-6
    prof = history.view().profile_similarity(q, ["prog-a", "prog-b", "unknown"])
    assert prof[1] > prof[0] and prof[2] == 0
    assert float(history.view().acceptances(["prog-a"])[0]) == pytest.approx(3 / 5)
    judo = encoder.encode_queries(["Club de judo, tatamis et équipements sportifs"])[0]
    only_self, _ = history.view(exclude="judo").knn_votes(judo, k=1)
    assert set(only_self) == {"prog-b"}  # its nearest other neighbour, the football club


def test_past_partnerships_decide_when_texts_cannot(store: Catalogue, encoder: HashingEncoder,
                                                    tmp_path: Path) -> None:
    _history_store(store)
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    rec = Recommender(index, encoder)
    for text, expected in (("Club de rugby : équipements sportifs", "prog-b"),
                           ("Festival de musique et chorale", "prog-a")):
        top = rec.recommend(MatchQuery(text=text), 2, today=TODAY).matches[0]
        assert top.resource_id == expected and top.features["knn_vote"] > 0.5
        assert any(r.startswith("Un projet semblable au vôtre l'a déjà obtenue : « ") for r in top.reasons)
    no_history = Recommender(index, encoder, RecommenderConfig(use_history=False))
    top = no_history.recommend(MatchQuery(text="Club de rugby : équipements sportifs"), 2, today=TODAY).matches[0]
    assert top.features["knn_vote"] == 0


def test_history_survives_the_snapshot(store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> None:
    _history_store(store)
    built = ResourceIndex.build(store, encoder, tmp_path / "idx")
    loaded = ResourceIndex.load(store, encoder, tmp_path / "idx")
    assert loaded.history.initiative_ids == built.history.initiative_ids
    np.testing.assert_array_equal(loaded.history.vectors, built.history.vectors)
    assert loaded.history.texts == built.history.texts and loaded.history.places == built.history.places
    np.testing.assert_array_equal(loaded.history.amounts, built.history.amounts)
    # The models of past partnerships come back with the snapshot and answer as they did (float16
    # coefficients for the text model), so served features do not move across a restart.
    assert built.history.classifier is not None and built.history.classifier.classes_ == ["prog-a", "prog-b"]
    assert built.history.vector_classifier is not None
    query = "Club de rugby : équipements sportifs"
    vector = encoder.encode_queries([query])[0]
    np.testing.assert_allclose(loaded.history.classifier_scores(query, ["prog-a", "prog-b"]),
                               built.history.classifier_scores(query, ["prog-a", "prog-b"]), atol=2e-3)
    np.testing.assert_allclose(loaded.history.vector_classifier_scores(vector, ["prog-a", "prog-b"]),
                               built.history.vector_classifier_scores(vector, ["prog-a", "prog-b"]), rtol=1e-6)
    a = Recommender(built, encoder).recommend(MatchQuery(text=query), 2, today=TODAY).matches
    b = Recommender(loaded, encoder).recommend(MatchQuery(text=query), 2, today=TODAY).matches
    assert [m.resource_id for m in a] == [m.resource_id for m in b]
    # Training scores each past project with models that never saw it; that works after a load too.
    assert loaded.history.classifier_scores("Chorale", ["prog-a"], exclude="chorale").shape == (1,)
    store.append_outcomes([Outcome(id="o-new", initiative_id="chorale", resource_id="prog-b", decision="obtained")])
    assert ResourceIndex.ensure(store, encoder, tmp_path / "idx").version != built.version  # new outcome: rebuilt


def test_provider_cap_keeps_one_provider_from_filling_the_list(store: Catalogue, encoder: HashingEncoder,
                                                               tmp_path: Path) -> None:
    store.upsert_providers([Provider(id="big", name="Grand financeur"), Provider(id="small", name="Petite commune")])
    store.upsert_resources(
        [Resource(id=f"big-{i}", kind="financement", provider_id="big", title=f"Aide vélo solidaire variante {i}",
                  description="atelier vélo solidaire réparation", recurrence="permanent") for i in range(6)]
        + [Resource(id="small-1", kind="financement", provider_id="small", title="Aide aux ateliers",
                    description="atelier de réparation", recurrence="permanent")]
    )
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    q = MatchQuery(text="atelier vélo solidaire réparation")
    capped = Recommender(index, encoder).recommend(q, 4, today=TODAY).matches
    assert sum(m.resource_id.startswith("big") for m in capped) == 3 and "small-1" in {m.resource_id for m in capped}
    short = Recommender(index, encoder).recommend(q, 7, today=TODAY).matches
    assert len(short) == 7  # the cap never makes a list short
    uncapped = Recommender(index, encoder, RecommenderConfig(max_per_provider=0)).recommend(q, 4, today=TODAY)
    assert all(m.resource_id.startswith("big") for m in uncapped.matches)


def test_learned_ranker_learns_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups = np.full(60, 10)
    X = rng.random((600, len(FEATURES))).astype(np.float32)
    y = (X[:, FEATURES.index("knn_vote")] > 0.8).astype(int)  # the label depends on one feature
    ranker = LearnedRanker(n_estimators=50, min_child_samples=5).fit(X, y, groups)
    assert max(ranker.feature_importances(), key=lambda n: ranker.feature_importances()[n]) == "knn_vote"
    ranker.save(tmp_path)
    loaded = load_ranker(tmp_path)
    np.testing.assert_allclose(loaded.predict(X), ranker.predict(X), rtol=1e-6)


def test_a_bagged_ranker_averages_its_models_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    groups = np.full(60, 10)
    X = rng.random((600, len(FEATURES))).astype(np.float32)
    y = (X[:, FEATURES.index("knn_vote")] + 0.3 * rng.random(600) > 0.9).astype(int)
    params = {"n_estimators": 30, "min_child_samples": 5}
    bagged = LearnedRanker(n_models=3, **params).fit(X, y, groups)
    singles = [LearnedRanker(random_state=seed, n_models=1, **params).fit(X, y, groups) for seed in range(3)]
    np.testing.assert_allclose(bagged.predict(X), np.mean([m.predict(X) for m in singles], axis=0), rtol=1e-5)
    assert not np.allclose(singles[0].predict(X), singles[1].predict(X))  # the seeds do differ
    paths = bagged.save(tmp_path)
    assert sorted(p.name for p in paths) == ["lightgbm.txt", "lightgbm_1.txt", "lightgbm_2.txt", "ranker.json"]
    np.testing.assert_allclose(load_ranker(tmp_path).predict(X), bagged.predict(X), rtol=1e-6)
    (tmp_path / "lightgbm_2.txt").unlink()
    with pytest.raises(RankerError, match=r"lightgbm_2\.txt"):
        load_ranker(tmp_path)
    with pytest.raises(ValueError, match="n_models must be at least 1"):
        LearnedRanker(n_models=0).fit(X, y, groups)


def test_ranker_with_another_feature_schema_is_refused(tmp_path: Path) -> None:
    PriorRanker().save(tmp_path)
    head = (tmp_path / "ranker.json").read_text().replace('"dense"', '"old_feature"')
    (tmp_path / "ranker.json").write_text(head)
    with pytest.raises(RankerError, match="it must be trained again on this schema"):
        load_ranker(tmp_path)
    with pytest.raises(ValueError, match="unknown features"):
        PriorRanker(weights={"nope": 1.0})
    with pytest.raises(RankerError, match="not fitted"):
        LearnedRanker().predict(np.zeros((1, len(FEATURES))))


def test_lexical_vote_of_past_initiatives(store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> None:
    _history_store(store)
    history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
    votes = history.view().lexical_votes("tatamis pour le judo")
    assert max(votes, key=lambda r: votes[r]) == "prog-b" and sum(votes.values()) == pytest.approx(1.0)
    assert history.view(exclude="judo").lexical_votes("tatamis pour le judo") == {}  # only itself matched
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    loaded = ResourceIndex.load(store, encoder, tmp_path / "idx")
    assert loaded.history.view().lexical_votes("chorale") == index.history.view().lexical_votes("chorale")


def test_the_text_model_reads_where_a_project_is(store: Catalogue, encoder: HashingEncoder) -> None:
    """The same sport projects went to the overseas programme from overseas and to the sport one
    from mainland France: the text model separates them by place, not by words."""
    store.upsert_providers([Provider(id="p1", name="Ministère des Sports"),
                            Provider(id="p2", name="Ministère des Outre-mer")])
    store.upsert_resources([
        Resource(id="sport", kind="financement", provider_id="p1", title="Programme 219", recurrence="permanent"),
        Resource(id="outre-mer", kind="financement", provider_id="p2", title="Programme 123", recurrence="permanent"),
    ])
    clubs = ["football", "judo", "basket", "natation", "tennis", "rugby"]
    past = [(f"{club}-{dep}", f"Club de {club}, équipements sportifs", dep,
             "outre-mer" if dep.startswith("97") else "sport") for club in clubs for dep in ("974", "971", "35", "69")]
    store.upsert_initiatives([Initiative(id=i, title=t, territory=d) for i, t, d, _ in past])
    store.append_outcomes([Outcome(id=f"o-{i}", initiative_id=i, resource_id=r, decision="obtained")
                           for i, _, _, r in past])
    history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
    assert history.places is not None and history.places.count("974") == len(clubs)
    text = "Club de handball, équipements sportifs"
    overseas = history.classifier_scores(text, ["sport", "outre-mer"], where="972")  # a zone it knows
    mainland = history.classifier_scores(text, ["sport", "outre-mer"], where="75056")  # a commune: its département
    assert overseas[1] > overseas[0] and mainland[0] > mainland[1]
    # A training example is scored by a fold model fitted on the same documents, places included.
    held_out = history.classifier_scores(past[0][1], ["sport", "outre-mer"], where="974", exclude=past[0][0])
    assert held_out[1] > held_out[0]


def test_the_learned_order_is_fused_with_the_prior_order() -> None:
    learned = np.array([0.9, 0.1, 0.5, 0.3])  # learned order: 0, 2, 3, 1
    prior = np.array([1.0, 4.0, 3.0, 2.0])  # prior order: 1, 2, 3, 0
    fused = fuse_with_prior(learned, prior, share=0.5, k=5)
    expected = [1 / 5 + 0.5 / 8, 1 / 8 + 0.5 / 5, 1 / 6 + 0.5 / 6, 1 / 7 + 0.5 / 7]
    np.testing.assert_allclose(fused, expected, rtol=1e-6)
    assert list(np.argsort(-fused)) == [0, 2, 1, 3]  # the prior lifts 1 over 3, not over the learned top
    assert list(np.argsort(-fuse_with_prior(learned, prior, share=0.0))) == [0, 2, 3, 1]
    assert list(np.argsort(-fuse_with_prior(learned, prior, share=10.0))) == [1, 2, 3, 0]
    with pytest.raises(ValueError, match="non-negative"):
        fuse_with_prior(learned, prior, share=-1.0)


def test_candidates_without_history_get_their_content_order_at_cold_share() -> None:
    learned = np.array([0.9, 0.1, 0.5, 0.3])  # learned order: 0, 2, 3, 1
    prior = np.array([1.0, 4.0, 3.0, 2.0])  # prior order: 1, 2, 3, 0
    content = np.array([0.0, 0.2, 0.0, 0.9])  # among the cold ones (1 and 3), 3 reads best
    cold = np.array([False, True, False, True])
    fused = fuse_with_prior(learned, prior, share=0.5, k=5, content=content, cold=cold, cold_share=1.0)
    base = fuse_with_prior(learned, prior, share=0.5, k=5)
    np.testing.assert_allclose(fused - base, [0.0, 1 / 6, 0.0, 1 / 5], rtol=1e-6)
    assert list(np.argsort(-fused)) == [3, 1, 0, 2]  # both cold candidates climb, the best-read first
    np.testing.assert_allclose(fuse_with_prior(learned, prior, content=content, cold=cold, cold_share=0.0),
                               fuse_with_prior(learned, prior))
    with pytest.raises(ValueError, match="cold_share"):
        fuse_with_prior(learned, prior, content=content, cold=cold, cold_share=-0.1)


def test_served_scores_add_the_cold_order_only_when_asked() -> None:
    rng = np.random.default_rng(2)
    X = rng.random((12, len(FEATURES))).astype(np.float32)
    X[:, COLUMN["has_history"]] = (np.arange(12) % 3 == 0).astype(np.float32)  # a third has history
    y = np.zeros(12, dtype=np.int32)
    y[[0, 6]] = 1
    groups = np.array([6, 6])
    learned = LearnedRanker(n_estimators=5, n_models=1, min_child_samples=1).fit(X, y, groups)
    prior = PriorRanker()
    got = served_scores(learned, X, groups, cold_share=0.7)
    for rows in (slice(0, 6), slice(6, 12)):
        cold = X[rows, COLUMN["has_history"]] == 0
        want = fuse_with_prior(learned.predict(X[rows]), prior.predict(X[rows]), content=prior.content_scores(X[rows]),
                               cold=cold, cold_share=0.7)
        np.testing.assert_allclose(got[rows], want, rtol=1e-6)
    assert not np.allclose(got, served_scores(learned, X, groups))
    # the prior's content scores are its scores with every history feature at its cold value
    warm_as_cold = X.copy()
    for name in HISTORY_FEATURES:
        warm_as_cold[:, COLUMN[name]] = COLD_VALUES.get(name, 0.0)
    np.testing.assert_allclose(prior.content_scores(X), prior.predict(warm_as_cold), rtol=1e-5, atol=1e-6)


def test_served_scores_fuse_each_list_on_its_own() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((25, len(FEATURES))).astype(np.float32)
    y = (rng.random(25) < 0.3).astype(np.int32)
    groups = np.array([10, 15])
    y[[0, 10]] = 1
    learned = LearnedRanker(n_estimators=5, n_models=1, min_child_samples=1).fit(X, y, groups)
    prior = PriorRanker()
    got = served_scores(learned, X, groups)
    for start, g in ((0, 10), (10, 15)):
        rows = slice(start, start + g)
        np.testing.assert_allclose(got[rows], fuse_with_prior(learned.predict(X[rows]), prior.predict(X[rows])))
    np.testing.assert_allclose(served_scores(prior, X, groups), prior.predict(X))
    with pytest.raises(ValueError, match="groups sum to 20"):
        served_scores(learned, X, np.array([10, 10]))


def test_the_recommender_serves_the_fused_order(store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> None:
    _history_store(store)
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    X = np.random.default_rng(1).random((20, len(FEATURES))).astype(np.float32)
    y = np.tile(np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int32), 2)
    learned = LearnedRanker(n_estimators=5, n_models=1, min_child_samples=1).fit(X, y, np.array([10, 10]))
    query = MatchQuery(text="Club de basket, équipements sportifs")
    fused = Recommender(index, encoder, RecommenderConfig(), learned).candidates(query, 10, today=TODAY)
    alone = Recommender(index, encoder, RecommenderConfig(prior_share=0.0), learned).candidates(query, 10, today=TODAY)
    head_X = to_matrix([c.features for c in fused])
    prior_scores = PriorRanker().predict(head_X)
    assert [c.score for c in fused] == pytest.approx(
        list(fuse_with_prior(learned.predict(head_X), prior_scores)), rel=1e-6)
    assert [c.score for c in alone] == pytest.approx(list(learned.predict(to_matrix([c.features for c in alone]))),
                                                     rel=1e-6)
