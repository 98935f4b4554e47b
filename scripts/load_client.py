"""Open-loop client of ``scripts/load_test.py``: widget-like free-text matches arriving as a Poisson
process (independent visitors) at a constant mean rate, from one asyncio event loop (httpx).

Each request leaves at its scheduled time whether or not earlier ones have been answered (an open
system: a slow server gets a growing backlog, as it would from real visitors), with a text never
seen before. It runs as its own process so that its CPU is not the load test's, and reads:

- ``MAILLAGE_LOAD_BASE``, ``MAILLAGE_LOAD_TOKEN``, ``MAILLAGE_LOAD_QUERIES`` (JSON list of
  ``{"text", "territory"}``), ``MAILLAGE_LOAD_RATE`` (requests/s), ``MAILLAGE_LOAD_SECONDS``,
  ``MAILLAGE_LOAD_SEED`` and ``MAILLAGE_LOAD_NONCE``;
- ``MAILLAGE_LOAD_SAMPLES``: where the samples ``[start (epoch s), response time (ms), HTTP status
  (0: none), error]`` (error ``shed`` for a 429 or 503 with ``Retry-After`` from admission control or
  a rate limit: the service shedding load, an answer) are written as JSON when it ends (after
  ``SECONDS``, or at SIGTERM, once the requests in flight are answered);
  ``MAILLAGE_LOAD_SAMPLES.started`` appears when it starts sending.

Why not locust: on the same server, machine and rate, locust's users measured p50 131 ms at 4
requests/s where this client measured 41 ms (212 against 46 ms at 12/s), on two cores that the
client shares with the server (README, "Load").
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx

SHED_CODES = frozenset({"key_busy", "rate_limited", "overloaded"})
"""Error codes of admission control and rate limits: the service shedding load on purpose. Any other
429 or 503 (an index not ready, a store unavailable) is an error."""


def _shed(r: httpx.Response) -> str:
    """``"shed"`` for a 429 or 503 with ``Retry-After`` whose error code is one of :data:`SHED_CODES`."""
    if r.status_code not in (429, 503) or "retry-after" not in r.headers:
        return ""
    try:
        code = r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""
    return "shed" if code in SHED_CODES else ""


async def _run() -> list[list[Any]]:
    env = os.environ
    queries: list[dict[str, str]] = json.loads(Path(env["MAILLAGE_LOAD_QUERIES"]).read_text(encoding="utf-8"))
    rate, seconds = float(env["MAILLAGE_LOAD_RATE"]), float(env["MAILLAGE_LOAD_SECONDS"])
    rng, nonce = random.Random(int(env.get("MAILLAGE_LOAD_SEED", "0"))), env.get("MAILLAGE_LOAD_NONCE", "")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    samples: list[list[Any]] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=env["MAILLAGE_LOAD_BASE"], timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {env['MAILLAGE_LOAD_TOKEN']}"}) as client:

        async def one(n: int) -> None:
            q = rng.choice(queries)
            body = {"text": f"{q['text']} (demande n° {nonce}-{n})", "territory": q["territory"], "k": 10}
            start, t0 = time.time(), time.perf_counter()
            try:
                r = await client.post("/v1/match", json=body)
                samples.append([start, 1000 * (time.perf_counter() - t0), r.status_code, _shed(r)])
            except Exception as exc:  # any failure is a sample, never the loss of all of them
                samples.append([start, 1000 * (time.perf_counter() - t0), 0, f"{type(exc).__name__}: {exc}"[:200]])

        Path(env["MAILLAGE_LOAD_SAMPLES"] + ".started").touch()
        tasks: list[asyncio.Task[None]] = []
        t0, at, n = time.perf_counter(), 0.0, 0
        while at < seconds and not stop.is_set():
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    break
                except TimeoutError:
                    pass
            n += 1
            tasks.append(asyncio.create_task(one(n)))
            at += rng.expovariate(rate)
        await asyncio.gather(*tasks)
    return samples


def main() -> None:
    samples = asyncio.run(_run())
    Path(os.environ["MAILLAGE_LOAD_SAMPLES"]).write_text(json.dumps(samples), encoding="utf-8")


if __name__ == "__main__":
    main()
