"""The FAISS pieces behind :class:`indexes.dense.DenseIndex`'s kinds: building an empty index of a
kind, an IVF's search parameters, its float16 rows (decoding, rescoring), and the OpenMP thread
setting of small searches. Plain functions over FAISS objects; the class keeps the state and the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faiss
import numpy as np

from indexes._dense_format import DenseConfig, Kind

__all__ = ["IVF_EXACT_BELOW_FRACTION", "IVF_MIN_ITEMS", "decode_rows", "half_rows", "ivf_params", "new_index",
           "one_thread_for", "rescore"]

# Queries up to this many run on one OpenMP thread: a single query gains nothing from a second
# thread, and on a shared 2-core machine the thread wake-ups cost more than the scan (100k flat
# scan: 15 ms on one thread, 24-57 ms on two under load).
_SINGLE_THREAD_QUERIES = 16
# IVF: inverted lists for n items (a power of two near 2·sqrt(n)), k-means trained on this many
# sample items per list; filtered IVF searches below IVF_EXACT_BELOW_FRACTION allowed are scored
# exactly from the float16 rows (FAISS scans them with the allowed bitmap: 1M rows, 1 % allowed,
# about 3.5 ms on one thread; docs/decisions.md, "Indexes: a million items"). An IVF needs items to
# train on: below IVF_MIN_ITEMS the index stays HNSW whatever the threshold.
_IVF_TRAIN_PER_LIST = 40
IVF_EXACT_BELOW_FRACTION = 0.02
IVF_MIN_ITEMS = 1024
# Past this many lists visited, FAISS's coarse search slows down sharply (100k items, 512 lists: 1.2 ms
# at 64 lists, 74 ms at 128).
_MAX_NPROBE = 64


def _ivf_lists(n: int) -> int:
    return int(min(8192, max(64, 2 ** round(np.log2(2 * np.sqrt(max(n, 1)))))))


def new_index(kind: Kind, dim: int, config: DenseConfig, vectors: np.ndarray) -> Any:
    """An empty FAISS index of ``kind`` (inner product); an IVF is trained on a seeded sample of
    ``(n, dim) float32 vectors`` and given a direct map (for reconstruction)."""
    if kind == "exact":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
        return index
    lists = _ivf_lists(len(vectors))
    ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    take = min(len(vectors), _IVF_TRAIN_PER_LIST * lists)
    sample = np.random.default_rng(0).choice(len(vectors), take, replace=False) if take < len(vectors) else None
    ivf.train(np.ascontiguousarray(vectors if sample is None else vectors[np.sort(sample)], dtype=np.float32))
    ivf.nprobe = config.ivf_nprobe
    ivf.make_direct_map()
    return ivf


def ivf_params(index: Any, nprobe: int, share: float, sel: Any) -> Any:
    """Search parameters of an IVF when a ``share`` of the items is allowed: ``nprobe / share`` lists,
    at least ``nprobe`` and at most :data:`_MAX_NPROBE` (or every list)."""
    params = faiss.SearchParametersIVF()
    wanted = int(np.ceil(nprobe / max(share, 1e-9)))
    params.nprobe = min(index.nlist, max(nprobe, min(_MAX_NPROBE, wanted)))
    if sel is not None:
        params.sel = sel
    return params


def half_rows(dim: int) -> Any:
    """An empty flat index of float16 codes (no training: fp16 needs none), inner product."""
    return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)


def decode_rows(half: Any, fids: np.ndarray | list[int]) -> np.ndarray:
    """``(len(fids), d) float32`` vectors of these rows of ``half`` (:func:`half_rows`)."""
    n = half.ntotal
    codes = faiss.rev_swig_ptr(half.codes.data(), n * half.code_size).reshape(n, -1)
    decoded: np.ndarray = half.sa_decode(np.ascontiguousarray(codes[fids]))
    return decoded


def rescore(half: Any, q: np.ndarray, fids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An IVF's ``(nq, k)`` results scored again from the float16 rows and re-sorted: the 8-bit codes
    only choose them, so a pair's score does not depend on which path (IVF or exact) found it."""
    found = fids >= 0
    vectors = decode_rows(half, np.where(found, fids, 0).ravel()).reshape(*fids.shape, -1)
    scores = np.where(found, np.einsum("qkd,qd->qk", vectors, q), -np.inf).astype(np.float32)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, 1), np.take_along_axis(fids, order, 1)


@contextmanager
def one_thread_for(n_queries: int) -> Iterator[None]:
    """One OpenMP thread for a few queries (the setting is per calling thread in OpenMP)."""
    if n_queries > _SINGLE_THREAD_QUERIES:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
