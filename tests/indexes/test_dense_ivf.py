"""The IVF kind (8-bit codes + float16 rows) of DenseIndex, at sizes small enough for unit tests: the
thresholds are lowered so that 3,000 seeded vectors make an IVF."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexes import DenseIndex, IndexFileError
from indexes._dense_format import VECTORS_FILE

SMALL = {"hnsw_threshold": 200, "ivf_threshold": 2_000}
Built = tuple[DenseIndex, list[str], np.ndarray, np.ndarray]


def clustered(rng: np.random.Generator, n: int, d: int = 48, centres: int = 40) -> np.ndarray:
    c = rng.standard_normal((centres, d))
    x = c[rng.integers(0, centres, n)] + 0.4 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def built() -> Built:
    rng = np.random.default_rng(7)
    x = clustered(rng, 3_000)
    ids = [f"r{i:05d}" for i in range(len(x))]
    q = clustered(np.random.default_rng(8), 60)
    return DenseIndex.build(ids, x, **SMALL), ids, x, q


def exact(q: np.ndarray, x: np.ndarray, ids: list[str], k: int, mask: np.ndarray | None = None) -> list[list[str]]:
    s = q @ x.T
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return [[ids[j] for j in row if np.isfinite(s[n, j])] for n, row in enumerate(np.argsort(-s, axis=1)[:, :k])]


def recall(got: list[list[str | None]], want: list[list[str]]) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True)]))


def test_the_kind_follows_the_size_and_recall_holds(built: Built) -> None:
    index, ids, x, q = built
    assert index.kind == "ivf_sq8"
    assert DenseIndex.build(ids[:1_000], x[:1_000], **SMALL).kind == "hnsw"
    assert DenseIndex.build(ids[:100], x[:100], **SMALL).kind == "exact"
    _, got = index.search(q, 10)
    assert recall(got, exact(q, x, ids, 10)) >= 0.9


def test_a_small_allowed_set_is_scored_exactly_and_never_leaks(built: Built) -> None:
    index, ids, x, q = built
    mask = np.zeros(len(ids), dtype=bool)
    mask[np.random.default_rng(3).choice(len(ids), 30, replace=False)] = True  # 1 %: the exact path
    allowed = [ids[j] for j in np.flatnonzero(mask)]
    scores, got = index.search(q, 10, allowed=allowed)
    assert got == exact(q, x, ids, 10, mask)
    want = np.sort(np.where(mask, q @ x.T, -np.inf), axis=1)[:, ::-1][:, :10]
    assert np.allclose(scores, want, atol=2e-3)  # float16 rows


def test_a_larger_allowed_set_gives_k_allowed_items(built: Built) -> None:
    index, ids, x, q = built
    mask = np.random.default_rng(4).random(len(ids)) < 0.3
    allowed = {ids[j] for j in np.flatnonzero(mask)}
    _, got = index.search(q, 10, allowed=allowed)
    assert all(len(row) == 10 and set(row) <= allowed for row in got)
    assert recall(got, exact(q, x, ids, 10, mask)) >= 0.9


def test_updates_tombstones_and_compaction() -> None:
    rng = np.random.default_rng(5)
    x = clustered(rng, 2_500)
    ids = [f"r{i:05d}" for i in range(len(x))]
    index = DenseIndex.build(ids, x, **SMALL)
    gone = ids[:100]
    assert index.remove(gone) == 100
    _, got = index.search(x[:100], 5)
    assert not {i for row in got for i in row} & set(gone)
    moved = clustered(np.random.default_rng(6), 1)
    index.upsert(["r02000"], moved)
    _, got = index.search(moved, 1)
    assert got == [["r02000"]]
    assert np.allclose(index.reconstruct("r02000"), moved[0], atol=2e-3)
    index.remove(ids[100:700])  # past 20 % tombstones: rebuilt without them, still an IVF above half its threshold
    assert index.tombstones == 0 and len(index) == 1_800 and index.kind == "ivf_sq8"
    index.remove(ids[700:1_600])  # below half of it (1,000): HNSW
    assert len(index) == 900 and index.kind == "hnsw"
    _, got = index.search(moved, 1)
    assert got == [["r02000"]]


def test_an_hnsw_index_grows_into_an_ivf() -> None:
    rng = np.random.default_rng(9)
    x = clustered(rng, 2_400)
    ids = [f"r{i:05d}" for i in range(len(x))]
    index = DenseIndex.build(ids[:1_500], x[:1_500], **SMALL)
    assert index.kind == "hnsw"
    index.upsert(ids[1_500:], x[1_500:])
    assert index.kind == "ivf_sq8" and len(index) == 2_400
    assert np.allclose(index.reconstruct_many(ids[::100]), x[::100], atol=2e-3)


def test_save_and_load_give_the_same_answers_and_a_bad_vectors_file_is_named(
        tmp_path: Path, built: Built) -> None:
    index, ids, x, q = built
    written = index.save(tmp_path)
    assert VECTORS_FILE in {p.name for p in written}
    loaded = DenseIndex.load(tmp_path, dim=x.shape[1])
    assert loaded.kind == "ivf_sq8" and loaded.config == index.config
    assert loaded.search(q, 10)[1] == index.search(q, 10)[1]
    allowed = ids[:40]
    assert loaded.search(q, 5, allowed=allowed)[1] == index.search(q, 5, allowed=allowed)[1]
    other = faiss.IndexScalarQuantizer(x.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    other.add(x[:3])
    faiss.write_index(other, str(tmp_path / VECTORS_FILE))
    with pytest.raises(IndexFileError, match=r"dense_vectors\.faiss.*inconsistent"):
        DenseIndex.load(tmp_path, dim=x.shape[1])
    (tmp_path / VECTORS_FILE).write_bytes(b"not numpy")
    with pytest.raises(IndexFileError, match=r"cannot read dense vectors"):
        DenseIndex.load(tmp_path, dim=x.shape[1])


def test_a_config_written_before_the_ivf_fields_still_loads(tmp_path: Path) -> None:
    x = clustered(np.random.default_rng(1), 300)
    ids = [f"r{i}" for i in range(len(x))]
    DenseIndex.build(ids, x, hnsw_threshold=100).save(tmp_path)
    config = json.loads((tmp_path / "dense.json").read_text())
    del config["ivf_threshold"], config["ivf_nprobe"]
    (tmp_path / "dense.json").write_text(json.dumps(config))
    loaded = DenseIndex.load(tmp_path, dim=x.shape[1])
    assert loaded.kind == "hnsw" and loaded.config.ivf_threshold == 300_000


def test_a_pair_scores_the_same_whatever_path_found_it(built: Built) -> None:
    index, _, _, q = built
    scores, got = index.search(q[:5], 10)
    for n in range(5):
        small, found = index.search(q[n:n + 1], 1, allowed=[got[n][0]])  # one allowed item: the exact path
        assert found[0] == [got[n][0]] and small[0, 0] == pytest.approx(float(scores[n, 0]), abs=1e-6)
        assert list(scores[n]) == sorted(scores[n], reverse=True)


def test_allowed_faiss_ids_give_the_answer_of_the_catalogue_ids(built: Built) -> None:
    index, ids, _, q = built
    allowed = ids[::7]
    fids = index.faiss_ids(allowed)
    assert index.search(q, 10, allowed=fids)[1] == index.search(q, 10, allowed=allowed)[1]
    outside = np.array([-1, 10**9, *fids.tolist()], dtype=np.int64)  # unknown FAISS ids are ignored
    assert index.search(q, 10, allowed=outside)[1] == index.search(q, 10, allowed=allowed)[1]
