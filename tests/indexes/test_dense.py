from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexes import DenseIndex, IndexFileError


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return [f"r{i}" for i in range(500)], unit(rng, 500, 32), unit(rng, 20, 32)


def test_search_matches_exact_numpy_oracle(data: tuple[list[str], np.ndarray, np.ndarray]) -> None:
    ids, x, q = data
    index = DenseIndex(32)
    index.upsert(ids, x)
    scores, got = index.search(q, 10)
    oracle = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert [[ids[j] for j in row] for row in oracle] == got
    np.testing.assert_allclose(scores, np.sort(q @ x.T, axis=1)[:, ::-1][:, :10], rtol=1e-5)


def test_filtered_search_returns_k_allowed_items_and_never_others(
    data: tuple[list[str], np.ndarray, np.ndarray],
) -> None:
    ids, x, q = data
    index = DenseIndex(32)
    index.upsert(ids, x)
    allowed = set(ids[::37])  # 14 scattered items, mostly far from any query
    _, got = index.search(q, 10, allowed=allowed)
    for row in got:
        assert len(row) == 10 and set(row) <= allowed
    mask = np.array([i in allowed for i in ids])
    oracle = np.argsort(-np.where(mask, q @ x.T, -np.inf), axis=1)[:, :10]
    assert [[ids[j] for j in row] for row in oracle] == got


def test_filtered_search_with_fewer_allowed_than_k_pads_with_none(
    data: tuple[list[str], np.ndarray, np.ndarray],
) -> None:
    ids, x, q = data
    index = DenseIndex(32)
    index.upsert(ids, x)
    scores, got = index.search(q[:1], 5, allowed=["r3", "r4", "absent"])
    assert sorted(i for i in got[0] if i) == ["r3", "r4"] and got[0][2:] == [None, None, None]
    assert np.isinf(scores[0, 2:]).all()
    _, none = index.search(q[:1], 3, allowed=[])
    assert none == [[None, None, None]]


def test_delete_and_update_are_visible_to_the_next_query(
    data: tuple[list[str], np.ndarray, np.ndarray],
) -> None:
    ids, x, q = data
    index = DenseIndex(32)
    index.upsert(ids, x)
    _, before = index.search(q[:1], 1)
    top = before[0][0]
    assert top is not None
    index.remove([top])
    _, after = index.search(q[:1], 500)
    assert top not in after[0] and len(index) == 499
    index.upsert(["r1"], q[:1])  # move r1 onto the query itself
    _, moved = index.search(q[:1], 1)
    assert moved[0][0] == "r1" and len(index) == 499


def test_save_load_round_trip_and_dimension_check(
    tmp_path: Path, data: tuple[list[str], np.ndarray, np.ndarray]
) -> None:
    ids, x, q = data
    index = DenseIndex(32)
    index.upsert(ids, x)
    index.remove(["r0"])
    index.save(tmp_path)
    loaded = DenseIndex.load(tmp_path, dim=32)
    assert loaded.search(q, 5)[1] == index.search(q, 5)[1]
    with pytest.raises(IndexFileError, match="dimension 32, expected 64"):
        DenseIndex.load(tmp_path, dim=64)


def test_wrong_vector_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        DenseIndex(8).upsert(["a"], np.zeros((1, 4), dtype=np.float32))
