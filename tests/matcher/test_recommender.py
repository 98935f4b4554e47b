from __future__ import annotations

from pathlib import Path

import pytest

from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender, RecommenderConfig
from matcher.schemas import MatchQuery
from matcher.store import Catalogue
from tests.conftest import TODAY


@pytest.fixture
def recommender(filled_store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> Recommender:
    index = ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes")
    return Recommender(index, encoder)


def test_best_open_resource_in_territory_comes_first(filled_store: Catalogue, recommender: Recommender) -> None:
    ini = filled_store.get_initiative("ini-jardin")
    rec = recommender.recommend(ini, 5, today=TODAY)
    ids = [m.resource_id for m in rec.matches]
    assert ids[0] == "res-jardin-93"
    assert [m.rank for m in rec.matches] == list(range(1, len(ids) + 1))
    top = rec.matches[0]
    assert top.initiative_id == "ini-jardin" and top.index_version == recommender.index.version
    assert any("Seine-Saint-Denis" in r for r in top.reasons)
    assert any(r.startswith("Clôture le 31 mars 2027") for r in top.reasons)


def test_closed_and_out_of_territory_never_appear(filled_store: Catalogue, recommender: Recommender) -> None:
    ini = filled_store.get_initiative("ini-jardin")
    ids = {m.resource_id for m in recommender.recommend(ini, 10, today=TODAY).matches}
    assert "res-jardin-closed" not in ids  # textually the closest, but closed
    assert "res-jardin-lozere" not in ids  # textually close, but Lozère only
    assert "res-entreprises" not in ids  # reserved to firms; the initiative is an association


def test_excluded_matches_say_why_and_what_would_make_it_eligible(
    filled_store: Catalogue, recommender: Recommender
) -> None:
    ini = filled_store.get_initiative("ini-jardin")
    rec = recommender.recommend(ini, 10, today=TODAY, with_excluded=True)
    [firms] = [m for m in rec.excluded if m.resource_id == "res-entreprises"]
    failed = [c for c in firms.checks if c.status.value == "failed"]
    assert [c.criterion.value for c in failed] == ["legal_form"]
    assert "porter le projet avec" in (failed[0].near_miss or "")


def test_free_text_without_territory_sees_every_open_resource(recommender: Recommender) -> None:
    q = MatchQuery(text="jardin partagé et compost dans notre quartier")
    ids = {m.resource_id for m in recommender.recommend(q, 10, today=TODAY).matches}
    assert {"res-jardin-93", "res-jardin-lozere"} <= ids and "res-jardin-closed" not in ids


def test_k_is_bounded(recommender: Recommender) -> None:
    with pytest.raises(ValueError, match="k must be between 1 and 100, got 0"):
        recommender.recommend(MatchQuery(text="jardin"), 0)


def test_index_follows_catalogue_changes(
    filled_store: Catalogue, encoder: HashingEncoder, tmp_path: Path
) -> None:
    root = tmp_path / "indexes"
    first = ResourceIndex.ensure(filled_store, encoder, root)
    assert ResourceIndex.ensure(filled_store, encoder, root).version == first.version  # unchanged: reused
    filled_store.delete_resource("res-jardin-93")
    second = ResourceIndex.ensure(filled_store, encoder, root)
    assert second.version != first.version and "res-jardin-93" not in second.dense.ids
    rec = Recommender(second, encoder).recommend(filled_store.get_initiative("ini-jardin"), 10, today=TODAY)
    assert "res-jardin-93" not in {m.resource_id for m in rec.matches}


def test_snapshot_from_another_encoder_is_rebuilt_not_served(
    filled_store: Catalogue, tmp_path: Path
) -> None:
    root = tmp_path / "indexes"
    ResourceIndex.ensure(filled_store, HashingEncoder(64), root)
    index = ResourceIndex.ensure(filled_store, HashingEncoder(128), root)
    assert index.manifest.dim == 128 and index.manifest.encoder_id == "hashing:128"


def test_candidates_carry_every_feature_and_are_ordered_by_score(
    filled_store: Catalogue, recommender: Recommender
) -> None:
    from matcher.features import FEATURES

    rec = recommender.recommend(filled_store.get_initiative("ini-jardin"), 3, today=TODAY)
    top = rec.matches[0]
    assert set(top.features) == set(FEATURES)
    assert top.features["bm25"] > 0 and top.features["dense"] > 0 and top.features["rrf"] > 0
    scores = [m.score for m in rec.matches]
    assert scores == sorted(scores, reverse=True)


def test_retrieval_only_configuration_orders_by_fusion(filled_store: Catalogue, encoder: HashingEncoder,
                                                       tmp_path: Path) -> None:
    from matcher.recommender import RecommenderConfig

    index = ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes")
    rec = Recommender(index, encoder, RecommenderConfig(use_ranker=False))
    matches = rec.recommend(filled_store.get_initiative("ini-jardin"), 3, today=TODAY).matches
    assert [m.score for m in matches] == [m.features["rrf"] for m in matches]


def test_each_search_alone_is_a_configuration(filled_store: Catalogue, encoder: HashingEncoder,
                                              tmp_path: Path) -> None:
    from matcher.recommender import RecommenderConfig

    index = ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes")
    q = MatchQuery(text="covoiturage et transport à la demande", territory="48")
    for cfg in (RecommenderConfig(use_sparse=False), RecommenderConfig(use_dense=False)):
        rec = Recommender(index, encoder, cfg).recommend(q, 1, today=TODAY)
        assert rec.matches[0].resource_id == "res-mobilite"


def test_live_add_and_delete_are_visible_to_the_next_query(
    filled_store: Catalogue, encoder: HashingEncoder, tmp_path: Path
) -> None:
    from matcher.schemas import Resource

    index = ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes")
    rec = Recommender(index, encoder)
    q = MatchQuery(text="ressourcerie réemploi de meubles", territory="93066")
    new = Resource(id="res-ressourcerie", kind="financement", provider_id="prov-93",
                   title="Aide aux ressourceries", description="réemploi de meubles et ressourcerie",
                   coverage=["93"], recurrence="permanent")
    index.upsert(new, encoder)
    assert rec.recommend(q, 1, today=TODAY).matches[0].resource_id == "res-ressourcerie"
    index.remove("res-ressourcerie")
    assert "res-ressourcerie" not in {m.resource_id for m in rec.recommend(q, 10, today=TODAY).matches}


def test_corrupt_snapshot_is_rebuilt_not_served(filled_store: Catalogue, encoder: HashingEncoder,
                                                tmp_path: Path) -> None:
    root = tmp_path / "indexes"
    first = ResourceIndex.ensure(filled_store, encoder, root)
    (root / first.version / "sparse_tokens.jsonl").write_text("garbage", encoding="utf-8")
    again = ResourceIndex.ensure(filled_store, encoder, root)
    assert again.version != first.version and len(again.sparse) == len(first.sparse)


def test_staff_pin_and_exclude(filled_store: Catalogue, recommender: Recommender) -> None:
    from matcher.schemas import Outcome

    ini = filled_store.get_initiative("ini-jardin")
    filled_store.append_outcomes([
        Outcome(initiative_id="ini-jardin", resource_id="res-mobilite", decision="pinned", reason="vu en comité"),
        Outcome(initiative_id="ini-jardin", resource_id="res-jardin-93", decision="excluded", reason="déjà financé"),
    ])
    overrides = filled_store.overrides_for("ini-jardin")
    rec = recommender.recommend(ini, 5, today=TODAY, overrides=overrides, with_excluded=True)
    assert rec.matches[0].resource_id == "res-mobilite"
    assert rec.matches[0].reasons[0] == "Épinglé par l'équipe : vu en comité"
    assert "res-jardin-93" not in {m.resource_id for m in rec.matches}
    [out] = [m for m in rec.excluded if m.resource_id == "res-jardin-93"]
    assert out.reasons[0] == "Exclu par l'équipe : déjà financé"
    # a later pin cancels the exclusion
    filled_store.append_outcomes([Outcome(initiative_id="ini-jardin", resource_id="res-jardin-93",
                                          decision="pinned", reason="finalement oui")])
    again = recommender.recommend(ini, 5, today=TODAY, overrides=filled_store.overrides_for("ini-jardin"))
    assert {"res-jardin-93", "res-mobilite"} == {m.resource_id for m in again.matches[:2]}


def test_reverse_direction_finds_initiatives_that_fit(filled_store: Catalogue, recommender: Recommender,
                                                      encoder: HashingEncoder) -> None:
    from matcher.indexing import InitiativeIndex
    from matcher.schemas import Initiative
    from matcher.store import NotFoundError

    filled_store.upsert_initiatives([
        Initiative(id="ini-velo", title="Atelier vélo", territory="93066", description="réparation de vélos"),
        Initiative(id="ini-lozere", title="Jardin partagé en Lozère", territory="48",
                   description="jardin partagé agriculture urbaine compost potager"),
        Initiative(id="ini-sarl", title="Potager d'entreprise", territory="93066", legal_form="entreprise",
                   description="jardin partagé agriculture urbaine compost potager", stage="idee"),
    ])
    inis = InitiativeIndex.build(filled_store, encoder)
    found = recommender.recommend_initiatives("res-jardin-93", inis, 5, today=TODAY)
    ids = [m.initiative_id for m in found]
    assert ids[0] == "ini-jardin"
    assert "ini-lozere" not in ids  # outside the resource's coverage
    assert found[0].reasons and found[0].checks
    with pytest.raises(NotFoundError, match="aucune ressource n'a l'identifiant 'nope'"):
        recommender.recommend_initiatives("nope", inis, 5)


def test_unexplained_recommendation_ranks_the_same(filled_store: Catalogue, encoder: HashingEncoder,
                                                   tmp_path: Path) -> None:
    rec = Recommender(ResourceIndex.build(filled_store, encoder, tmp_path / "idx"), encoder)
    ini = filled_store.get_initiative("ini-jardin")
    full = rec.recommend(ini, 5, today=TODAY)
    bare = rec.recommend(ini, 5, today=TODAY, explain=False)
    assert [(m.resource_id, m.score) for m in bare.matches] == [(m.resource_id, m.score) for m in full.matches]
    assert all(m.reasons and m.checks for m in full.matches)
    assert not any(m.reasons or m.checks for m in bare.matches)


@pytest.mark.parametrize(("field", "value"), [("rerank_depth", -1), ("max_k", 0), ("dense_candidates", 0),
                                              ("max_per_provider", -2), ("prior_share", -0.5), ("rrf_k", 1.5)])
def test_a_config_out_of_range_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"RecommenderConfig\.{field} must be .*got {value!r}"):
        RecommenderConfig(**{field: value})  # type: ignore[arg-type]


def test_a_learned_ranker_with_rerank_depth_0_serves_the_prior_order(filled_store: Catalogue, recommender: Recommender,
                                                                      encoder: HashingEncoder) -> None:
    import numpy as np

    from matcher.features import FEATURES
    from matcher.ranker import LearnedRanker

    rng = np.random.default_rng(0)
    X = rng.random((40 * 10, len(FEATURES))).astype(np.float32)
    ranker = LearnedRanker(n_estimators=5, n_models=1).fit(X, (X[:, 0] > 0.5).astype(np.int32), np.full(40, 10))
    q = MatchQuery.from_initiative(filled_store.get_initiative("ini-jardin"))
    zero = Recommender(recommender.index, encoder, RecommenderConfig(rerank_depth=0), ranker)
    got = zero.candidates(q, 5, today=TODAY)
    prior = recommender.candidates(q, 5, today=TODAY)
    assert [c.resource.id for c in got] == [c.resource.id for c in prior]
    assert [c.score for c in got] == [-float(i) for i in range(1, len(got) + 1)]
