"""Retrieval benchmark: latency, build time, memory and encoding throughput, ours against a plain
baseline measured in the same run (what ``maillage bench`` runs; ``python -m eval.bench``).

Synthetic catalogues are built from the demo, not from random vectors: the demo resources' texts are
encoded once in two variants (title + description, and title + the first sentence of the
description), then item ``i`` of a size-N catalogue is a demo vector picked at random plus seeded
Gaussian noise, renormalised. The noise norm is half the median distance between a demo resource and
its nearest other resource, so items stay in their source's neighbourhood and the catalogue keeps
the real topic structure (and the narrow cone of e5 vectors) that uniform random vectors lack. Each
item carries its source's text, for BM25. Queries are the demo initiatives (title + description),
encoded as queries: real queries, which sit farther from the catalogue than its items do.

Figures (``K.ratio`` is ours / baseline: below 1 is smaller or faster, above 1 is more):

- ``{N}.retrieve_vector.p50_ms`` / ``p99_ms``: top 10 for a query vector. Baseline: ``IndexFlatIP``.
- ``{N}.retrieve_filtered.p50_ms``: the same restricted to a random 25% of the ids (string ids in).
  Baseline: ``IndexFlatIP`` with an ``IDSelectorBatch``.
- ``{N}.retrieve_text.p50_ms`` / ``p99_ms`` (N ≤ 10k): free text → encode, dense top 200 and BM25 top
  200 over the items' texts, reciprocal-rank fusion (the candidate stage of ``Recommender``, with its
  sizes and constant). The text is an initiative's query text (title, description, themes; ~140
  tokens); ``retrieve_short_text`` (largest N ≤ 10k) uses title + first sentence (~40 tokens).
  Baseline: a plain ``SentenceTransformer.encode`` and a flat top-200 search.
- ``{N}.recall_at_10``: our top 10 against the exact top 10 (no baseline: it is the oracle); for an
  HNSW index also ``{N}.ef{E}.recall_at_10`` and ``{N}.ef{E}.p50_ms`` for other efSearch values.
- ``{N}.build_s``: index build with vectors given. Baseline: ``IndexFlatIP.add``.
- ``{N}.memory_bytes_per_item``: serialised index files (FAISS + id list + config) per item;
  ``{N}.memory_resident_bytes_per_item`` adds the in-process id mapping (measured with tracemalloc).
- ``encode.texts_per_s``: short texts (title + one-line description), batch encoding.
- ``{N}.rank_after_encoding.p50_ms`` / ``p99_ms`` (largest N ≤ 10k): everything ``Recommender.recommend``
  does once the query vector is known — hybrid retrieval, the history votes, eligibility per criterion,
  features, ranking, diversity and explanations — over a catalogue of the demo resources (real records,
  with the demo's decision history) padded with copies up to N, for the demo initiatives as queries.
  The ranker is a served learned one, a bag of 5 LightGBM models of full size (fitted on seeded
  synthetic pairs: its cost depends on its trees, not on what they learned).
  Baseline: hybrid retrieval alone (dense and BM25 top 200, fused), so the ratio shows what ranking adds.
- ``live_update_visible``: 1 when an added, moved and deleted item are all seen by the next query.

Latency figures are the median over ``repeats`` passes of per-pass percentiles (free-text figures: one
pass, as each query is a model call); ours and the baseline alternate query by query so that load from
other processes hits both alike. ``meta.loadavg_1min`` records how busy the machine was.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from eval.bench_data import demo_texts, noise_norm_for, size_label, synthetic_catalogue
from eval.bench_measure import TOP_K, files_bytes, interleaved, rate, rrf, timed, with_baseline
from eval.bench_rank import rank_after_encoding
from eval.bench_report import plot_latency, print_table
from indexes import DEFAULT_MODEL, DenseIndex, Encoder, SparseIndex, load_encoder
from matcher.recommender import RecommenderConfig

__all__ = ["main", "noise_norm_for", "run_bench", "size_label", "synthetic_catalogue"]

TEXT_MAX_SIZE = 10_000  # free-text figures only up to here (BM25 analysis of 100k texts adds minutes)
FILTER_FRACTION = 0.25
EF_SWEEP = (128, 256, 512, 1024, 1536, 2048)  # efSearch values whose recall and latency are reported for HNSW


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"a size is a number with an optional k or M suffix, got {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]


def _plain_model(spec: str, home: Path) -> Any:
    """The sentence-transformers model behind ``spec``, loaded plainly for the baseline (None: none)."""
    from indexes.e5 import E5_MODEL_ID

    folder = home / "models" / "encoders" / E5_MODEL_ID if spec in ("multilingual-e5-small", "e5") else Path(spec)
    if not folder.is_dir():
        return None
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


# --- the benchmark --------------------------------------------------------------------------------------


def run_bench(
    sizes: Sequence[int] = (1_000, 10_000, 100_000),
    out: Path = Path("bench"),
    model: str = DEFAULT_MODEL,
    home: Path = Path("/tmp/bench-home"),
    queries: int = 200,
    seed: int = 0,
    *,
    encoder: Encoder | None = None,
    quick: bool = False,
    repeats: int | None = None,
    plot: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Measure everything in the module docstring; write ``out/results.json`` and ``out/latency.png``.

    ``encoder`` replaces the model named by ``model`` (tests pass a ``HashingEncoder``); ``quick`` runs
    one pass and a few encoding batches; ``repeats`` sets the passes (default 3, 1 when quick).
    Returns the figures: ``{key: value}`` with ms, s, bytes, texts/s, ratios, 0/1 flags.
    """
    if not sizes or any(n < 100 for n in sizes):
        raise ValueError(f"sizes must be catalogue sizes >= 100, got {list(sizes)}")
    if queries < 1:
        raise ValueError(f"queries must be >= 1, got {queries}")
    repeats = repeats or (1 if quick else 3)
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    rng = np.random.default_rng(seed)
    figures: dict[str, float] = {}
    encoder, plain, runtime = _encoders(model, home, encoder, load_before, log)

    full, short, initiative_texts, short_queries = demo_texts()
    query_texts = [initiative_texts[i % len(initiative_texts)] for i in range(queries)]
    short_texts = [short_queries[i % len(short_queries)] for i in range(queries)]

    batch = short if not quick else short[:32]  # batch encoding of short texts (the first call warms up)
    base_rate = None if plain is None else rate(
        lambda texts: plain.encode(texts, batch_size=32, normalize_embeddings=True), batch, repeats)
    with_baseline(figures, "encode.texts_per_s", rate(encoder.encode_documents, batch, repeats), base_rate)
    figures.update(_limit(encoder, initiative_texts, short_queries, quick, log))

    base_vectors = np.vstack([encoder.encode_documents(full), encoder.encode_documents(short)])
    base_texts = full + short
    noise = noise_norm_for(base_vectors[: len(full)])
    qv = encoder.encode_queries(query_texts)
    log(f"{len(base_texts)} demo vectors, noise norm {noise:.3f}, {queries} queries, {repeats} passes")

    largest_text = max((n for n in sizes if n <= TEXT_MAX_SIZE), default=0)
    for n in sizes:
        ids, x, texts = synthetic_catalogue(base_vectors, base_texts, n, rng, noise)
        measured = _bench_size(ids, x, texts, qv, query_texts, short_texts, encoder,
                               partial(_encode_plain, encoder, plain), rng, repeats,
                               text=n <= TEXT_MAX_SIZE, short=n == largest_text, live=n == max(sizes))
        figures.update(measured)
        label = size_label(n)
        log(f"{label}: " + ", ".join(f"{k.split('.', 1)[1]}={v:.4g}" for k, v in measured.items()
                                     if k.startswith(f"{label}.") and not k.endswith(".ratio")))
    meta = _meta(encoder, runtime, sizes, queries, repeats, seed, quick, noise, load_before)
    _publish(out, meta, figures, sizes, plot=plot)
    print_table(figures, log)
    return figures


def _encoders(model: str, home: Path, encoder: Encoder | None, load_before: float,
              log: Callable[[str], None]) -> tuple[Encoder, Any, str]:
    """``(ours, the baseline's plain SentenceTransformer or None, our runtime)``; logs what runs."""
    plain = None  # the baseline's plain SentenceTransformer, when the model is one
    if encoder is None:
        encoder = load_encoder(model, models_dir=home / "models" / "encoders")
        plain = _plain_model(model, home)
    runtime = getattr(encoder, "runtime", "python")
    runtime += f", batches in {getattr(encoder, 'batch_precision', 'float32')}"
    log(f"encoder {encoder.model_id} (dim {encoder.dim}, {runtime}); FAISS {faiss.__version__}; {os.cpu_count()} CPUs "
        f"(load {load_before:.2f}); "
        f"DenseIndex defaults {asdict(DenseIndex(encoder.dim).config)}")
    return encoder, plain, runtime


def _meta(encoder: Encoder, runtime: str, sizes: Sequence[int], queries: int, repeats: int, seed: int, quick: bool,
          noise: float, load_before: float) -> dict[str, Any]:
    """What the figures were measured with, and how busy the machine was before and after."""
    return {"model": encoder.model_id, "runtime": runtime, "dim": encoder.dim, "faiss": faiss.__version__,
            "cpus": os.cpu_count(),
            "sizes": list(sizes), "queries": queries, "repeats": repeats, "seed": seed, "quick": quick,
            "dense_config": asdict(DenseIndex(encoder.dim).config), "noise_norm": noise,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "ratio": "ours / baseline: below 1 is faster or smaller, above 1 is more"}


def _limit(encoder: Encoder, initiatives: list[str], typed: list[str], quick: bool,
           log: Callable[[str], None]) -> dict[str, float]:
    """How far from the machine's limit a query's forward pass runs (a GEMM peak measured here, now)."""
    from eval.bench_peak import encoder_limit

    n = 16 if quick else 64
    return encoder_limit(encoder, {"initiative": initiatives[:n], "typed": typed[:n]},
                         seconds=0.3 if quick else 1.0, log=log)


def _encode_plain(encoder: Encoder, plain: Any, text: str) -> np.ndarray:
    """The baseline's query vector: a plain ``SentenceTransformer.encode`` (ours when there is none)."""
    if plain is None:
        return encoder.encode_queries([text])
    prefix = str(getattr(encoder, "query_prefix", ""))
    return np.asarray(plain.encode([prefix + text], normalize_embeddings=True), dtype=np.float32)


def _publish(out: Path, meta: dict[str, Any], figures: dict[str, float], sizes: Sequence[int], *, plot: bool) -> None:
    """Write ``out/results.json`` atomically (and ``out/latency.png`` with ``plot``)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp_json = out / ".results.json.tmp"
    tmp_json.write_text(json.dumps({"meta": meta, **figures}, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp_json, out / "results.json")
    if plot:
        plot_latency(figures, sizes, out / "latency.png")


def _bench_size(
    ids: list[str],
    x: np.ndarray,
    texts: list[str],
    qv: np.ndarray,
    query_texts: list[str],
    short_texts: list[str],
    encoder: Encoder,
    encode_plain: Callable[[str], np.ndarray],
    rng: np.random.Generator,
    repeats: int,
    *,
    text: bool,
    short: bool,
    live: bool,
) -> dict[str, float]:
    """Every figure for one catalogue (``ids``, ``(n, d)`` vectors ``x``, ``texts``)."""
    label = size_label(len(ids))
    dense, flat, figures = _build_and_memory(ids, x, repeats, label)
    figures.update(_vector_retrieval(dense, flat, ids, qv, rng, repeats, label))
    if text:
        figures.update(_text_retrieval(dense, flat, ids, texts, query_texts, short_texts, encoder, encode_plain,
                                       label, short=short))
    if short:
        figures.update(rank_after_encoding(encoder, len(ids), rng, repeats, label))
    if live:
        figures.update(_live_update(dense, qv[0], x[1], ids, label))
    return figures


def _build_and_memory(ids: list[str], x: np.ndarray, repeats: int,
                      label: str) -> tuple[DenseIndex, Any, dict[str, float]]:
    """Build (vectors given) and memory figures; returns the last pass's indexes, ours and the flat one."""
    n = len(ids)
    figures: dict[str, float] = {}
    ours_build, base_build = [], []
    for _ in range(repeats if n <= 10_000 else min(repeats, 2)):
        gc.collect()
        start = time.perf_counter()
        dense = DenseIndex.build(ids, x)
        ours_build.append(time.perf_counter() - start)
        flat = faiss.IndexFlatIP(x.shape[1])
        base_build.append(timed(flat.add, x))
    with_baseline(figures, f"{label}.build_s", float(np.median(ours_build)), float(np.median(base_build)))
    figures[f"{label}.hnsw"] = float(dense.kind == "hnsw")

    # Memory: serialised files, then with the in-process id mapping.
    with tempfile.TemporaryDirectory() as tmp:
        ours_bytes = files_bytes(dense.save(Path(tmp) / "ours"))
        base_paths = [Path(tmp) / "flat.faiss", Path(tmp) / "ids.txt"]
        faiss.write_index(flat, str(base_paths[0]))
        base_paths[1].write_text("\n".join(ids) + "\n", encoding="utf-8")
        base_bytes = files_bytes(base_paths)
    with_baseline(figures, f"{label}.memory_bytes_per_item", ours_bytes / n, base_bytes / n)
    strings = sum(sys.getsizeof(i) for i in ids)
    tracemalloc.start()
    mapping = DenseIndex(x.shape[1], hnsw_threshold=n + 1)  # the same id mapping; FAISS memory is untracked
    mapping.upsert(ids, x)
    ours_map = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del mapping
    with_baseline(figures, f"{label}.memory_resident_bytes_per_item", (ours_bytes + ours_map + strings) / n,
                  (base_bytes + sys.getsizeof(list(ids)) + strings) / n)
    return dense, flat, figures


def _vector_retrieval(dense: DenseIndex, flat: Any, ids: list[str], qv: np.ndarray, rng: np.random.Generator,
                      repeats: int, label: str) -> dict[str, float]:
    """Vector retrieval, unfiltered and filtered; recall against the exact top 10 (and the efSearch sweep)."""
    figures: dict[str, float] = {}
    lat = interleaved(lambda i: dense.search(qv[i : i + 1], TOP_K),
                      lambda i: flat.search(qv[i : i + 1], TOP_K), len(qv), repeats)
    with_baseline(figures, f"{label}.retrieve_vector.p50_ms", lat["p50"], lat["base_p50"])
    with_baseline(figures, f"{label}.retrieve_vector.p99_ms", lat["p99"], lat["base_p99"])
    _, exact = flat.search(qv, TOP_K)
    _, got = dense.search(qv, TOP_K)
    figures[f"{label}.recall_at_10"] = float(np.mean(
        [len({ids[j] for j in e} & set(g)) / TOP_K for e, g in zip(exact, got, strict=True)]))

    if dense.kind == "hnsw":  # the efSearch trade-off behind the default, on the same index and queries
        default = dense.config
        for ef in EF_SWEEP:
            dense.config = replace(default, ef_search=ef)
            _, got = dense.search(qv, TOP_K)
            figures[f"{label}.ef{ef}.recall_at_10"] = float(np.mean(
                [len({ids[j] for j in e} & set(g)) / TOP_K for e, g in zip(exact, got, strict=True)]))
            figures[f"{label}.ef{ef}.p50_ms"] = float(np.median(
                [timed(dense.search, qv[i : i + 1], TOP_K) for i in range(len(qv))]) * 1e3)
        dense.config = default

    allowed = [ids[j] for j in np.flatnonzero(rng.random(len(ids)) < FILTER_FRACTION)]
    position = {item: p for p, item in enumerate(ids)}

    def flat_filtered(i: int) -> object:
        sel = faiss.IDSelectorBatch(np.fromiter((position[a] for a in allowed), dtype=np.int64))
        return flat.search(qv[i : i + 1], TOP_K, params=faiss.SearchParameters(sel=sel))

    lat = interleaved(lambda i: dense.search(qv[i : i + 1], TOP_K, allowed=allowed), flat_filtered,
                      min(len(qv), 50), repeats)
    with_baseline(figures, f"{label}.retrieve_filtered.p50_ms", lat["p50"], lat["base_p50"])
    return figures


def _text_retrieval(dense: DenseIndex, flat: Any, ids: list[str], texts: list[str], query_texts: list[str],
                    short_texts: list[str], encoder: Encoder, encode_plain: Callable[[str], np.ndarray],
                    label: str, *, short: bool) -> dict[str, float]:
    """Free text: encode + hybrid retrieval (dense and BM25, fused as the recommender does)."""
    figures: dict[str, float] = {}
    cfg = RecommenderConfig()
    sparse = SparseIndex().build(ids, texts)

    def hybrid(texts: list[str], i: int) -> list[str]:
        _, dense_ids = dense.search(encoder.encode_queries([texts[i]]), cfg.dense_candidates)
        _, sparse_ids = sparse.search(texts[i], cfg.sparse_candidates)
        return rrf([dense_ids[0], sparse_ids], TOP_K, cfg.rrf_k)

    def plain_flat(texts: list[str], i: int) -> object:
        return flat.search(encode_plain(texts[i]), cfg.dense_candidates)

    for name, texts_ in (("retrieve_text", query_texts), ("retrieve_short_text", short_texts))[: 1 + short]:
        # One pass: each costs a model call per query, and 200 interleaved queries already give
        # 200 samples of each; more passes mostly measure other processes on a shared machine.
        lat = interleaved(partial(hybrid, texts_), partial(plain_flat, texts_), len(query_texts), 1)
        with_baseline(figures, f"{label}.{name}.p50_ms", lat["p50"], lat["base_p50"])
        with_baseline(figures, f"{label}.{name}.p99_ms", lat["p99"], lat["base_p99"])
    return figures


def _live_update(dense: DenseIndex, q: np.ndarray, other: np.ndarray, ids: list[str], label: str) -> dict[str, float]:
    """Add an item on the query, move an existing one onto it, delete both: each seen by the next query."""
    q2 = q[None, :]
    t_add = timed(dense.upsert, ["bench-new"], q2)
    added = dense.search(q2, 1)[1][0][0] == "bench-new"
    moved_id = ids[1]
    near = 0.999 * q + 0.001 * other
    t_move = timed(dense.upsert, [moved_id], (near / np.linalg.norm(near))[None, :])
    moved = moved_id in dense.search(q2, 2)[1][0]
    t_del = timed(dense.remove, ["bench-new", moved_id])
    gone = not ({"bench-new", moved_id} & set(dense.search(q2, 50)[1][0]))
    return {"live_update_visible": float(added and moved and gone), f"{label}.upsert_ms": t_add * 1e3,
            f"{label}.move_ms": t_move * 1e3, f"{label}.remove_ms": t_del * 1e3}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [_parse_size(p) for p in s.split(",")], default=None,
                        help="catalogue sizes, e.g. 1k,10k,100k (default; --quick: 1k,10k)")
    parser.add_argument("--quick", action="store_true", help="one pass, 50 queries, fewer texts")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("MAILLAGE_HOME", "/tmp/bench-home")))
    parser.add_argument("--out", type=Path, default=Path("bench"))
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    queries = args.queries or (50 if args.quick else 200)
    try:
        run_bench(sizes, args.out, args.model, args.home, queries, args.seed, quick=args.quick)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
