"""The initiatives a coverage reaches, kept per coverage for the reverse match (matcher.covered)."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import DenseIndex, SparseIndex
from matcher import territory
from matcher.covered import CoveredSets
from matcher.indexing import InitiativeIndex
from matcher.schemas import Initiative

PLACES = ["93066", "93048", "75056", "13055", "29019", "93", "R11", "FR", "974"]


def _index(n: int = 60) -> InitiativeIndex:
    inis = {f"i{j:03d}": Initiative(id=f"i{j:03d}", title=f"Projet {j}", description="jardin partagé",
                                    territory=PLACES[j % len(PLACES)]) for j in range(n)}
    ids = sorted(inis)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return InitiativeIndex(DenseIndex.build(ids, vectors), SparseIndex().build(ids, [inis[i].text() for i in ids]),
                           inis)


def _reached(index: InitiativeIndex, coverage: list[str]) -> set[str]:
    return {i for i, ini in index.initiatives.items() if territory.covers(coverage, ini.territory)}


@pytest.mark.parametrize("coverage", [["93"], ["R11"], ["93066"], ["13055", "29"], ["974"], ["2A"], ["R11", "R93"]])
def test_a_coverage_reaches_the_initiatives_that_testing_each_one_reaches(coverage: list[str]) -> None:
    index = _index()
    got = index.covered.get(coverage)
    want = _reached(index, coverage)
    assert got.count == len(want)
    assert got.dense is not None and got.sparse is not None
    dense_ids = {index.dense.ids[f] for f in got.dense}  # FAISS ids are positions (no removal here)
    sparse_ids = {index.sparse.ids[r] for r in got.sparse}
    assert dense_ids == sparse_ids == want


def test_a_coverage_reaching_every_initiative_gives_no_filter() -> None:
    index = _index()
    got = index.covered.get(["FR"])
    assert (got.count, got.dense, got.sparse) == (60, None, None)
    only_paris = _index(1)  # one initiative, in Saint-Denis: a département's coverage reaches them all
    assert only_paris.covered.get("93").dense is None


def test_an_answer_is_kept_per_coverage_whatever_the_order_of_its_codes() -> None:
    index = _index()
    first = index.covered.get(["29", "13055"])
    assert index.covered.get(["13055", "29", "29"]) is first
    assert index.covered.made == 1


def test_kept_coverages_are_bounded_by_the_ids_they_hold() -> None:
    index = _index()
    sets = CoveredSets(index.initiatives, index.dense, index.sparse, max_ids=64 + 2 * 30)
    sets.get(["93"])  # the 21 initiatives of Seine-Saint-Denis and its communes, in both arrays: kept
    sets.get(["93"])
    assert sets.made == 1
    sets.get(["13055"])  # past the bound: the older coverage goes
    sets.get(["93"])
    assert sets.made == 3


def test_an_unknown_code_in_a_coverage_is_refused_by_name() -> None:
    with pytest.raises(territory.TerritoryError, match="99999"):
        _index().covered.get(["99999"])
    with pytest.raises(ValueError, match="max_ids"):
        CoveredSets({}, DenseIndex(8), SparseIndex(), max_ids=0)
