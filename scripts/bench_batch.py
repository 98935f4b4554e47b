"""Benchmark of ``maillage batch``: throughput per core on one machine and on a local Ray with 2 workers,
the ratio, and whether Ray's shard files equal the single-machine ones.

    nice -n 10 python scripts/bench_batch.py --n 2000 --shard-size 250 --out bench/batch.json

The home (``--home``, default a fresh temporary folder) gets the demo catalogue and its index with
``--model`` (default: the served default, multilingual-e5-small). The register is ``--n`` synthetic
copies of the demo's initiatives, each text made distinct by a seeded word drawn from the other
initiatives' titles (a copy's text would otherwise repeat another's). Both runs match the same shards
with the same published snapshot; the Ray run's time includes its actors' start (each loads the model
and the index once) but not ``ray.init``, reported apart. Per core: rows per second divided by the
cores the run is given: the local process's intra-op threads (``torch.get_num_threads()``, capped by
the machine's CPUs) against Ray's workers (one CPU each); the local process's measured CPU use
(process time over wall time) is printed beside it. Prints the figures and writes them as JSON."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _register(store: object, n: int, seed: int) -> list:  # type: ignore[type-arg]
    from matcher.schemas import Initiative

    demo = sorted(store.initiatives(), key=lambda i: i.id)  # type: ignore[attr-defined]
    words = sorted({w for i in demo for w in i.title.split() if len(w) > 4})
    rnd = random.Random(seed)
    out = []
    for j in range(n):
        base = demo[j % len(demo)]
        extra = " ".join(rnd.sample(words, 2))
        out.append(Initiative.model_validate({**base.model_dump(), "id": f"{base.id}-x{j:06d}",
                                              "description": f"{base.description} {extra}".strip()}))
    return out


def _same(a: Path, b: Path) -> tuple[bool, int]:
    names = sorted(p.name for p in a.glob("shard-*"))
    differing = sum((a / n).read_bytes() != (b / n).read_bytes() for n in names)
    return names == sorted(p.name for p in b.glob("shard-*")) and differing == 0, differing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="initiatives in the register")
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=None, help="encoder spec (default: the served default)")
    ap.add_argument("--home", type=Path, default=None, help="home folder (default: a fresh temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "batch.json")
    args = ap.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="maillage-bench-batch-"))
    os.environ["MAILLAGE_HOME"] = str(home)
    if args.model:
        os.environ["MAILLAGE_MODEL"] = args.model
    load_start = os.getloadavg()

    import torch

    from eval.ray_batch import ray_executor
    from eval.shards import Fingerprint, local_executor, run_sharded
    from matcher.demo_catalogue import load_demo
    from matcher.indexing import ResourceIndex
    from service.cli._common import ensure_index
    from service.cli.batch import HomeRecommender
    from service.settings import Settings
    from service.startup import served_recommender

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    from matcher.store import Catalogue

    store = Catalogue.open(settings.db_url)
    if store.counts()["resources"] == 0:
        load_demo(store)
    encoder = ensure_index(store, settings)[1].encoder
    rec = served_recommender(ResourceIndex.load(store, encoder, settings.index_dir), encoder, settings)
    register = _register(store, args.n, args.seed)
    day = date.today()
    fp = Fingerprint(input_sha256=f"synthetic-n{args.n}-seed{args.seed}", index_version=rec.index.version,
                     model_version=rec.model_version, encoder_id=encoder.model_id, k=args.k, on=day.isoformat(),
                     shard_size=args.shard_size, format="parquet")
    outs = home / "bench-batch"
    local_cores = min(torch.get_num_threads(), os.cpu_count() or 1)

    t0, c0 = time.perf_counter(), time.process_time()
    local = run_sharded(register, outs / "local", fp, local_executor(rec, k=args.k, today=day, fmt="parquet"),
                        overwrite=True)
    local_s, local_cpu = time.perf_counter() - t0, time.process_time() - c0

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    init_s = time.perf_counter() - t0
    try:
        factory = HomeRecommender(settings, rec.index.version, rec.model_version)
        t0 = time.perf_counter()
        on_ray = run_sharded(register, outs / "ray", fp, ray_executor(factory, k=args.k, today=day, fmt="parquet",
                                                                      workers=args.workers), overwrite=True)
        ray_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    identical, differing = _same(outs / "local", outs / "ray")
    local_pc = local.rows / local_s / local_cores
    ray_pc = on_ray.rows / ray_s / args.workers
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model": encoder.model_id,
        "initiatives": args.n, "k": args.k, "shard_size": args.shard_size, "shards": local.shards,
        "rows": local.rows, "resources": len(rec.index.resources), "cpus": os.cpu_count(),
        "local_seconds": round(local_s, 2), "local_rows_per_s": round(local.rows / local_s, 1),
        "local_initiatives_per_s": round(args.n / local_s, 2), "local_cores": local_cores,
        "local_cpu_use": round(local_cpu / local_s, 2), "local_rows_per_s_per_core": round(local_pc, 1),
        "ray_workers": args.workers, "ray_init_seconds": round(init_s, 2), "ray_seconds": round(ray_s, 2),
        "ray_rows_per_s": round(on_ray.rows / ray_s, 1), "ray_initiatives_per_s": round(args.n / ray_s, 2),
        "ray_rows_per_s_per_core": round(ray_pc, 1), "ray_over_local_per_core": round(ray_pc / local_pc, 3),
        "ray_over_local": round(local_s / ray_s, 3), "outputs_identical": identical, "shards_differing": differing,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
