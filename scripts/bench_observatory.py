"""Benchmark of the observatory's matching on a catalogue home: seconds per initiative, and the
projected time of ``maillage observatory`` on every initiative of it (the current figures, plus the
month-by-month ones; wall clock, and CPU time of this process, which a loaded machine does not
inflate as much), beside a baseline measured in the same run: the same initiatives matched as
``maillage batch`` matches them (``recommend(ini, 10)``, explained, without the excluded candidates).

    MAILLAGE_HOME=/tmp/rp MAILLAGE_MODEL=hashing:384 python scripts/bench_observatory.py --sample 300 \\
        --out bench/observatory.json

The home must hold an imported catalogue (``maillage import reserve-parlementaire``); its index is
built (or reused) as ``maillage`` would. The sample is every n-th initiative in id order, so two runs
time the same initiatives. Prints the figures and writes them as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexes import load_encoder  # noqa: E402
from matcher.indexing import ResourceIndex  # noqa: E402
from matcher.observatory.timeline import TIMELINE_SAMPLE, change_months, month_ends  # noqa: E402
from matcher.observatory.verdicts import verdicts  # noqa: E402
from matcher.recommender import Recommender  # noqa: E402
from matcher.store import Catalogue, sqlite_url  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=300, help="initiatives timed")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "observatory.json")
    args = ap.parse_args(argv)
    home = Path(os.environ.get("MAILLAGE_HOME", "var"))
    model = os.environ.get("MAILLAGE_MODEL", "multilingual-e5-small")
    store = Catalogue.open(sqlite_url(home / "maillage.db"))
    encoder = load_encoder(model, models_dir=home / "models" / "encoders",
                           cache_path=home / "cache" / "embeddings.sqlite")
    t0 = time.perf_counter()
    index = ResourceIndex.ensure(store, encoder, home / "indexes")
    index_s = time.perf_counter() - t0
    rec = Recommender(index, encoder)
    initiatives = store.initiatives()
    outcomes = store.outcomes()
    step = max(1, len(initiatives) // args.sample)
    sample = initiatives[::step][: args.sample]
    today = date.today()
    verdicts(rec, sample[:5], today=today)  # warm the caches that a long run amortises
    t0 = time.perf_counter()
    for ini in sample:
        rec.recommend(ini, 10, today=today)
    batch_s = (time.perf_counter() - t0) / len(sample)
    t0, c0 = time.perf_counter(), time.process_time()
    verdicts(rec, sample, today=today)
    obs_s = (time.perf_counter() - t0) / len(sample)
    obs_cpu = (time.process_time() - c0) / len(sample)
    first = min(i.created_at.date() for i in initiatives)
    changes = change_months(initiatives, outcomes, index.resources.values())
    cohorts = [sum(i.created_at.date() <= end for i in initiatives) for end in month_ends(first, today)
               if (end.year, end.month) in changes]
    timeline_calls = sum(min(c, TIMELINE_SAMPLE) for c in cohorts)
    figures = {
        "home": str(home), "model": encoder.model_id, "initiatives": len(initiatives),
        "resources": len(index.resources), "sample": len(sample), "index_seconds": round(index_s, 1),
        "batch_seconds_per_initiative": round(batch_s, 4), "observatory_seconds_per_initiative": round(obs_s, 4),
        "observatory_cpu_seconds_per_initiative": round(obs_cpu, 4),
        "observatory_over_batch": round(obs_s / batch_s, 3), "timeline_change_months": len(cohorts),
        "timeline_calls": timeline_calls,
        "projected_observatory_minutes": round(obs_s * (len(initiatives) + timeline_calls) / 60, 1),
        "projected_observatory_cpu_minutes": round(obs_cpu * (len(initiatives) + timeline_calls) / 60, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
