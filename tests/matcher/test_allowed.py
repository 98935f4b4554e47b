"""The allowed sets are reused across queries and never outlive the state they were made for: a write,
a new day, a compaction or an index swap is seen by the next query, with the answer a fresh
recommender gives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from indexes import HashingEncoder
from indexes.dense import DenseIndex
from indexes.sparse import SparseIndex
from matcher.allowed import SET_OVERHEAD, AllowedSets
from matcher.checking import Checker
from matcher.eligibility import check_all
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.schemas import MatchQuery, Resource
from matcher.store import Catalogue
from tests.conftest import TODAY

GARDEN = MatchQuery(text="jardin partagé agriculture urbaine compost", territory="93066")


def _ids(rec: Recommender, q: MatchQuery = GARDEN, today=TODAY) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.resource_id for m in rec.recommend(q, 10, today=today).matches]


@pytest.fixture
def index(filled_store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> ResourceIndex:
    return ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes")


def test_a_repeated_query_reuses_its_set_and_gets_the_same_answer(index: ResourceIndex,
                                                                 encoder: HashingEncoder) -> None:
    rec = Recommender(index, encoder)
    sets = rec.retriever._allowed
    first = _ids(rec)
    assert first and sets.made == 1
    assert _ids(rec) == first and sets.made == 1  # reused
    _ids(rec, MatchQuery(text=GARDEN.text, territory="48095"))
    assert sets.made == 2  # another territory: its own set


def test_writes_and_a_new_day_are_seen_by_the_next_query(index: ResourceIndex, encoder: HashingEncoder) -> None:
    rec = Recommender(index, encoder)
    before = _ids(rec)
    new = Resource(id="res-compost", kind="financement", provider_id="prov-93", title="Compost de quartier",
                   description="jardin partagé agriculture urbaine compost", coverage=["93"], recurrence="permanent")
    index.upsert(new, encoder)
    assert "res-compost" in _ids(rec)
    assert _ids(rec) == _ids(Recommender(index, encoder))  # what a recommender without any cache gives
    index.remove("res-compost")
    assert _ids(rec) == before
    # An edit of a resource already in the set (it gets a new FAISS id) is still found by dense search.
    edited = index.resources[before[0]].model_copy(update={"title": "Jardins partagés et compost"})
    index.upsert(edited, encoder)
    assert before[0] in _ids(rec) and _ids(rec) == _ids(Recommender(index, encoder))
    # A resource that closes tomorrow is gone the day after: the day is part of the state.
    closing = Resource(id="res-bientot", kind="financement", provider_id="prov-93", title="Jardin compost",
                       description="jardin partagé agriculture urbaine compost", coverage=["93"],
                       closes_at=TODAY + timedelta(days=1))
    index.upsert(closing, encoder)
    assert "res-bientot" in _ids(rec)
    assert "res-bientot" not in _ids(rec, today=TODAY + timedelta(days=2))


def test_a_compaction_renumbering_faiss_ids_is_seen(index: ResourceIndex, encoder: HashingEncoder) -> None:
    rec = Recommender(index, encoder)
    first = _ids(rec)[0]
    index.upsert(index.resources[first].model_copy(update={"title": "Jardin partagé, compost"}), encoder)
    before = _ids(rec)  # the edit left a tombstone; the set now holds the new FAISS id
    assert index.dense.tombstones and first in before
    generation = index.dense.generation
    index.dense.compact()  # FAISS ids become positions again: every cached array is stale
    assert index.dense.generation != generation
    assert _ids(rec) == before == _ids(Recommender(index, encoder))


def test_the_sets_hold_at_most_max_ids() -> None:
    dense, sparse = DenseIndex(4), SparseIndex()
    ids = [f"r{i}" for i in range(10)]
    dense.upsert(ids, np.eye(10, 4, dtype=np.float32) + 0.1)
    sparse.build(ids, ["jardin"] * 10)
    bound = 2 * (5 + SET_OVERHEAD)
    sets, resources = AllowedSets(max_ids=bound), {i: None for i in ids}
    for where in ("75056", "93066", "48095"):
        got = sets.get(resources, TODAY, dense, sparse, where, (), lambda: ids[:5])  # type: ignore[arg-type]
        assert got.ids == ids[:5] and list(got.sparse_rows) == list(range(5)) and got.members == set(ids[:5])
    assert sets._held <= bound and len(sets._sets) == 2  # the oldest set went first
    assert sets.made == 3
    empty = AllowedSets(max_ids=3 * SET_OVERHEAD)
    for n in range(10):  # empty sets (a commune nothing covers) are bounded too
        empty.get(resources, TODAY, dense, sparse, f"commune-{n}", (), lambda: [])  # type: ignore[arg-type]
    assert len(empty._sets) == 3
    sets.get(resources, TODAY, dense, sparse, "48095", (), lambda: ids)  # type: ignore[arg-type]
    assert sets.made == 3  # the most recent is still held
    with pytest.raises(ValueError, match="max_ids"):
        AllowedSets(max_ids=0)


def test_sparse_scores_of_a_query_are_reused_and_refreshed_after_a_write() -> None:
    sparse = SparseIndex().build(["a", "b"], ["jardin partagé", "atelier vélo"])
    first = sparse.score_of("jardin", ["a", "b", "inconnu"])
    assert first[0] > 0 and first[1] == 0 and first[2] == 0
    _, found = sparse.search("jardin", 2)
    assert found[0] == "a"
    generation = sparse.generation
    sparse.upsert(["b"], ["jardin vélo"])
    assert sparse.generation != generation
    assert sparse.score_of("jardin", ["b"])[0] > 0  # not the score row cached before the write
    for n in range(50):  # the memo stays bounded
        sparse.score_of(f"mot{n}", ["a"])
    assert len(sparse._fitted().recent) <= 32


def test_per_criterion_memo_gives_what_a_fresh_check_gives(index: ResourceIndex) -> None:
    shared = Checker()
    resources = list(index.resources.values())
    columns = np.zeros((len(resources), 0))
    for legal_form in ("association", "collectivite", None):
        for where in ("93066", "48095"):
            q = MatchQuery(text="jardin", territory=where, legal_form=legal_form, amount_sought=5000)
            memo = shared._verdicts(resources, q, TODAY)
            fresh = Checker()._verdicts(resources, q, TODAY)
            assert [v.checks for v in memo] == [v.checks for v in fresh] == [check_all(r, q, TODAY) for r in resources]
            assert [v.pair for v in memo] == [v.pair for v in fresh] and columns.shape[0] == len(memo)
    # An edited resource (a new object) is checked afresh: its territory check follows its coverage.
    r = resources[0]
    moved = r.model_copy(update={"coverage": ["48"], "perimeter_text": None})
    q = MatchQuery(text="jardin", territory="48095")
    assert shared._verdicts([moved], q, TODAY)[0].checks == check_all(moved, q, TODAY)


def test_per_criterion_entries_do_not_crowd_out_the_verdicts(index: ResourceIndex) -> None:
    resources = list(index.resources.values())
    checker = Checker(max_entries=2 * len(resources))  # room for two queries' verdicts, not for 8 checks each
    queries = [MatchQuery(text="jardin", territory=w, legal_form="association") for w in ("93066", "48095")]
    for q in queries:
        checker._verdicts(resources, q, TODAY)
    size = checker._size
    for q in queries:  # both held: a second pass computes nothing
        checker._verdicts(resources, q, TODAY)
    assert checker._size == size == 2 * len(resources)
    assert len(checker._checks) <= checker.max_entries
