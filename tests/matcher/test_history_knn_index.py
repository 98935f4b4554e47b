"""From many past initiatives on, the kNN vote searches an index of their vectors (matcher.history)."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import DenseIndex
from matcher import history as history_module
from matcher.history import History


def _history(n: int, seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    ids = [f"p{i:05d}" for i in range(n)]
    centres = rng.standard_normal((6, 16))
    src = rng.integers(0, 6, n)
    vectors = (centres[src] + 0.6 * rng.standard_normal((n, 16))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [frozenset({f"r{s}"} | ({"r-any"} if i % 7 == 0 else set())) for i, s in enumerate(src)]
    return History(ids, vectors, labels, dates=np.arange(n, dtype=np.float64))


def _queries(seed: int = 1) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((5, 16)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_small_histories_score_every_row() -> None:
    assert _history(400).knn_index is None


def test_the_index_gives_the_votes_of_scoring_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _history(400)
    monkeypatch.setattr(history_module, "KNN_INDEX_FROM", 100)
    indexed = _history(400)
    assert indexed.knn_index is not None and len(indexed.knn_index) == 400
    for q in _queries():
        for kwargs in ({}, {"before": 150.0}, {"exclude": "p00007"}, {"before": 300.0, "exclude": "p00010"}):
            want = plain.view(**kwargs).knn_neighbours(q, k=30)  # type: ignore[arg-type]
            got = indexed.view(**kwargs).knn_neighbours(q, k=30)  # type: ignore[arg-type]
            assert got[2] == want[2]  # the nearest past initiative named per resource
            for a, b in zip(got[:2], want[:2], strict=True):
                assert a.keys() == b.keys()
                assert all(a[r] == pytest.approx(b[r], abs=1e-5) for r in a)


def test_an_approximate_index_maps_its_answers_back_to_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """An IVF (what a million rows get) finds nearly the same neighbours; a row left out stays out."""
    plain = _history(3000)
    indexed = _history(3000)
    indexed.knn_index = DenseIndex.build(indexed.initiative_ids, indexed.vectors, hnsw_threshold=0,
                                         ivf_threshold=1024)
    assert indexed.knn_index.kind == "ivf_sq8"
    for q in _queries():
        want, _ = plain.view()._nearest(q, 30)
        got, sims = indexed.view()._nearest(q, 30)
        assert len(set(got) & set(want)) >= 27
        np.testing.assert_allclose(sims, indexed.vectors[got] @ q, atol=2e-3)  # rows and scores agree
        nearest = int(got[0])
        out, _ = indexed.view(exclude=indexed.initiative_ids[nearest])._nearest(q, 30)
        assert nearest not in set(out)
        early, _ = indexed.view(before=1000.0)._nearest(q, 30)
        assert early.size and early.max() < 1000
