"""The candidate pool, computed in bulk (feature matrix, cached checks, vectorised history), gives
exactly what the per-pair definitions give: same candidates, order, scores, features and checks.

The reference below is the pipeline as it was written before it was vectorised: one call per
candidate to the public per-pair and per-resource functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest

from indexes import HashingEncoder
from matcher.demo_catalogue import load_demo
from matcher.eligibility import check_all
from matcher.features import FEATURES, PAIR_FEATURES, RETRIEVAL_FEATURES, pair_features, to_matrix
from matcher.history import History
from matcher.indexing import ResourceIndex
from matcher.recommender import Candidate, Recommender, RecommenderConfig
from matcher.schemas import Decision, MatchQuery, Outcome
from matcher.store import Catalogue, sqlite_url
from tests.conftest import TODAY


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recommender, list[MatchQuery]]]:
    root = tmp_path_factory.mktemp("pool")
    store = Catalogue.open(sqlite_url(root / "m.db"))
    load_demo(store, today=TODAY)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, root / "idx")
    queries = [MatchQuery.from_initiative(i) for i in store.initiatives()][:30]
    # Free-text queries too: no territory, legal form or amount (the "unknown" branches).
    queries += [MatchQuery(text=q.text) for q in queries[:10]]
    store.close()
    yield Recommender(index, encoder), queries


def _reference_pool(
    rec: Recommender, q: MatchQuery, k: int, exclude: str | None = None, before_dt: datetime | None = None
) -> list[Candidate]:
    """``Recommender.candidates`` as one call per candidate (prior ranker)."""
    cfg, index = rec.config, rec.index
    history = index.history
    before = before_dt.timestamp() if before_dt is not None else None
    allowed = rec._allowed(q, TODAY)
    vector = rec.encoder.encode_queries([q.text])[0]
    n = min(len(allowed), max(cfg.dense_candidates, k))
    dense_ids = [i for i in index.dense.search(vector[None, :], n, allowed=allowed)[1][0] if i is not None]
    sparse_ids = [i for i in index.sparse.search(q.text, n, allowed=allowed)[1] if i is not None]
    votes, best = history.knn_votes(vector, k=cfg.knn_neighbours, exclude=exclude, before=before)
    votes = {r: v for r, v in votes.items() if r in set(allowed)}
    lexical = history.lexical_votes(q.text, k=cfg.knn_neighbours, exclude=exclude, before=before)
    lexical = {r: v for r, v in lexical.items() if r in set(allowed)}
    pool = list(dict.fromkeys(
        dense_ids + sparse_ids + sorted(votes, key=lambda r: -votes[r]) + sorted(lexical, key=lambda r: -lexical[r])
    ))
    dense = index.dense.reconstruct_many(pool) @ vector
    # Unchanged by the vectorisation and slow one by one: asked once for the pool.
    bm25 = index.sparse.score_of(q.text, pool)
    text_clf = history.classifier_scores(q.text, pool, where=q.territory, exclude=exclude)
    vector_clf = history.vector_classifier_scores(vector, pool, exclude=exclude)
    named = rec._name_matcher().scores(q.text, pool)
    out = []
    for i, rid in enumerate(pool):
        rd = dense_ids.index(rid) + 1 if rid in dense_ids else 0
        rs = sparse_ids.index(rid) + 1 if rid in sparse_ids else 0
        past = history.positive_count(rid, exclude=exclude, before=before)
        scores = {
            "dense": float(dense[i]),
            "bm25": float(bm25[i]),
            "rrf": (1.0 / (cfg.rrf_k + rd) if rd else 0.0) + (1.0 / (cfg.rrf_k + rs) if rs else 0.0),
            "knn_vote": votes.get(rid, 0.0),
            "knn_best": best.get(rid, 0.0) if rid in votes else 0.0,
            "lex_vote": lexical.get(rid, 0.0),
            "profile": float(history.profile_similarity(vector, [rid], exclude=exclude, before=before)[0]),
            "name_match": float(named[i]),
            "text_clf": float(text_clf[i]) if past else 0.0,
            "vector_clf": float(vector_clf[i]) if past else 0.0,
            "local_share": float(history.local_share(q.territory, [rid], exclude=exclude, before=before)[0]),
            "amount_typicality": float(
                history.amount_typicality(q.amount_sought, [rid], exclude=exclude, before=before)[0]),
            "has_history": 1.0 if past > 0 else 0.0,
            "popularity": math.log1p(past),
            "acceptance": history.acceptance(rid, exclude=exclude, before=before),
        }
        resource = index.resources[rid]
        checks = check_all(resource, q, TODAY)
        out.append(Candidate(resource, pair_features(q, resource, scores, checks, TODAY), checks))
    prior = rec._prior.predict(to_matrix([c.features for c in out]))
    for c, s in zip(out, prior, strict=True):
        c.score = float(s)
    out.sort(key=lambda c: (-c.score, -c.features["dense"], c.resource.id))
    return out


def _same(got: list[Candidate], want: list[Candidate]) -> None:
    assert [c.resource.id for c in got] == [c.resource.id for c in want]
    for g, w in zip(got, want, strict=True):
        assert list(g.features.items()) == list(w.features.items()), g.resource.id  # values and order
        assert g.checks == w.checks and g.score == w.score and g.eligible == w.eligible, g.resource.id


def test_feature_schema_splits_into_retrieval_and_pair_features() -> None:
    assert RETRIEVAL_FEATURES + PAIR_FEATURES == FEATURES
    assert PAIR_FEATURES[0] == "territory_level" and PAIR_FEATURES[-1] == "unknown_checks"


def test_pool_equals_the_per_pair_reference(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    assert len(rec.index.history) > 20  # the history features are exercised, not all zero
    nonzero = set()
    for q in queries:
        got = rec.candidates(q, 10, today=TODAY)
        _same(got, _reference_pool(rec, q, 10))
        _same(rec.candidates(q, 10, today=TODAY), got)  # warm caches give the same pool
        nonzero |= {name for c in got for name, v in c.features.items() if v != 0}
    assert {"knn_vote", "lex_vote", "profile", "text_clf", "local_share", "amount_typicality", "acceptance",
            "popularity"} <= nonzero


def test_pool_as_of_a_date_and_without_one_initiative(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    history = rec.index.history
    middle = datetime.fromtimestamp(float(np.median(history.dates)))
    for q, iid in zip(queries[:12], history.initiative_ids, strict=False):
        for exclude, before in ((iid, None), (None, middle), (iid, middle)):
            got = rec.candidates(q, 20, today=TODAY, exclude_history_of=exclude, history_before=before)
            _same(got, _reference_pool(rec, q, 20, exclude, before))


def test_recommend_shows_the_diversified_head_of_the_pool(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    for q in queries:
        pool = rec.candidates(q, 10, today=TODAY)
        shown = rec._diversify([c for c in pool if c.eligible], 10)
        want = [rec._match(q, c, rank).model_dump() for rank, c in enumerate(shown, start=1)]
        got = rec.recommend(q, 10, today=TODAY, with_excluded=True)
        assert [m.model_dump() for m in got.matches] == want
        assert [m.model_dump() for m in got.excluded] == [rec._match(q, c, 1).model_dump()
                                                         for c in pool if not c.eligible]


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
        counts = h.positive_counts(ids, exclude=exclude, before=before)
        assert counts.tolist() == [h.positive_count(r, exclude=exclude, before=before) for r in ids]
        assert h.acceptances(ids, exclude=exclude, before=before).tolist() == [
            h.acceptance(r, exclude=exclude, before=before) for r in ids]
    for _ in range(2):  # cold, then warm caches
        np.testing.assert_array_equal(h.amount_typicality(20_000.0, ids), h.amount_typicality(20_000.0, ids,
                                                                                                before=everything))
        np.testing.assert_array_equal(h.local_share("93066", ids), h.local_share("93066", ids, before=everything))
        np.testing.assert_array_equal(h.profile_similarity(vector, ids),
                                      h.profile_similarity(vector, ids, before=everything))
