"""Past partnerships at scale: a :class:`matcher.history.History` of ``n`` past initiatives.

The demo's history (its invented outcomes: a few hundred past initiatives with what each obtained) is
copied to ``n`` rows: each row a random demo row, its vector the row's real e5 vector plus seeded
noise (:mod:`eval.bench_data`), its text, département, amount and date kept, and each resource it
obtained replaced by one of that resource's copies in a catalogue of ``resources`` items (the demo's
159 resources and noisy copies, as in ``maillage bench``), so the partnerships spread over the
catalogue as they would in a large deployment.

Figures: the time to build each part (the rows and their kNN index, BM25 over the texts, the text
and vector models of :mod:`matcher.textclf`), the snapshot's size and load time, peak memory, and
per query on one thread, everything ``Recommender.recommend`` does after encoding with this history
against the same with the demo's own history (the baseline, same catalogue, same process), plus the
kNN vote alone against scoring every row (what it did before :data:`matcher.history.KNN_INDEX_FROM`).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_data import noise_norm_for, size_label
from eval.bench_measure import peak_mib, percentile_ms
from indexes import DenseIndex, Encoder, SparseIndex

__all__ = ["history_at"]

TOP_K = 10


def _noisy(base: np.ndarray, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = noise_norm_for(base) / np.sqrt(base.shape[1])
    x = base[src]
    x += noise * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _catalogue(encoder: Encoder, size: int, rng: np.random.Generator
               ) -> tuple[Any, dict[str, list[str]], Any, list[Any]]:
    """``(resource index with the demo history, copies of each demo resource, demo history, queries)``."""
    from indexes.snapshot import Manifest
    from matcher.demo_catalogue import load_demo
    from matcher.history import History
    from matcher.indexing import ResourceIndex, resource_document
    from matcher.schemas import MatchQuery
    from matcher.store import Catalogue, sqlite_url

    with tempfile.TemporaryDirectory() as tmp:
        store = Catalogue.open(sqlite_url(Path(tmp) / "bench.db"))
        load_demo(store)
        demo, providers = store.resources(), {p.id: p for p in store.providers()}
        history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
        queries = [MatchQuery.from_initiative(i) for i in store.initiatives()]
        store.close()
    docs = [resource_document(r, providers.get(r.provider_id)) for r in demo]
    base = encoder.encode_documents(docs)
    src = rng.integers(0, len(demo), max(size - len(demo), 0))
    resources = {r.id: r for r in demo}
    copies: dict[str, list[str]] = {r.id: [r.id] for r in demo}
    for i, s in enumerate(src):
        rid = f"syn-{i:07d}"
        resources[rid] = demo[s].model_copy(update={"id": rid})
        copies[demo[s].id].append(rid)
    ids = list(resources)
    dense = DenseIndex.build(ids, np.vstack([base, _noisy(base, src, rng)]))
    sparse = SparseIndex().build(ids, docs + [docs[s] for s in src])
    manifest = Manifest(version="bench", kind="resources", encoder_id=encoder.model_id, dim=encoder.dim,
                        count=len(ids), catalogue_hash="bench")
    return ResourceIndex(manifest, dense, sparse, resources, providers, history), copies, history, queries


def _large(demo: Any, copies: dict[str, list[str]], n: int, rng: np.random.Generator,
           out: dict[str, Any], label: str, models: bool) -> Any:
    """A history of ``n`` rows copied from ``demo`` (see the module docstring), with each part timed."""
    from matcher.history import History, _documents
    from matcher.textclf import TextClassifier, VectorClassifier

    src = rng.integers(0, len(demo), n)
    ids = [f"past-{i:07d}" for i in range(n)]
    labels = [frozenset(copies[r][int(rng.integers(0, len(copies[r])))] for r in demo.resources_of[s]) for s in src]
    texts = [demo.texts[s] for s in src]
    places = [demo.places[s] for s in src]
    positives = Counter(r for rs in labels for r in rs)
    vectors = _noisy(demo.vectors, src, rng)
    gc.collect()
    t = time.perf_counter()
    h = History(ids, vectors, labels, positives, Counter(), None, demo.dates[src], texts, None, None, places,
                demo.amounts[src])
    out[f"{label}.rows_and_knn_index_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    h.sparse = SparseIndex().build(ids, texts)
    out[f"{label}.bm25_build_s"] = round(time.perf_counter() - t, 1)
    if models:
        t = time.perf_counter()
        h.classifier = TextClassifier().fit(_documents(texts, places), labels)
        out[f"{label}.text_model_fit_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        h.vector_classifier = VectorClassifier().fit(vectors, labels)
        out[f"{label}.vector_model_fit_s"] = round(time.perf_counter() - t, 1)
        out[f"{label}.resources_with_a_model"] = len(h.vector_classifier.classes_)
    out[f"{label}.resources_with_history"] = len(positives)
    out[f"{label}.peak_rss_mb_after_build"] = peak_mib()
    fits = (f", text model {out[f'{label}.text_model_fit_s']} s, vector model {out[f'{label}.vector_model_fit_s']} s"
            if models else ", models of past partnerships not fitted")
    print(f"{label}: {n:,} past initiatives over {len(positives):,} resources; rows + kNN index "
          f"{out[f'{label}.rows_and_knn_index_s']} s, BM25 {out[f'{label}.bm25_build_s']} s{fits} "
          f"(peak RSS {out[f'{label}.peak_rss_mb_after_build']:.0f} MB)", flush=True)
    return h


def _snapshot(h: Any, dim: int, out: dict[str, Any], label: str) -> None:
    from matcher.history import History

    with tempfile.TemporaryDirectory(prefix="maillage-history-") as tmp:
        t = time.perf_counter()
        h.save(Path(tmp))
        out[f"{label}.save_s"] = round(time.perf_counter() - t, 1)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        out[f"{label}.snapshot_bytes_per_row"] = round(size / len(h), 1)
        t = time.perf_counter()
        History.load(Path(tmp), dim)
        out[f"{label}.load_s"] = round(time.perf_counter() - t, 1)
    print(f"  snapshot {out[f'{label}.snapshot_bytes_per_row']:.0f} bytes per past initiative, written in "
          f"{out[f'{label}.save_s']} s, loaded (kNN index rebuilt) in {out[f'{label}.load_s']} s", flush=True)


def history_at(encoder: Encoder, n: int, rng: np.random.Generator, resources: int = 2_000,
               repeats: int = 2, models: bool = True) -> dict[str, Any]:
    """``history_{n}.*`` figures (see the module docstring); ``models=False`` leaves the text and vector
    models unfitted (their features then read 0: the per-query figures leave out their scoring)."""
    import faiss

    from eval.bench_rank import _Precomputed, _served_ranker
    from matcher.recommender import Recommender

    label = f"history_{size_label(n)}"
    index, copies, demo, queries = _catalogue(encoder, resources, rng)
    out: dict[str, Any] = {f"{label}.rows": n, f"{label}.catalogue": resources, f"{label}.demo_rows": len(demo)}
    large = _large(demo, copies, n, rng, out, label, models)
    out[f"{label}.models_fitted"] = models
    _snapshot(large, encoder.dim, out, label)
    vectors = dict(zip([q.text for q in queries], encoder.encode_queries([q.text for q in queries]), strict=True))
    given, ranker = _Precomputed(encoder, vectors), _served_ranker(rng)
    recs = {"large": Recommender(replace(index, history=large), given, ranker=ranker),
            "demo": Recommender(index, given, ranker=ranker)}
    faiss.omp_set_num_threads(1)
    ts: dict[str, list[float]] = {"large": [], "demo": [], "knn": [], "knn_exact": [], "lexical": []}
    view = large.view()
    for _ in range(repeats):
        for q in queries:  # alternating, so that the machine's load weighs on both alike
            for name, rec in recs.items():
                t = time.perf_counter()
                rec.recommend(q, TOP_K)
                ts[name].append(time.perf_counter() - t)
            v, knn_index = vectors[q.text], large.knn_index
            for name in ("knn", "knn_exact", "lexical"):
                large.knn_index = None if name == "knn_exact" else knn_index  # the baseline scores every row
                t = time.perf_counter()
                if name == "lexical":
                    view.lexical_votes(q.text, k=30)
                else:
                    view.knn_neighbours(v, k=30)
                ts[name].append(time.perf_counter() - t)
            large.knn_index = knn_index
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    for name, key in (("large", "after_encoding"), ("demo", "after_encoding_demo_history"), ("knn", "knn_vote"),
                      ("knn_exact", "knn_every_row_scored"), ("lexical", "lexical_vote")):
        out[f"{label}.{key}_p50_ms"] = percentile_ms(ts[name], 50)
        out[f"{label}.{key}_p99_ms"] = percentile_ms(ts[name], 99)
    out[f"{label}.after_encoding_ratio_p50"] = round(
        out[f"{label}.after_encoding_p50_ms"] / max(out[f"{label}.after_encoding_demo_history_p50_ms"], 1e-3), 2)
    out[f"{label}.peak_rss_mb"] = peak_mib()
    print(f"  {label}: after encoding p50 {out[f'{label}.after_encoding_p50_ms']} ms, p99 "
          f"{out[f'{label}.after_encoding_p99_ms']} ms (demo history of {len(demo)} rows: "
          f"{out[f'{label}.after_encoding_demo_history_p50_ms']} ms, ×{out[f'{label}.after_encoding_ratio_p50']}); kNN "
          f"vote {out[f'{label}.knn_vote_p50_ms']} ms (every row scored: {out[f'{label}.knn_every_row_scored_p50_ms']}"
          f" ms), lexical vote {out[f'{label}.lexical_vote_p50_ms']} ms", flush=True)
    return out
