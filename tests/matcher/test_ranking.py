"""History (kNN vote, profiles), the rankers, and diversity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexes import HashingEncoder
from matcher.features import FEATURES
from matcher.history import History
from matcher.indexing import ResourceIndex
from matcher.ranker import LearnedRanker, PriorRanker, RankerError, load_ranker
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
    votes, _ = history.knn_votes(q, k=3)
    assert votes.get("prog-b", 0) > votes.get("prog-a", 0) and 0 <= sum(votes.values()) <= 1 + 1e-6
    prof = history.profile_similarity(q, ["prog-a", "prog-b", "unknown"])
    assert prof[1] > prof[0] and prof[2] == 0
    assert history.acceptance("prog-a") == pytest.approx(3 / 5)
    only_self, _ = history.knn_votes(encoder.encode_queries(["Club de judo, tatamis et équipements sportifs"])[0],
                                     k=1, exclude="judo")
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
        assert any("projets semblables" in r for r in top.reasons)
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
    with pytest.raises(RankerError, match="retrain it with maillage train"):
        load_ranker(tmp_path)
    with pytest.raises(ValueError, match="unknown features"):
        PriorRanker(weights={"nope": 1.0})
    with pytest.raises(RankerError, match="not fitted"):
        LearnedRanker().predict(np.zeros((1, len(FEATURES))))


def test_lexical_vote_of_past_initiatives(store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> None:
    _history_store(store)
    history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
    votes = history.lexical_votes("tatamis pour le judo")
    assert max(votes, key=lambda r: votes[r]) == "prog-b" and sum(votes.values()) == pytest.approx(1.0)
    assert history.lexical_votes("tatamis pour le judo", exclude="judo") == {}  # only itself matched
    index = ResourceIndex.build(store, encoder, tmp_path / "idx")
    loaded = ResourceIndex.load(store, encoder, tmp_path / "idx")
    assert loaded.history.lexical_votes("chorale") == index.history.lexical_votes("chorale")


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
