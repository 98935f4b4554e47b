"""Locust users for ``scripts/load_test.py``: widget-like free-text matches at a constant rate.

Each user sends ``POST /v1/match`` at ``MAILLAGE_LOAD_USER_RATE`` requests/s (``constant_throughput``);
the load test runs ``rate / user_rate`` users so that the offered rate holds while a request takes up to
``1 / user_rate`` seconds. Every text is unique (a demo initiative plus a reference number), as a
citizen's own words would be, so none is answered from the embedding cache.

Every request is recorded as ``[start (epoch s), response time (ms), HTTP status (0: none), error]``
and written to ``MAILLAGE_LOAD_SAMPLES`` as JSON when locust quits; ``MAILLAGE_LOAD_SAMPLES.started``
appears when the users start.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

QUERIES: list[dict[str, str]] = json.loads(Path(os.environ["MAILLAGE_LOAD_QUERIES"]).read_text(encoding="utf-8"))
HEADERS = {"Authorization": f"Bearer {os.environ['MAILLAGE_LOAD_TOKEN']}"}
USER_RATE = float(os.environ["MAILLAGE_LOAD_USER_RATE"])
NONCE = os.environ.get("MAILLAGE_LOAD_NONCE", str(os.getpid()))  # texts differ from one run to the next
SAMPLES: list[list[Any]] = []
_numbers = itertools.count(1)


@events.request.add_listener
def _record(response_time: float, response: Any = None, exception: BaseException | None = None,
            start_time: float | None = None, **_: Any) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    SAMPLES.append([start_time, response_time, status, "" if exception is None else str(exception)[:200]])


@events.test_start.add_listener
def _started(**_: Any) -> None:
    Path(os.environ["MAILLAGE_LOAD_SAMPLES"] + ".started").touch()  # the load test waits for this


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    Path(os.environ["MAILLAGE_LOAD_SAMPLES"]).write_text(json.dumps(SAMPLES), encoding="utf-8")


class WidgetUser(FastHttpUser):
    """One widget visitor. ``FastHttpUser`` (geventhttpclient) rather than ``HttpUser`` (requests): the
    client shares the server's two cores, and requests' per-call overhead showed in the latencies."""

    wait_time = constant_throughput(USER_RATE)

    @task
    def match(self) -> None:
        q = random.choice(QUERIES)
        body = {"text": f"{q['text']} (demande n° {NONCE}-{next(_numbers)})", "territory": q["territory"],
                "k": 10}
        with self.client.post("/v1/match", json=body, headers=HEADERS, name="/v1/match",
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
