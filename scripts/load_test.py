"""Load test: free-text match under a constant arrival rate on loopback, against 10k resources.

``python scripts/load_test.py`` gives the figures in the README (about 8 minutes on 2 cores);
``python scripts/load_test.py --quick`` is a smoke run (hashing encoder, 1k resources, seconds).

1. **Catalogue**: the demo catalogue plus synthetic resources up to ``--size``, made by the generator
   of ``eval/bench.py``: each is a demo resource's vector (from the real model) plus seeded noise, with
   its source's fields and text and a lot number in its title. Its vector goes into the embedding
   cache under its text, so the server indexes 10k resources without encoding them one by one.
2. **Server**: ``maillage serve`` (one worker, the default) on 127.0.0.1, rate limits set out of the
   way (``MAILLAGE_RATE_PER_KEY`` / ``MAILLAGE_RATE_PER_IP``) so that no 429 is expected, and so is
   one key's share of admission control (``MAILLAGE_ADMISSION_KEY_UNITS`` set to all the units): the
   test sends everything with one key, where a real burst comes through many portals' keys.
3. **Search**: constant offered rates, doubling from ``--start-rate`` (halving when even that is too
   much) and then bisecting, each for ``--step-seconds`` or long enough for 40 requests (at most three
   times as long): the *sustained rate* is the highest one served with p99 ≤ ``--p99-ms``, no error, and
   at least 90% of the offered rate completed.
4. **Runs** of ``--run-seconds`` (longer at low rates, for some 40 requests) at 1× and 2× the
   sustained rate (the lowest rate tried when none meets the target); then 1× again while
   ``POST /v1/index/rebuild`` builds a new index and swaps it in: the version must change, and no
   request may fail.

Queries are unique texts (a demo initiative's title and description plus a request number), so each
one is encoded by the model, as a citizen's own text would be. The client (``--client``) is an open
loop with Poisson arrivals (``scripts/load_client.py``, its own process) or locust's users at a
constant throughput each (``scripts/load_locustfile.py``, the client of earlier figures). Latencies are
measured by the client from its first byte out to the last byte in; percentiles leave out the first
seconds of each step (locust's users being spawned). Figures go to ``--out`` (``bench/load.json``)
with the machine's load average, and a plot of latency against offered rate to ``--plot``. The exit
status is 1 when the 1× run has errors or the rebuild run fails (no swap, or any error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server, free_port  # a sibling module (scripts/ is not a package)

LOCUSTFILE = Path(__file__).resolve().parent / "load_locustfile.py"
CLIENT = Path(__file__).resolve().parent / "load_client.py"
USER_RATE = 0.5  # requests/s per locust user: the offered rate holds while a request takes up to 2 s
SOURCE = "load-test"


# --- the catalogue --------------------------------------------------------------------------------


def _typed(title: str, description: str) -> str:
    """What a citizen types in the widget: a title and the first sentence (~30 tokens)."""
    return f"{title}. {description.split('. ')[0].rstrip('.')}"


def prepare_home(home: Path, model: str, size: int, seed: int, log: Callable[[str], None],
                 texts: str = "initiative") -> dict[str, Any]:
    """A fresh catalogue under ``home`` (models kept): the demo plus synthetic resources up to ``size``,
    their vectors in the embedding cache; also ``home/queries.json`` and an admin key."""
    from eval.bench import noise_norm_for, synthetic_catalogue
    from indexes import load_encoder
    from indexes.cache import EmbeddingCache, text_key
    from matcher.demo_catalogue import load_demo
    from matcher.indexing import resource_document
    from matcher.schemas import Resource
    from matcher.store import Catalogue, sqlite_url
    from service.keys import KeyStore

    for name in ("maillage.db", "maillage.db-wal", "maillage.db-shm", "serve.log", "queries.json"):
        (home / name).unlink(missing_ok=True)
    shutil.rmtree(home / "indexes", ignore_errors=True)  # the embedding cache stays: it only saves time
    store = Catalogue.open(sqlite_url(home / "maillage.db"))
    load_demo(store)
    providers = {p.id: p for p in store.providers()}
    demo = store.resources()
    if size < len(demo):
        raise SystemExit(f"--size must be at least the demo's {len(demo)} resources, got {size}")
    encoder = load_encoder(model, models_dir=home / "models" / "encoders")
    docs = [resource_document(r, providers.get(r.provider_id)) for r in demo]
    base = encoder.encode_documents(docs)
    source_of = {doc: i for i, doc in enumerate(docs)}
    ids, vectors, texts = synthetic_catalogue(base, docs, size - len(demo), np.random.default_rng(seed),
                                              noise_norm_for(base))
    synthetic = []
    for n, (rid, text) in enumerate(zip(ids, texts, strict=True), start=1):
        src = demo[source_of[text]]
        synthetic.append(Resource.model_validate({**src.model_dump(), "id": rid, "title": f"{src.title} — lot {n}",
                                                  "source": SOURCE}))
    for start in range(0, len(synthetic), 2000):
        store.upsert_resources(synthetic[start : start + 2000])
    cache = EmbeddingCache(home / "cache" / "embeddings.sqlite")
    cache.put(encoder.model_id, "document", [text_key(d) for d in docs], base)
    cache.put(encoder.model_id, "document",
              [text_key(resource_document(r, providers.get(r.provider_id))) for r in synthetic], vectors)
    queries = [{"text": f"{i.title}. {i.description}" if texts == "initiative" else _typed(i.title, i.description),
                "territory": i.territory} for i in store.initiatives()]
    (home / "queries.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    token = KeyStore(store).create("load test", "admin")[1]
    live = store.counts()["resources"]
    store.close()
    log(f"catalogue: {live} live resources ({len(demo)} demo + {len(synthetic)} synthetic), "
        f"{len(queries)} query texts, encoder {encoder.model_id}")
    return {"token": token, "resources": live, "encoder": encoder.model_id}


# --- one step of load -------------------------------------------------------------------------------


def run_client(base: str, token: str, home: Path, rate: float, seconds: float, *,
               during: Callable[[subprocess.Popen[bytes]], None] | None = None,
               client: str = "poisson") -> list[list[Any]]:
    """Offer ``rate`` requests/s of free-text match for ``seconds`` (or, with ``during``, until it returns
    and stops the client); returns the samples ``[start, ms, status, error]``. ``client``: ``poisson``
    (``scripts/load_client.py``, open loop, Poisson arrivals) or ``locust`` (its users at a constant
    throughput each, as before)."""
    users = max(1, math.ceil(rate / USER_RATE))
    samples_path = home / "samples.json"
    started = home / "samples.json.started"
    samples_path.unlink(missing_ok=True)
    started.unlink(missing_ok=True)
    limit = seconds if during is None else 3600
    env = {**os.environ, "MAILLAGE_LOAD_QUERIES": str(home / "queries.json"), "MAILLAGE_LOAD_TOKEN": token,
           "MAILLAGE_LOAD_USER_RATE": repr(rate / users), "MAILLAGE_LOAD_SAMPLES": str(samples_path),
           "MAILLAGE_LOAD_NONCE": secrets.token_hex(4), "MAILLAGE_LOAD_BASE": base,
           "MAILLAGE_LOAD_RATE": repr(rate), "MAILLAGE_LOAD_SECONDS": repr(limit),
           "MAILLAGE_LOAD_SEED": str(secrets.randbits(32))}
    if client == "locust":
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base,
               "-u", str(users), "-r", f"{max(rate, 1.0):.2f}", "-t", f"{math.ceil(limit)}s", "--stop-timeout", "30",
               "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    else:
        cmd = [sys.executable, str(CLIENT)]
    with (home / "locust.log").open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            if during is not None:
                for _ in range(600):  # the client takes a moment to import and start
                    if started.exists() or proc.poll() is not None:
                        break
                    time.sleep(0.1)
                during(proc)
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=limit + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    if not samples_path.is_file():
        raise RuntimeError(f"the load client wrote no samples (exit {proc.returncode}); see {home / 'locust.log'}")
    return list(json.loads(samples_path.read_text(encoding="utf-8")))


def summarise(samples: list[list[Any]], offered: float, ramp_s: float = 0.0, seconds: float | None = None, *,
              window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Requests/s served, latency percentiles (ms) and errors by status of the requests started in
    ``window`` (epoch s; default: from ``ramp_s`` after the first request to ``seconds`` after it).
    A 429 or 503 with ``Retry-After`` from admission control or a rate limit (the service shedding
    load; ``scripts/load_client.py`` tells them) is an answer, not an error: counted in ``shed``, left
    out of the latencies. Any other 503 (an index not ready during a swap) is an error."""
    if samples and window is None:
        first = min(s[0] for s in samples)
        last = max(s[0] for s in samples)  # locust's timer starts before its first request: end at the last one
        window = (first + ramp_s, min(first + seconds, last) if seconds else last)
    kept = [s for s in samples if window is not None and window[0] <= s[0] <= window[1]]
    if not kept or window is None:
        return {"offered_rps": round(offered, 2), "requests": 0, "rps": 0.0, "errors": {}, "shed": 0}
    span = window[1] - window[0]
    shed = sum(1 for s in kept if s[3] == "shed")
    ms = np.array([s[1] for s in kept if s[3] != "shed"] or [0.0], dtype=float)
    errors = Counter(str(s[2]) if s[2] else (s[3].split(":")[0] or "no answer")
                     for s in kept if s[2] != 200 and s[3] != "shed")
    return {"offered_rps": round(offered, 2), "requests": len(kept), "rps": round(len(kept) / max(span, 1e-3), 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1),
            "errors": dict(errors), "shed": shed, "loadavg_1min": round(os.getloadavg()[0], 2)}


def sustained(step: dict[str, Any], p99_ms: float) -> bool:
    return (step["requests"] > 0 and step["p99_ms"] <= p99_ms and not step["errors"] and not step.get("shed")
            and step["rps"] >= 0.9 * step["offered_rps"])


def search(measure: Callable[[float], dict[str, Any]], start: float, p99_ms: float, *, doublings: int,
           bisections: int, min_rate: float, log: Callable[[str], None]) -> tuple[float | None, list[dict[str, Any]]]:
    """The highest offered rate (requests/s) that is sustained; ``None`` if not even ``min_rate``."""
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        s = measure(rate)
        s["sustained"] = sustained(s, p99_ms)
        steps.append(s)
        log(f"  offered {rate:6.2f}/s: served {s['rps']:6.2f}/s, p50 {s.get('p50_ms', 0):6.0f} ms, "
            f"p99 {s.get('p99_ms', 0):6.0f} ms, errors {s['errors'] or 0}, shed {s.get('shed', 0)} -> "
            f"{'ok' if s['sustained'] else 'over'}")
        return bool(s["sustained"])

    good: float | None = None
    bad: float | None = None
    rate = start
    for _ in range(doublings):
        if not step(rate):
            bad = rate
            break
        good, rate = rate, rate * 2
    if good is None:  # even the start rate is too much: halve down to the floor
        rate = start / 2
        while rate >= min_rate and good is None:
            if step(rate):
                good = rate
            else:
                bad, rate = rate, rate / 2
    if good is not None and bad is not None:
        for _ in range(bisections):
            mid = round((good + bad) / 2, 1)
            if mid in (good, bad):
                break
            if step(mid):
                good = mid
            else:
                bad = mid
    return good, steps


# --- the run -------------------------------------------------------------------------------------------


def plot(result: dict[str, Any], target: float, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    steps = [s for s in result["search"] if s["requests"]]
    runs = {k: v for k, v in result["runs"].items() if v.get("requests")}
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
        pts = sorted((s["offered_rps"], s[key]) for s in steps)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=f"search, {key[:3]}", alpha=0.8)
    for name, run in runs.items():
        ax.scatter([run["offered_rps"]] * 2, [run["p50_ms"], run["p99_ms"]], marker="x", s=60, zorder=3,
                   label=f"{name} run (p50, p99)")
    ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.text(ax.get_xlim()[0], target, f" p99 target {target:g} ms", va="bottom", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
                   if t <= 2 * max([target] + [s["p99_ms"] for s in steps] + [r["p99_ms"] for r in runs.values()])])
    ax.set_xlabel("offered rate (requests/s)")
    ax.set_ylabel("latency (ms)")
    meta = result["meta"]
    ax.set_title(f"POST /v1/match, {meta['resources']:,} resources, {meta['encoder']}, {meta['cpus']} CPUs",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    t0 = time.monotonic()
    tmp = None
    if args.home is None and args.quick:
        tmp = tempfile.TemporaryDirectory(prefix="maillage-load-")
        home = Path(tmp.name)
    else:
        home = Path(args.home or "/tmp/maillage-load-home")
    home.mkdir(parents=True, exist_ok=True)
    log(f"load test: model {args.model}, {args.size} resources, home {home}, {os.cpu_count()} CPUs, "
        f"load average {load_at_start}")
    setup = prepare_home(home, args.model, args.size, args.seed, log, args.texts)
    from eval.bench_peak import peak

    limit = peak(0.3 if args.quick else 1.0)  # the machine's matrix-multiply peak, measured now
    log(f"matrix-multiply peak: {limit}")
    token = setup["token"]
    env = {**os.environ, "MAILLAGE_HOME": str(home), "MAILLAGE_MODEL": args.model,
           "MAILLAGE_RATE_PER_KEY": "10000000", "MAILLAGE_RATE_PER_IP": "10000000",
           "MAILLAGE_ADMISSION_KEY_UNITS": os.environ.get("MAILLAGE_ADMISSION_UNITS", "16"),
           "MAILLAGE_DEMO_WHEN_EMPTY": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("MAILLAGE_DATABASE_URL", None)
    server = Server(home, args.port or free_port(), env)
    ramp = min(2.0, args.step_seconds / 5)
    result: dict[str, Any] = {"search": [], "runs": {}}
    failures: list[str] = []
    try:
        server.start()
        ready = server.wait_ready(args.ready_timeout)
        setup_s = time.monotonic() - t0
        log(f"server ready in {ready:.1f} s (setup {setup_s:.0f} s in all)")
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            queries = json.loads((home / "queries.json").read_text(encoding="utf-8"))
            for i, q in enumerate(queries[: args.warmup]):  # the model's first calls are slow
                client.post("/v1/match", json={"text": f"{q['text']} (échauffement {i})",
                                               "territory": q["territory"]}).raise_for_status()
            load_before = [round(x, 2) for x in os.getloadavg()]
            log(f"search for the rate sustained with p99 <= {args.p99_ms:g} ms ({args.step_seconds:g} s steps), "
                f"load average {load_before}")

            def measure(rate: float, seconds: float | None = None) -> dict[str, Any]:
                if seconds is None:  # a search step: long enough for some 40 requests, within limits
                    seconds = max(args.step_seconds, min(3 * args.step_seconds, 40 / rate))
                return summarise(run_client(server.base, token, home, rate, seconds, client=args.client), rate, ramp,
                                 seconds)

            rate, result["search"] = search(measure, args.start_rate, args.p99_ms, doublings=args.doublings,
                                            bisections=args.bisections, min_rate=args.min_rate, log=log)
            if rate is None:
                result["note"] = (f"no offered rate down to {args.min_rate:g}/s had p99 <= {args.p99_ms:g} ms: "
                                  f"the 1x runs are at {args.min_rate:g}/s")
                log(result["note"])
            base_rate = rate or args.min_rate

            def run_length(rate: float) -> float:  # some 40 requests even at a low rate, within limits
                return max(args.run_seconds, min(2 * args.run_seconds, 40 / rate))

            for name, factor in (("1x", 1), ("2x", 2)):
                result["runs"][name] = measure(base_rate * factor, run_length(base_rate * factor))
                log(f"{name}: " + _line(result["runs"][name]))
            if result["runs"]["1x"]["errors"]:
                failures.append(f"errors at the sustained rate: {result['runs']['1x']['errors']}")

            rebuild: dict[str, Any] = {}

            seconds = run_length(base_rate)

            def rebuild_during(proc: subprocess.Popen[bytes]) -> None:
                start = time.monotonic()
                time.sleep(min(5.0, seconds / 4))
                before = client.get("/v1/index").json()
                r = client.post("/v1/index/rebuild")
                rebuild.update(version_before=before["version"], status=r.status_code, asked_at=time.time())
                asked = time.monotonic()
                while time.monotonic() - asked < args.rebuild_timeout and proc.poll() is None:
                    now = client.get("/v1/index").json()
                    if not now["rebuilding"] and now["version"] != before["version"]:
                        rebuild.update(version_after=now["version"], swap_s=round(time.monotonic() - asked, 1),
                                       swapped_at=time.time(), error=now["last_rebuild_error"],
                                       resources=now["resources"])
                        break
                    if not now["rebuilding"] and now["last_rebuild_error"]:
                        rebuild.update(error=now["last_rebuild_error"])
                        break
                    time.sleep(0.5)
                # keep the load on a little after the swap, and as long as the 1x run in all
                time.sleep(max(min(5.0, seconds / 4), seconds - (time.monotonic() - start)))

            samples = run_client(server.base, token, home, base_rate, seconds, during=rebuild_during,
                                 client=args.client)
            if "swapped_at" in rebuild:  # the requests started while the new index was being built
                rebuild["while_building"] = summarise(samples, base_rate,
                                                      window=(rebuild["asked_at"], rebuild["swapped_at"]))
            result["runs"]["1x_rebuild"] = {**summarise(samples, base_rate, ramp), "rebuild": rebuild}
            log("1x during rebuild: " + _line(result["runs"]["1x_rebuild"]) + f"; rebuild {rebuild}")
            if rebuild.get("status") != 202 or "version_after" not in rebuild or rebuild.get("error"):
                failures.append(f"the rebuild did not swap in a new index: {rebuild}")
            if result["runs"]["1x_rebuild"]["errors"]:
                failures.append(f"errors during the rebuild: {result['runs']['1x_rebuild']['errors']}")
    finally:
        server.kill(signal.SIGTERM)
    result["sustained_rps"] = rate
    result["limit"] = {**limit, **_fraction(home, rate)}
    if "gflops_at_sustained" in result["limit"]:
        result["limit"]["fraction_of_peak"] = round(result["limit"]["gflops_at_sustained"] / limit["peak.gflops"], 4)
        log(f"encoder at the sustained rate: {result['limit']}")
    result["meta"] = {
        "model": args.model, "encoder": setup["encoder"], "resources": setup["resources"], "cpus": os.cpu_count(),
        "server": "maillage serve, 1 worker", "p99_target_ms": args.p99_ms, "step_seconds": args.step_seconds,
        "run_seconds": args.run_seconds, "client": args.client, "locust_user_rate": USER_RATE, "seed": args.seed,
        "quick": args.quick,
        "loadavg_at_start": load_at_start, "loadavg_before_load": load_before,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()], "server_ready_s": round(ready, 1),
        "total_s": round(time.monotonic() - t0), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python scripts/load_test.py", *args.argv]), "texts": args.texts,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps({"meta": result.pop("meta"), **result}, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    os.replace(tmp_out, out)
    if args.plot != "none":
        plot(json.loads(out.read_text(encoding="utf-8")), args.p99_ms, Path(args.plot))
    log(f"sustained rate {rate}/s; figures in {out} ({time.monotonic() - t0:.0f} s in all)")
    for f in failures:
        log(f"FAILED: {f}")
    if tmp is not None:
        tmp.cleanup()
    return 0 if not failures else 1


def _fraction(home: Path, rate: float | None) -> dict[str, Any]:
    """The encoder's achieved GFLOP/s at the sustained rate, from the texts' token counts and the model's
    shape (eval/bench_peak.py); empty for a model without a BERT config (the hashing encoder)."""
    from eval.bench_peak import encoder_flops

    folder = home / "models" / "encoders" / "multilingual-e5-small"
    try:
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except (OSError, ValueError, ImportError):
        return {}
    texts = [q["text"] for q in json.loads((home / "queries.json").read_text(encoding="utf-8"))]
    tokens = [len(e.ids) for e in tok.encode_batch([f"query: {t}" for t in texts])]
    flops = float(np.mean([encoder_flops(config, n) for n in tokens]))
    return {"tokens_per_text": round(float(np.mean(tokens)), 1), "mflops_per_text": round(flops / 1e6, 1),
            "gflops_at_sustained": round((rate or 0.0) * flops / 1e9, 2)}


def _line(s: dict[str, Any]) -> str:
    return (f"offered {s['offered_rps']}/s, served {s['rps']}/s, {s['requests']} requests, p50 {s.get('p50_ms')} ms, "
            f"p99 {s.get('p99_ms')} ms, errors {s['errors'] or 0}, shed {s.get('shed', 0)}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: hashing encoder, 1k resources, 3 s steps (the defaults below change)")
    p.add_argument("--model", help="encoder spec (default multilingual-e5-small; hashing:64 with --quick)")
    p.add_argument("--size", type=int, help="live resources (default 10000; 1000 with --quick)")
    p.add_argument("--home", help="MAILLAGE_HOME (default /tmp/maillage-load-home, where the model stays cached; "
                                  "a temporary folder with --quick); its catalogue and indexes are replaced")
    p.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    p.add_argument("--p99-ms", type=float, default=250.0, help="p99 latency a sustained rate must meet (250)")
    p.add_argument("--start-rate", type=float, help="first offered rate of the search, requests/s (default 2)")
    p.add_argument("--min-rate", type=float, help="lowest rate the search tries (default 0.25)")
    p.add_argument("--doublings", type=int, help="most doubling steps (default 7)")
    p.add_argument("--bisections", type=int, help="bisection steps after the doublings (default 2)")
    p.add_argument("--step-seconds", type=float, help="length of a search step (default 20)")
    p.add_argument("--run-seconds", type=float, help="length of the 1x, 2x and rebuild runs (default 60)")
    p.add_argument("--warmup", type=int, help="sequential requests before measuring (default 20)")
    p.add_argument("--ready-timeout", type=float, default=600.0, help="bound on the server start, s (600)")
    p.add_argument("--rebuild-timeout", type=float, default=300.0, help="bound on the rebuild and swap, s (300)")
    p.add_argument("--texts", choices=("initiative", "typed"), default="initiative",
                   help="query texts: a whole initiative (~140 tokens) or what the widget gets typed (~30)")
    p.add_argument("--client", choices=("poisson", "locust"), default="poisson",
                   help="load client: an open loop with Poisson arrivals (scripts/load_client.py, the default) "
                        "or locust's users at a constant throughput each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="figures (default bench/load.json)")
    p.add_argument("--plot", default=None, help="PNG of latency against offered rate (default bench/load.png; "
                                                "'none' for no plot)")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {"model": "hashing:64" if quick else "multilingual-e5-small", "size": 1000 if quick else 10_000,
                "start_rate": 4.0 if quick else 2.0, "doublings": 1 if quick else 7, "min_rate": 1.0 if quick else 0.25,
                "bisections": 0 if quick else 2, "step_seconds": 3.0 if quick else 20.0,
                "run_seconds": 3.0 if quick else 60.0, "warmup": 3 if quick else 20,
                "out": "bench/load.json", "plot": "bench/load.png"}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.size < 1 or args.start_rate <= 0 or args.step_seconds <= 0 or args.run_seconds <= 0:
        p.error("--size, --start-rate, --step-seconds and --run-seconds must be positive")
    args.argv = argv
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
