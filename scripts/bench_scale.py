"""Benchmark at a million items: the dense index of resources and the reverse index of initiatives.

``python scripts/bench_scale.py --resources 1m --initiatives 1m`` (a size of 0 skips a direction) builds,
from the demo's real e5 vectors (159 resources, 335 initiatives, encoded with multilingual-e5-small: from the home's
embedding cache when it holds them) plus seeded Gaussian noise (:mod:`eval.bench_data`, the same
synthetic catalogues as ``maillage bench``), one :class:`indexes.DenseIndex` per direction, of the kind
it picks by size, and prints and writes (``bench/scale.json``):

- build time (with the IVF's k-means training) and the snapshot's bytes per item (every file
  written), the peak resident memory of the process after each stage;
- search p50 / p99 on one thread, unfiltered and filtered by allowed sets of 50 %, 10 %, 1 % and
  0.1 % of the items (a territory's resources, a kind), each with recall@10 against exact search
  (float32, every allowed item scored) measured on the same queries — the exact search is the
  baseline, timed in the same run;
- snapshot write and load times; the reverse direction (resource vectors as queries over the
  initiatives, filtered to a département-sized share) p50;
- with ``--reverse N``, the reverse match itself (:mod:`eval.bench_reverse`: ``matcher.reverse`` over N
  initiatives), and with ``--history N``, a history of N past initiatives (:mod:`eval.bench_history`).

Allowed sets are given to the index as FAISS ids (``DenseIndex.faiss_ids``, computed once per set as a
territory's cache would); the cost of mapping a set's catalogue ids is printed separately.
The machine's load average is printed at the start and the end (it is shared with other jobs).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from eval.bench_data import demo_texts, noise_norm_for, size_label, synthetic_catalogue  # noqa: E402
from eval.bench_history import history_at  # noqa: E402
from eval.bench_measure import peak_mib, percentile_ms  # noqa: E402
from eval.bench_reverse import reverse_at  # noqa: E402
from indexes import DenseIndex, Encoder, SparseIndex, load_encoder  # noqa: E402

SHARES = (1.0, 0.5, 0.1, 0.01, 0.001)
NPROBE_SWEEP = (8, 16, 32, 48, 64)
TOP_K = 10


def _size(text: str) -> int:
    t = text.strip().lower()
    mult = 1_000_000 if t.endswith("m") else 1_000 if t.endswith("k") else 1
    return int(float(t.rstrip("mk")) * mult)


def _peak_mb() -> float:
    return peak_mib()


def _encoder(home: Path, model: str) -> Encoder:
    return load_encoder(model, models_dir=home / "models" / "encoders", cache_path=home / "cache" / "embeddings.sqlite")


def _base_vectors(home: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    full, _, queries, _ = demo_texts()
    encoder = _encoder(home, model)
    return encoder.encode_documents(full), encoder.encode_queries(queries)


def _files_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def _p(ts: list[float], q: float) -> float:
    return percentile_ms(ts, q, 3)


def _searches(index: DenseIndex, x: np.ndarray, qv: np.ndarray, rng: np.random.Generator,
              label: str, out: dict[str, Any]) -> None:
    """p50/p99 and recall@10 per allowed share, against exact float32 search of the allowed rows."""
    n = len(x)
    faiss.omp_set_num_threads(1)
    for share in SHARES:
        key = f"{label}.share{share:g}"
        if share < 1.0:
            mask = rng.random(n) < share
            cand = np.flatnonzero(mask)
            ids = index.ids
            t = time.perf_counter()
            fids = index.faiss_ids([ids[j] for j in cand])
            out[f"{key}.map_ids_ms"] = round((time.perf_counter() - t) * 1e3, 1)
            sub = x[cand]
        else:
            cand, fids, sub = None, None, x
        ts, got = [], []
        for i in range(len(qv)):
            t = time.perf_counter()
            _, found = index.search(qv[i:i + 1], TOP_K, allowed=fids)
            ts.append(time.perf_counter() - t)
            got.append(found[0])
        base = []
        for i in range(min(len(qv), 30)):
            t = time.perf_counter()
            faiss.knn(qv[i:i + 1], sub, TOP_K, faiss.METRIC_INNER_PRODUCT)
            base.append(time.perf_counter() - t)
        _, exact = faiss.knn(qv, sub, TOP_K, faiss.METRIC_INNER_PRODUCT)
        if cand is not None:
            exact = cand[exact]
        names = index.ids  # FAISS ids are positions: the synthetic ids are syn-<position>
        want = [{names[j] for j in row if j >= 0} for row in exact]
        rec = float(np.mean([len(set(g) & w) / max(1, len(w)) for g, w in zip(got, want, strict=True)]))
        out[f"{key}.p50_ms"], out[f"{key}.p99_ms"] = _p(ts, 50), _p(ts, 99)
        out[f"{key}.exact_p50_ms"] = _p(base, 50)
        out[f"{key}.recall_at_10"] = round(rec, 4)
        print(f"  {label} allowed {share:>6.1%}: p50 {out[f'{key}.p50_ms']:.2f} ms, p99 {out[f'{key}.p99_ms']:.2f} ms, "
              f"recall@10 {rec:.3f} (exact search: p50 {out[f'{key}.exact_p50_ms']:.1f} ms)", flush=True)
    faiss.omp_set_num_threads(os.cpu_count() or 1)


def _nprobe_sweep(index: DenseIndex, x: np.ndarray, qv: np.ndarray, label: str, out: dict[str, Any]) -> None:
    """The IVF's lists-visited trade-off behind the default, unfiltered, on the same queries."""
    if index.kind != "ivf_sq8":
        return
    faiss.omp_set_num_threads(1)
    _, exact = faiss.knn(qv, x, TOP_K, faiss.METRIC_INNER_PRODUCT)
    names = index.ids
    want = [{names[j] for j in row} for row in exact]
    default = index.config
    for nprobe in NPROBE_SWEEP:
        index.config = replace(default, ivf_nprobe=nprobe)
        ts, got = [], []
        for i in range(len(qv)):
            t = time.perf_counter()
            got.append(index.search(qv[i:i + 1], TOP_K)[1][0])
            ts.append(time.perf_counter() - t)
        rec = float(np.mean([len(set(g) & w) / TOP_K for g, w in zip(got, want, strict=True)]))
        out[f"{label}.nprobe{nprobe}.p50_ms"], out[f"{label}.nprobe{nprobe}.recall_at_10"] = _p(ts, 50), round(rec, 4)
        print(f"  {label} nprobe {nprobe}: p50 {_p(ts, 50):.2f} ms, recall@10 {rec:.3f}", flush=True)
    index.config = default
    faiss.omp_set_num_threads(os.cpu_count() or 1)


def _direction(label: str, base: np.ndarray, n: int, queries: np.ndarray, rng: np.random.Generator,
               out: dict[str, Any], tmp: Path) -> DenseIndex:
    noise = noise_norm_for(base)
    ids, x, _ = synthetic_catalogue(base, ["."] * len(base), n, rng, noise)
    gc.collect()
    t = time.perf_counter()
    index = DenseIndex.build(ids, x)
    out[f"{label}.build_s"] = round(time.perf_counter() - t, 1)
    out[f"{label}.kind"] = index.kind
    out[f"{label}.peak_rss_mb_after_build"] = _peak_mb()
    print(f"{label}: {n:,} items, {index.kind}, built in {out[f'{label}.build_s']} s "
          f"(peak RSS {out[f'{label}.peak_rss_mb_after_build']:.0f} MB)", flush=True)
    t = time.perf_counter()
    paths = index.save(tmp / label)
    out[f"{label}.save_s"] = round(time.perf_counter() - t, 1)
    out[f"{label}.snapshot_bytes_per_item"] = round(_files_bytes(paths) / n, 1)
    t = time.perf_counter()
    index = DenseIndex.load(tmp / label, dim=x.shape[1])
    out[f"{label}.load_s"] = round(time.perf_counter() - t, 1)
    print(f"  snapshot {out[f'{label}.snapshot_bytes_per_item']:.0f} bytes per item, written in "
          f"{out[f'{label}.save_s']} s, loaded in {out[f'{label}.load_s']} s", flush=True)
    _nprobe_sweep(index, x, queries, label, out)
    _searches(index, x, queries, rng, label, out)
    del x
    return index


def _sparse(n: int, texts: list[str], queries: list[str], rng: np.random.Generator, out: dict[str, Any],
            tmp: Path) -> None:
    """BM25 over ``n`` initiatives' texts (the demo's, repeated as the synthetic vectors' sources are):
    build, snapshot size, search p50 unfiltered and with 10 % allowed, given as rows (what the pipeline
    keeps per allowed set) and as catalogue ids (mapped on every query)."""
    label = f"sparse_{size_label(n)}"
    src = rng.integers(0, len(texts), n)
    ids = [f"syn-{i:07d}" for i in range(n)]
    gc.collect()
    t = time.perf_counter()
    index = SparseIndex().build(ids, [texts[s] for s in src])
    out[f"{label}.build_s"] = round(time.perf_counter() - t, 1)
    out[f"{label}.peak_rss_mb_after_build"] = _peak_mb()
    paths = index.save(tmp / label)
    out[f"{label}.snapshot_bytes_per_item"] = round(_files_bytes(paths) / n, 1)
    print(f"{label}: built in {out[f'{label}.build_s']} s, snapshot {out[f'{label}.snapshot_bytes_per_item']:.0f} "
          f"bytes per item (peak RSS {out[f'{label}.peak_rss_mb_after_build']:.0f} MB)", flush=True)
    allowed = [ids[j] for j in np.flatnonzero(rng.random(n) < 0.1)]
    t = time.perf_counter()
    rows = index.rows_of(allowed)  # once per set, as matcher.allowed keeps them per territory
    out[f"{label}.share0.1.map_ids_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    for name, given in (("share1", None), ("share0.1", rows), ("share0.1_ids", allowed)):
        ts = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, 50, allowed=given)
            ts.append(time.perf_counter() - t)
        out[f"{label}.{name}.p50_ms"], out[f"{label}.{name}.p99_ms"] = _p(ts, 50), _p(ts, 99)
        print(f"  {label} {name}: p50 {_p(ts, 50):.1f} ms, p99 {_p(ts, 99):.1f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=_size, default=1_000_000)
    ap.add_argument("--initiatives", type=_size, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--sparse", type=_size, default=0, help="also BM25 over this many initiatives' texts")
    ap.add_argument("--reverse", type=_size, default=0,
                    help="also the reverse match (matcher.reverse) over this many initiatives")
    ap.add_argument("--history", type=_size, default=0,
                    help="also a history (matcher.history) of this many past initiatives")
    ap.add_argument("--history-resources", type=_size, default=2_000,
                    help="the catalogue the history's partnerships spread over (each has a model to fit)")
    ap.add_argument("--history-without-models", action="store_true",
                    help="leave the history's text and vector models unfitted (their fit is the long part)")
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("MAILLAGE_HOME", "var")))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "scale.json")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
    rng = np.random.default_rng(args.seed)
    res_base, ini_base = _base_vectors(args.home, args.model)
    out: dict[str, Any] = {"resources": args.resources, "initiatives": args.initiatives, "model": args.model,
                           "queries": args.queries, "seed": args.seed, "top_k": TOP_K}
    with tempfile.TemporaryDirectory(prefix="maillage-scale-") as tmp:
        # Resources: queries are initiatives' vectors (a project looking for resources).
        queries = ini_base[rng.integers(0, len(ini_base), args.queries)]
        if args.resources:
            _direction(f"resources_{size_label(args.resources)}", res_base, args.resources, queries, rng, out,
                       Path(tmp))
            gc.collect()
        # Initiatives: queries are resources' vectors (the reverse match: who could this call reach).
        queries = res_base[rng.integers(0, len(res_base), args.queries)]
        if args.initiatives:
            _direction(f"initiatives_{size_label(args.initiatives)}", ini_base, args.initiatives, queries, rng,
                       out, Path(tmp))
        if args.sparse:
            _, _, query_texts, _ = demo_texts()
            picked = [query_texts[i] for i in rng.integers(0, len(query_texts), min(args.queries, 50))]
            _sparse(args.sparse, query_texts, picked, rng, out, Path(tmp))
    if args.reverse:
        gc.collect()
        out.update(reverse_at(_encoder(args.home, args.model), args.reverse, rng))
    if args.history:
        gc.collect()
        out.update(history_at(_encoder(args.home, args.model), args.history, rng, resources=args.history_resources,
                              models=not args.history_without_models))
    out["peak_rss_mb"] = _peak_mb()
    load_end = os.getloadavg()
    out["load_average_start"] = [round(v, 2) for v in load_start]
    out["load_average_end"] = [round(v, 2) for v in load_end]
    out["cores"] = os.cpu_count()
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"peak memory {out['peak_rss_mb']:.0f} MB; load average at end: {load_end[0]:.2f} {load_end[1]:.2f} "
          f"{load_end[2]:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
