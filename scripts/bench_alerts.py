"""Benchmark of alert detection and digest building: 10,000 subscriptions × 100 new resources.

``python scripts/bench_alerts.py`` builds, in a temporary home, the demo catalogue (159 resources, its
335 initiatives and 223 past decisions, so history features are on) plus 7,000 initiatives made from
the demo's (same texts, another commune or département each) and 10,000 subscriptions: 7,000 follow an
initiative, 3,000 are saved searches (a demo text, a département, sometimes one kind of resource).
It then adds 100 new resources (copies of demo ones with a new id, a 2027 session and a coverage drawn
as 20 % national, 40 % a région, 40 % a département) and times, through the code ``maillage alerts run``
uses:

- **detection** (:func:`service.alerts.detection.detect`): the hard-criteria prefilter, then one
  ``Recommender.recommend`` per affected subscription, in ``--workers`` forked processes (2: the
  machine's cores);
- **digest build** (:func:`service.alerts.runner.compose`): every digest rendered (text + HTML) and
  written to the outbox with its items.

The **baseline** is measured in the same run: the per-subscription cost of re-matching with no
prefilter, in one process, on ``--baseline-sample`` subscriptions, times 10,000. Memory is the peak
resident set of this process and of its workers. Delivery (SMTP) is not timed: it is the mail server's
speed. The load average of the machine is printed at the start and the end (it is shared with other
jobs). Writes ``bench/alerts.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexes import load_encoder  # noqa: E402
from matcher.demo_catalogue import load_demo  # noqa: E402
from matcher.indexing import ResourceIndex  # noqa: E402
from matcher.recommender import Recommender  # noqa: E402
from matcher.schemas import Initiative, MatchQuery, Resource  # noqa: E402
from matcher.store import Catalogue, sqlite_url  # noqa: E402
from service.alerts import AlertStore, Links, Threshold, compose, detect  # noqa: E402
from service.alerts.subscribe import new_subscription_id  # noqa: E402
from service.alerts.subscriptions import Subscription  # noqa: E402

TODAY = date(2026, 12, 2)


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished workers (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(children, 1)


def _initiatives(demo: list[Initiative], n: int, rng: random.Random) -> list[Initiative]:
    places = sorted({i.territory for i in demo if i.territory != "FR"})
    return [demo[k % len(demo)].model_copy(update={
        "id": f"bench-ini-{k:05d}", "territory": rng.choice(places), "source": "bench", "contact_email": None})
        for k in range(n)]


def _subscriptions(initiatives: list[Initiative], demo: list[Initiative], n_search: int,
                   rng: random.Random) -> list[Subscription]:
    subs = [Subscription(id=new_subscription_id(), initiative_id=i.id, email=f"equipe{k}@example.fr",
                         frequency=rng.choice(["immediate", "weekly", "monthly"]), label=i.title[:200])
            for k, i in enumerate(initiatives)]
    deps = sorted({i.territory[:2] for i in demo if i.territory[:2].isdigit() and i.territory[:2] != "97"})
    kinds = [[], [], ["appel_a_projets"], ["financement"], ["accompagnement"]]
    for k in range(n_search):
        src = demo[k % len(demo)]
        q = MatchQuery(text=src.text()[:500], territory=rng.choice(deps), kinds=rng.choice(kinds))
        subs.append(Subscription(id=new_subscription_id(), query=q, email=f"veille{k}@example.fr",
                                 frequency=rng.choice(["immediate", "weekly", "monthly"]), label=src.title[:200]))
    return subs


def _new_resources(demo: list[Resource], n: int, rng: random.Random) -> list[Resource]:
    regions, deps = ["R11", "R84", "R93", "R32", "R53", "R76"], ["93", "75", "69", "13", "48", "33", "59", "35"]
    out = []
    for k in range(n):
        src = rng.choice(demo)
        draw = rng.random()
        coverage = ["FR"] if draw < 0.2 else [rng.choice(regions)] if draw < 0.6 else [rng.choice(deps)]
        out.append(src.model_copy(update={"id": f"bench-res-{k:03d}", "title": f"{src.title} — session 2027",
                                          "coverage": coverage, "opens_at": None, "closes_at": date(2027, 6, 30),
                                          "active": True, "capacity": None}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subscriptions", type=int, default=10_000)
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="hashing:256", help="encoder spec (the tests' hashing encoder by default)")
    ap.add_argument("--baseline-sample", type=int, default=300)
    ap.add_argument("--warm", action="store_true",
                    help="encode the subscriptions' texts before timing (in service they are encoded when the "
                         "initiative or the search is saved): the timed detection then reads them from the cache")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "alerts.json")
    args = ap.parse_args()
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} "
          f"(the machine is shared with other jobs)")
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="maillage-bench-alerts-"))
    store = Catalogue.open(sqlite_url(home / "maillage.db"))
    load_demo(store)
    demo_inis = store.initiatives()
    n_follow = int(args.subscriptions * 0.7)
    store.upsert_initiatives(_initiatives(demo_inis, n_follow, rng))
    subs = _subscriptions(store.initiatives(source="bench"), demo_inis, args.subscriptions - n_follow, rng)
    alerts = AlertStore(store.engine)
    with store.engine.begin() as conn:
        from matcher import tables

        conn.execute(tables.alert_subscriptions.insert(), [alerts._row(s) for s in subs])
    encoder = load_encoder(args.model, models_dir=home / "models", cache_path=home / "cache" / "embeddings.sqlite")
    new = _new_resources(store.resources(), args.resources, rng)
    store.upsert_resources(new)
    t = time.perf_counter()
    index = ResourceIndex.build(store, encoder, home / "indexes")
    rec = Recommender(index, encoder)
    index_s = time.perf_counter() - t
    print(f"setup: {len(subs)} subscriptions, {len(index.resources)} resources indexed in {index_s:.1f} s")

    warm_s = 0.0
    if args.warm:
        t = time.perf_counter()
        texts = [s.query.text if s.query is not None else MatchQuery.from_initiative(
            store.get_initiative(s.initiative_id or "")).text for s in subs]
        unique = list(dict.fromkeys(texts))
        for start in range(0, len(unique), 256):
            encoder.encode_queries(unique[start:start + 256])
        warm_s = time.perf_counter() - t
        print(f"warm-up (not timed below): {len(unique)} distinct texts encoded in {warm_s:.1f} s")
    t, cpu = time.perf_counter(), _cpu_s()
    found = detect(rec, store, alerts, today=TODAY, threshold=Threshold(), changed=new, workers=args.workers)
    detect_s = time.perf_counter() - t
    t = time.perf_counter()
    queued = compose(alerts, Links(b"b" * 40, "https://maillage.example.gouv.fr"),
                     now=datetime(2026, 12, 2, 9, tzinfo=UTC))
    digest_s = time.perf_counter() - t
    total_s = detect_s + digest_s
    cpu_s = _cpu_s() - cpu
    print(f"detection: {found.rematched} of {found.subscriptions} subscriptions re-matched, {found.new_items} new "
          f"alerts, {detect_s:.1f} s ({args.workers} workers)")
    print(f"digest build: {queued} messages rendered and queued, {digest_s:.1f} s")
    print(f"detection + digest build: {total_s:.1f} s (target <= 60 s); {cpu_s:.1f} CPU seconds, i.e. "
          f"{cpu_s / args.workers:.1f} s on {args.workers} cores to themselves")

    sample = rng.sample(subs, min(args.baseline_sample, len(subs)))
    queries = {s.id: s.query or MatchQuery.from_initiative(store.get_initiative(s.initiative_id or ""))
               for s in sample}
    t, cpu = time.perf_counter(), _cpu_s()
    for q in queries.values():
        rec.recommend(q, 10, today=TODAY)
    per_sub = (time.perf_counter() - t) / len(queries)
    per_sub_cpu = (_cpu_s() - cpu) / len(queries)
    baseline_s = per_sub * len(subs)
    print(f"baseline (every subscription re-matched, no prefilter, 1 process): {per_sub * 1000:.1f} ms each, "
          f"{baseline_s:.0f} s for {len(subs)} (estimated from {len(queries)}); "
          f"{per_sub_cpu * 1000:.1f} ms of CPU each")
    own, children = _peak_mb()
    load_end = os.getloadavg()
    print(f"peak memory: {own:.0f} MB (this process), {children:.0f} MB (largest worker)")
    print(f"load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    result = {"subscriptions": len(subs), "new_resources": len(new), "catalogue_resources": len(index.resources),
              "model": args.model, "workers": args.workers,
              "warm": args.warm, "warm_up_s": round(warm_s, 1), "rematched": found.rematched,
              "new_alerts": found.new_items, "messages_queued": queued, "detection_s": round(detect_s, 2),
              "digest_build_s": round(digest_s, 2), "total_s": round(total_s, 2), "target_s": 60,
              "cpu_s": round(cpu_s, 1), "idle_cores_estimate_s": round(cpu_s / args.workers, 1),
              "baseline_cpu_per_subscription_ms": round(per_sub_cpu * 1000, 2),
              "baseline_per_subscription_ms": round(per_sub * 1000, 2), "baseline_estimated_s": round(baseline_s, 1),
              "peak_rss_mb": own, "peak_rss_worker_mb": children,
              "load_average_start": [round(x, 2) for x in load_start],
              "load_average_end": [round(x, 2) for x in load_end], "cores": os.cpu_count(),
              "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
