"""The benchmark's ``rank_after_encoding`` figure: everything ``Recommender.recommend`` does once the
query vector is known, over the demo resources padded to a catalogue size (see :mod:`eval.bench`)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.bench_data import noise_norm_for
from eval.bench_measure import TOP_K, interleaved, rrf, with_baseline
from indexes import DenseIndex, Encoder, SparseIndex
from matcher.ranker import LearnedRanker

__all__ = ["rank_after_encoding"]


class _Precomputed:
    """An encoder whose query vectors were computed beforehand (so a timing excludes encoding)."""

    def __init__(self, encoder: Encoder, vectors: dict[str, np.ndarray]) -> None:
        self.inner, self.vectors = encoder, vectors
        self.model_id, self.dim = encoder.model_id, encoder.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_documents(texts)


def _served_ranker(rng: np.random.Generator) -> LearnedRanker:
    """A learned ranker with the served parameters, fitted on synthetic lists of 50 candidates whose
    label depends on a few features (so the trees grow to their full size)."""
    from matcher.features import FEATURES

    X = rng.random((400 * 50, len(FEATURES))).astype(np.float32)
    signal = X[:, FEATURES.index("dense")] + X[:, FEATURES.index("knn_vote")] + 0.5 * rng.random(len(X))
    return LearnedRanker().fit(X, (signal > 1.6).astype(np.int32), np.full(400, 50))


def rank_after_encoding(encoder: Encoder, n: int, rng: np.random.Generator, repeats: int,
                         label: str) -> dict[str, float]:
    """``{label}.rank_after_encoding.*``: see the module docstring."""
    from indexes.snapshot import Manifest
    from matcher.demo_catalogue import load_demo
    from matcher.history import History
    from matcher.indexing import ResourceIndex, resource_document
    from matcher.recommender import Recommender
    from matcher.schemas import MatchQuery
    from matcher.store import Catalogue, sqlite_url

    with tempfile.TemporaryDirectory() as tmp:
        store = Catalogue.open(sqlite_url(Path(tmp) / "bench.db"))
        load_demo(store)
        demo = store.resources()
        providers = {p.id: p for p in store.providers()}
        history = History.build(store.iter_outcomes(), store.get_initiatives, encoder)
        initiatives = store.initiatives()
        store.close()
    docs = [resource_document(r, providers.get(r.provider_id)) for r in demo]
    base = encoder.encode_documents(docs)
    src = rng.integers(0, len(demo), max(n - len(demo), 0))
    noise = noise_norm_for(base)
    copies = base[src] + rng.normal(0.0, noise / np.sqrt(base.shape[1]), (len(src), base.shape[1])).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    resources = {r.id: r for r in demo}
    resources.update({f"syn-{i:07d}": demo[s].model_copy(update={"id": f"syn-{i:07d}"}) for i, s in enumerate(src)})
    ids = list(resources)
    dense = DenseIndex.build(ids, np.vstack([base, copies]).astype(np.float32))
    sparse = SparseIndex().build(ids, docs + [docs[s] for s in src])
    manifest = Manifest(version="bench", kind="resources", encoder_id=encoder.model_id, dim=encoder.dim,
                        count=len(ids), catalogue_hash="bench")
    queries = [MatchQuery.from_initiative(i) for i in initiatives]
    vectors = dict(zip([q.text for q in queries], encoder.encode_queries([q.text for q in queries]), strict=True))
    index = ResourceIndex(manifest, dense, sparse, resources, providers, history)
    rec = Recommender(index, _Precomputed(encoder, vectors), ranker=_served_ranker(rng))
    cfg = rec.config

    def ours(i: int) -> object:
        return rec.recommend(queries[i], TOP_K)

    def base_hybrid(i: int) -> object:
        q = queries[i]
        _, dense_ids = dense.search(vectors[q.text][None, :], cfg.dense_candidates)
        _, sparse_ids = sparse.search(q.text, cfg.sparse_candidates)
        return rrf([dense_ids[0], sparse_ids], TOP_K, cfg.rrf_k)

    lat = interleaved(ours, base_hybrid, len(queries), repeats)
    figures: dict[str, float] = {}
    with_baseline(figures, f"{label}.rank_after_encoding.p50_ms", lat["p50"], lat["base_p50"])
    with_baseline(figures, f"{label}.rank_after_encoding.p99_ms", lat["p99"], lat["base_p99"])
    return figures
