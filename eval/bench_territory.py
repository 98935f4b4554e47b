"""Commune autocompletion benchmark: ``territory.search_communes`` against a linear scan measured in
the same run (``python -m eval.bench_territory``; ``--quick`` for a smoke run).

Queries are a seeded sample of what people type into the widget: prefixes (1–10 characters) of
commune names drawn at random, the same with accents stripped and hyphens as spaces, postcode
prefixes (2–5 digits), and the broadest prefixes (``s``, ``saint``, ``la``, ``le``, ``1``, ``75``…),
which match thousands of communes and are the worst case. Each query asks for 8 hits, as the widget
does.

Figures (``K.ratio`` is ours / baseline, below 1 is faster):

- ``search.p50_ms`` / ``search.p99_ms``: one ``search_communes(q, 8)`` call (bisect over sorted arrays,
  ``heapq`` over the matching slice). Baseline: a scan of every commune's pre-folded name (or
  postcodes) with ``startswith``, then a sort of the hits by the same order, the way the partial list
  was searched; both return the same ``Territory`` objects (the test suite checks the results agree).
- ``load.data_s``, ``load.index_s``: first use of the reference tables and of the search index, caches
  cleared (no baseline).

Latency figures are the median over ``repeats`` passes of per-pass percentiles, ours and the baseline
alternating query by query. Writes ``bench/territory_search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from eval.bench_measure import interleaved, with_baseline
from matcher import _territory_data as ref
from matcher import territory

__all__ = ["linear_search", "main", "queries", "run"]

LIMIT = 8
BROAD = ["s", "saint", "sainte", "la", "le", "b", "1", "75", "13", "97", "st ", "saint m"]


def queries(n: int, seed: int = 15) -> list[str]:
    """``n`` seeded queries (the broad ones always included), a third of them postcode prefixes."""
    rng = random.Random(seed)
    communes = list(ref.data().communes.values())
    out = list(BROAD)
    while len(out) < n:
        c = rng.choice(communes)
        kind = rng.randrange(3)
        if kind == 0 and c.postcodes:
            out.append(c.postcodes[0][: rng.randint(2, 5)])
        else:
            name = c.name if kind == 1 else ref.fold(c.name)
            out.append(name[: rng.randint(1, 10)])
    return out[:n]


def linear_search(rows: list[tuple[str, int, str, tuple[str, ...]]], prefix: str, limit: int) -> list[str]:
    """The baseline: scan ``rows`` of ``(folded name, population, code, postcodes)``, sort the hits."""
    query = prefix.strip()
    if query.isdigit():
        hits = [r for r in rows if any(p.startswith(query) for p in r[3])]
        hits.sort(key=lambda r: (-r[1], r[0], r[2]))
    else:
        q = ref.expand(ref.fold(query), last=False)
        hits = [r for r in rows if r[0].startswith(q)]
        hits.sort(key=lambda r: (r[0] != q, -r[1], r[0], r[2]))
    return [r[2] for r in hits[:limit]]


def _load_times() -> dict[str, float]:
    ref.data.cache_clear()
    ref.index.cache_clear()
    start = time.perf_counter()
    ref.data()
    loaded = time.perf_counter()
    ref.index()
    return {"load.data_s": loaded - start, "load.index_s": time.perf_counter() - loaded}


def run(n_queries: int, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = dict(_load_times())
    rows = [(ref.fold(c.name), c.population, c.code, c.postcodes) for c in ref.data().communes.values()]
    qs = queries(n_queries)
    for q in qs:  # same answers, so that the two sides do the same work
        if [t.code for t in territory.search_communes(q, LIMIT)] != linear_search(rows, q, LIMIT):
            raise RuntimeError(f"search_communes and the linear scan disagree on {q!r}")
    lat = interleaved(lambda i: territory.search_communes(qs[i], LIMIT),
                      lambda i: [territory.parse_territory(c) for c in linear_search(rows, qs[i], LIMIT)],
                      len(qs), repeats)
    with_baseline(figures, "search.p50_ms", lat["p50"], lat["base_p50"])
    with_baseline(figures, "search.p99_ms", lat["p99"], lat["base_p99"])
    figures["meta"] = {"when": datetime.now().strftime("%Y-%m-%d %H:%M"), "queries": len(qs), "limit": LIMIT,
                       "repeats": repeats, "communes": len(rows), "cpus": os.cpu_count(),
                       "loadavg_1min": round(os.getloadavg()[0], 2), "source": ref.data().source["version"]}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="40 queries, one pass")
    parser.add_argument("--out", type=Path, default=Path("bench") / "territory_search.json")
    args = parser.parse_args(argv)
    n, repeats = (40, 1) if args.quick else (args.queries, args.repeats)
    figures = run(n, repeats)
    for key, value in figures.items():
        if key != "meta":
            print(f"{key:28s} {value:10.4f}")
    print(json.dumps(figures["meta"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
