"""The candidate pool and the feature table: schema derived from one table, staff overrides and the
retrieval-only order, and the history asked in bulk through one view equals one question at a time.

What the pool computes is compared value by value with a stored fixture in
``tests/matcher/test_pool_fixture.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from matcher.features import COLD_VALUES, COLUMN, FEATURES, PAIR_FEATURES, PRIOR_WEIGHTS, RETRIEVAL_FEATURES, TABLE
from matcher.history import History
from matcher.ranker import PriorRanker
from matcher.recommender import Recommender, RecommenderConfig
from matcher.schemas import Decision, MatchQuery, Outcome
from tests.conftest import TODAY
from tests.pool_fixture import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recommender, list[MatchQuery]]]:
    """The demo catalogue and queries of the pool fixture (:func:`tests.pool_fixture.build_demo`)."""
    rec, store, queries = build_demo(tmp_path_factory.mktemp("pool"))
    store.close()
    yield rec, queries


def test_schema_cold_values_and_prior_weights_come_from_the_table() -> None:
    assert FEATURES == tuple(f.name for f in TABLE) == RETRIEVAL_FEATURES + PAIR_FEATURES
    assert len(set(FEATURES)) == len(FEATURES) and all(FEATURES[COLUMN[n]] == n for n in FEATURES)
    assert set(COLD_VALUES) == {f.name for f in TABLE if f.stage == "history"}
    assert COLD_VALUES["acceptance"] == 0.5 and COLD_VALUES["knn_vote"] == 0.0
    assert PriorRanker().weights == PRIOR_WEIGHTS and PRIOR_WEIGHTS["dense"] == 4.0
    assert all(f.doc for f in TABLE)


def test_overrides_and_rrf_only_order(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    q = queries[0]
    pool = rec.candidates(q, 10, today=TODAY)
    out, pin = pool[0].resource.id, pool[5].resource.id
    overrides = {out: Outcome(initiative_id="x", resource_id=out, decision=Decision.excluded, reason="déjà vu"),
                 pin: Outcome(initiative_id="x", resource_id=pin, decision=Decision.pinned)}
    got = rec.recommend(q, 10, today=TODAY, overrides=overrides, with_excluded=True)
    assert got.matches[0].resource_id == pin and out not in [m.resource_id for m in got.matches]
    assert out in [m.resource_id for m in got.excluded]
    fused = Recommender(rec.index, rec.encoder, RecommenderConfig(use_ranker=False))
    ranked = fused.candidates(q, 10, today=TODAY)
    assert [c.score for c in ranked] == [c.features["rrf"] for c in ranked]
    assert [c.resource.id for c in ranked] == [c.resource.id for c in sorted(
        ranked, key=lambda c: (-c.features["rrf"], -c.features["dense"], c.resource.id))]


def test_history_in_bulk_equals_one_resource_at_a_time(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, _ = demo
    h: History = rec.index.history
    ids = [*sorted(rec.index.resources)[:80], "unknown"]
    vector = rec.encoder.encode_queries(["jardin partagé"])[0]
    everything = float(np.max(h.dates)) + 1.0  # a mask that hides nothing: the uncached path
    for exclude, before in ((None, None), (h.initiative_ids[0], None), (None, float(np.median(h.dates)))):
        view = h.view(exclude=exclude, before=before)
        counts = view.positive_counts(ids)
        assert counts.tolist() == [int(view.positive_counts([r])[0]) for r in ids]
        assert view.acceptances(ids).tolist() == [float(view.acceptances([r])[0]) for r in ids]
        assert view.acceptances(ids, counts=counts).tolist() == view.acceptances(ids).tolist()
    assert h.view(exclude=h.initiative_ids[0]).positive_counts(ids).sum() == h.view().positive_counts(ids).sum() - len(
        [r for r in h.resources_of[0] if r in ids])
    cached, uncached = h.view(), h.view(before=everything)
    for _ in range(2):  # cold, then warm caches
        np.testing.assert_array_equal(cached.amount_typicality(20_000.0, ids),
                                      uncached.amount_typicality(20_000.0, ids))
        np.testing.assert_array_equal(cached.local_share("93066", ids), uncached.local_share("93066", ids))
        np.testing.assert_array_equal(cached.profile_similarity(vector, ids), uncached.profile_similarity(vector, ids))
