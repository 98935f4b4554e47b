"""The reverse match at scale: :func:`matcher.reverse.initiatives_for` over ``n`` synthetic initiatives.

Each synthetic initiative is a copy of one of the demo's 335 (its text, themes and territory, so the
coverages of the demo's 159 resources reach the shares they reach in the demo) with a new id, and a
vector made from its source's real e5 vector plus seeded noise (:mod:`eval.bench_data`). The
initiatives are held as the service holds them, in a :class:`matcher.indexing.InitiativeIndex`
(dense index of the kind picked by size, BM25 over every text), and each demo resource asks for its
10 best initiatives through the same function the API's ``/v1/resources/{id}/initiatives`` calls.

Times are of everything after encoding (the resource's query vector is given, as the embedding cache
gives it from the second match of a resource on), on one thread: the first match of each coverage
(which lists the initiatives it reaches) and the following ones (``warm``). The baseline, timed in
the same run on a few resources, is the code before :mod:`matcher.covered`: every initiative tested
against the coverage, both searches given catalogue ids.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import numpy as np

from eval.bench_data import noise_norm_for, size_label
from eval.bench_measure import peak_mib, percentile_ms
from indexes import DenseIndex, Encoder, SparseIndex

__all__ = ["reverse_at"]

TOP_K = 10
TODAY = date(2026, 12, 1)


def _demo(encoder: Encoder) -> tuple[Any, list[Any], np.ndarray, dict[str, np.ndarray]]:
    """The demo's resource index (in memory), initiatives, their query vectors and the resources'."""
    import tempfile
    from pathlib import Path

    from indexes.snapshot import Manifest
    from matcher.demo_catalogue import load_demo
    from matcher.history import History
    from matcher.indexing import ResourceIndex, resource_document
    from matcher.store import Catalogue, sqlite_url

    with tempfile.TemporaryDirectory() as tmp:
        store = Catalogue.open(sqlite_url(Path(tmp) / "bench.db"))
        load_demo(store)
        resources, providers, initiatives = store.resources(), {p.id: p for p in store.providers()}, store.initiatives()
        store.close()
    docs = [resource_document(r, providers.get(r.provider_id)) for r in resources]
    manifest = Manifest(version="bench", kind="resources", encoder_id=encoder.model_id, dim=encoder.dim,
                        count=len(resources), catalogue_hash="bench")
    index = ResourceIndex(manifest, DenseIndex.build([r.id for r in resources], encoder.encode_documents(docs)),
                          SparseIndex().build([r.id for r in resources], docs), {r.id: r for r in resources},
                          providers, History.empty(encoder.dim))
    ini_vectors = encoder.encode_queries([i.text() for i in initiatives])
    return index, initiatives, ini_vectors, dict(zip(docs, encoder.encode_queries(docs), strict=True))


def _initiatives(demo: list[Any], base: np.ndarray, n: int, rng: np.random.Generator,
                 out: dict[str, Any], label: str) -> Any:
    from matcher.indexing import InitiativeIndex

    src = rng.integers(0, len(demo), n)
    ids = [f"syn-{i:07d}" for i in range(n)]
    inis = {iid: demo[s].model_copy(update={"id": iid}) for iid, s in zip(ids, src, strict=True)}
    noise = noise_norm_for(base)
    x = base[src] + rng.normal(0.0, noise / np.sqrt(base.shape[1]), (n, base.shape[1])).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gc.collect()
    t = time.perf_counter()
    dense = DenseIndex.build(ids, x)
    out[f"{label}.dense_build_s"] = round(time.perf_counter() - t, 1)
    del x
    texts = [demo[s].text() for s in src]
    t = time.perf_counter()
    sparse = SparseIndex().build(ids, texts)
    out[f"{label}.sparse_build_s"] = round(time.perf_counter() - t, 1)
    out[f"{label}.dense_kind"] = dense.kind
    out[f"{label}.peak_rss_mb_after_build"] = peak_mib()
    print(f"{label}: {n:,} initiatives, dense {dense.kind} built in {out[f'{label}.dense_build_s']} s, BM25 in "
          f"{out[f'{label}.sparse_build_s']} s (peak RSS {out[f'{label}.peak_rss_mb_after_build']:.0f} MB)", flush=True)
    return InitiativeIndex(dense, sparse, inis)


def _before(index: Any, encoder: Encoder, initiatives: Any, resource_id: str, k: int, today: date, *,
            candidates: int, rrf_k: int) -> list[str]:
    """The reverse match's retrieval as it was before :mod:`matcher.covered` (the baseline)."""
    from matcher import territory
    from matcher.fusion import reciprocal_rank_fusion
    from matcher.indexing import resource_document

    res = index.resources[resource_id]
    text = resource_document(res, index.providers.get(res.provider_id))
    allowed = [i for i, ini in initiatives.initiatives.items() if territory.covers(res.coverage, ini.territory)]
    if not allowed:
        return []
    n = min(len(allowed), max(candidates, k))
    _, dense_found = initiatives.dense.search(encoder.encode_queries([text]), n, allowed=allowed)
    _, sparse_found = initiatives.sparse.search(text, n, allowed=allowed)
    fused = reciprocal_rank_fusion([{iid: r for r, iid in enumerate((i for i in f if i is not None), start=1)}
                                    for f in (dense_found[0], sparse_found)], k=rrf_k)
    return sorted(fused, key=lambda i: (-fused[i], i))[:k]


def _time(run: Callable[[str], object], rids: Sequence[str]) -> list[float]:
    ts = []
    for rid in rids:
        t = time.perf_counter()
        run(rid)
        ts.append(time.perf_counter() - t)
    return ts


def reverse_at(encoder: Encoder, n: int, rng: np.random.Generator, baseline_queries: int = 5) -> dict[str, Any]:
    """``reverse_{n}.*`` figures (see the module docstring)."""
    import faiss

    from eval.bench_rank import _Precomputed
    from matcher.recommender import RecommenderConfig
    from matcher.reverse import initiatives_for

    label = f"reverse_{size_label(n)}"
    index, demo, base, resource_vectors = _demo(encoder)
    out: dict[str, Any] = {f"{label}.initiatives": n, f"{label}.resources_asking": len(index.resources)}
    initiatives = _initiatives(demo, base, n, rng, out, label)
    given = _Precomputed(encoder, resource_vectors)
    cfg = RecommenderConfig()
    faiss.omp_set_num_threads(1)

    def ours(rid: str) -> object:
        return initiatives_for(index, given, initiatives, rid, TOP_K, TODAY, candidates=cfg.dense_candidates,
                               rrf_k=cfg.rrf_k)

    rids = sorted(index.resources)
    first = _time(ours, rids)  # the first match of each coverage lists the initiatives it reaches
    keys = [tuple(sorted(set(index.resources[r].coverage))) for r in rids]
    cold = [t for j, t in enumerate(first) if keys[j] not in keys[:j]]
    warm = _time(ours, rids) + _time(ours, rids)
    reached = [initiatives.covered.get(index.resources[r].coverage).count / n for r in rids]
    base_rids = [rids[j] for j in rng.choice(len(rids), min(baseline_queries, len(rids)), replace=False)]
    before = _time(lambda rid: _before(index, given, initiatives, rid, TOP_K, TODAY, candidates=cfg.dense_candidates,
                                     rrf_k=cfg.rrf_k), base_rids)
    ours_same = _time(ours, base_rids)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    out.update({
        f"{label}.coverages": initiatives.covered.made,
        f"{label}.reached_share_p50": round(float(np.median(reached)), 4),
        f"{label}.first_of_coverage_p50_ms": percentile_ms(cold, 50),
        f"{label}.first_of_coverage_p99_ms": percentile_ms(cold, 99),
        f"{label}.p50_ms": percentile_ms(warm, 50), f"{label}.p99_ms": percentile_ms(warm, 99),
        f"{label}.baseline_resources": len(base_rids), f"{label}.baseline_p50_ms": percentile_ms(before, 50),
        f"{label}.same_resources_p50_ms": percentile_ms(ours_same, 50),
        f"{label}.speedup_p50": round(percentile_ms(before, 50) / max(percentile_ms(ours_same, 50), 1e-3), 1),
        f"{label}.peak_rss_mb": peak_mib(),
    })
    print(f"  {label}: {len(rids)} resources (coverages reach a median {out[f'{label}.reached_share_p50']:.1%} of the "
          f"initiatives), after encoding p50 {out[f'{label}.p50_ms']} ms, p99 {out[f'{label}.p99_ms']} ms; first "
          f"match of a coverage p50 {out[f'{label}.first_of_coverage_p50_ms']} ms; before: p50 "
          f"{out[f'{label}.baseline_p50_ms']} ms on {len(base_rids)} resources (now "
          f"{out[f'{label}.same_resources_p50_ms']} ms on them, ×{out[f'{label}.speedup_p50']})", flush=True)
    return out
