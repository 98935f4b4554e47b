"""Crash test of ``maillage alerts run``: SIGKILL at seeded moments, run again, every due alert
delivered, none lost, none twice under its Message-ID.

``python scripts/crash_alerts.py --kills 20 --seed 1`` makes a temporary home with the demo catalogue
(the hashing encoder), ``--subscriptions`` immediate e-mail subscriptions following demo initiatives,
and an aiosmtpd server on 127.0.0.1 that keeps the Message-ID of every message it accepts (it takes
``--smtp-delay-ms`` per message, so kills land in every phase: detection, composing, sending). Then
cycles until ``--kills`` runs were killed (at most ``--max-cycles``): new resources are added (so new
alerts are due), ``maillage alerts run`` starts, and
is killed with SIGKILL after a seeded delay drawn between 0.3 × and 1 × (a run's measured start-up
time + 8 s), or up to ``--max-delay-s``. Finally it runs to the end
(no kill) until the outbox is empty.

Checks: every message of the outbox is marked sent; every alert detected is in a message; the set of
Message-IDs the server received is exactly the outbox's (0 lost); each Message-ID counted once is
**exactly once**; a Message-ID received more than once is a copy re-sent after a kill that fell between
the server's acceptance and the sent-mark's commit (the documented at-least-once window,
:mod:`service.alerts.delivery`): counted and printed, never hidden. Exit status 0 when nothing was lost
and the raw duplicates (if any) all carry a Message-ID of the outbox. Writes ``bench/crash_alerts.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from _server import free_port  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from matcher import tables  # noqa: E402
from matcher.demo_catalogue import load_demo  # noqa: E402
from matcher.store import Catalogue, sqlite_url  # noqa: E402
from service.alerts import AlertStore  # noqa: E402
from service.alerts.subscribe import new_subscription_id  # noqa: E402
from service.alerts.subscriptions import Subscription  # noqa: E402


class Sink:
    def __init__(self, delay_s: float) -> None:
        self.ids: list[str] = []
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay_s)
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=default)
        self.ids.append(str(msg["Message-ID"]))
        return "250 OK"


def _env(home: Path, port: int) -> dict[str, str]:
    return {**os.environ, "MAILLAGE_HOME": str(home), "MAILLAGE_MODEL": "hashing:64", "HF_HUB_OFFLINE": "1",
            "MAILLAGE_SMTP_HOST": "127.0.0.1", "MAILLAGE_SMTP_PORT": str(port), "MAILLAGE_SMTP_SECURITY": "none",
            "MAILLAGE_SMTP_SENDER": "Maillage <alertes@maillage.example.fr>", "MAILLAGE_SECRET_KEY": "k" * 40,
            "MAILLAGE_PUBLIC_URL": "https://maillage.example.gouv.fr", "MAILLAGE_DEMO_WHEN_EMPTY": "false"}


def _seed(store: Catalogue, n: int) -> None:
    load_demo(store)
    subs = [Subscription(id=new_subscription_id(), initiative_id=i.id, email=f"equipe{k}@example.fr",
                         frequency="immediate", label=i.title[:200], created_at=datetime(2026, 1, 1, tzinfo=UTC))
            for k, i in enumerate(store.initiatives()[:n])]
    with store.engine.begin() as conn:
        conn.execute(tables.alert_subscriptions.insert(), [AlertStore._row(s) for s in subs])
    # The demo catalogue is no news: past the detection's look-back (60 s), only later writes are.
    AlertStore(store.engine).set_watermark(datetime.now(UTC) + timedelta(seconds=61))


def _add_resources(store: Catalogue, cycle: int, rng: random.Random, n: int) -> None:
    demo = [r for r in store.resources() if r.source == "demo"]
    store.upsert_resources([rng.choice(demo).model_copy(update={
        "id": f"crash-res-{cycle:02d}-{k}", "title": f"Nouvelle session {cycle}-{k}", "coverage": ["FR"],
        "opens_at": None, "closes_at": date(2027, 6, 30), "active": True, "capacity": None}) for k in range(n)])


def _alerts_run(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "service.cli", "alerts", "run", "--on", "2026-12-02"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="cycles go on until this many runs were killed")
    ap.add_argument("--max-cycles", type=int, default=60, help="a bound on cycles (a run may end before its kill)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--subscriptions", type=int, default=120)
    ap.add_argument("--resources-per-cycle", type=int, default=2)
    ap.add_argument("--max-delay-s", type=float, default=0.0,
                    help="kills are drawn up to this delay; 0: a run's start-up time plus 8 s, measured first")
    ap.add_argument("--smtp-delay-ms", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "crash_alerts.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="maillage-crash-alerts-"))
    port = free_port()
    sink = Sink(args.smtp_delay_ms / 1000)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = _env(home, port)
    store = Catalogue.open(sqlite_url(home / "maillage.db"))
    _seed(store, args.subscriptions)
    started = time.monotonic()
    _alerts_run(env).wait(timeout=600)  # builds the index; its duration is what a run costs before any work
    startup = time.monotonic() - started
    window = args.max_delay_s if args.max_delay_s else startup + 8.0
    print(f"a run with nothing to do takes {startup:.1f} s: kills are drawn in [{0.3 * startup:.1f}, {window:.1f}] s",
          flush=True)
    kills: list[dict[str, Any]] = []
    try:
        cycle = 0
        while sum(k["ended"] == "killed" for k in kills) < args.kills and cycle < args.max_cycles:
            _add_resources(store, cycle, rng, args.resources_per_cycle)
            delay = rng.uniform(0.3 * startup, window)
            before = len(sink.ids)
            proc = _alerts_run(env)
            try:
                proc.wait(timeout=delay)
                ended = f"finished before the kill (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                ended = "killed"
            kills.append({"cycle": cycle, "delay_s": round(delay, 2), "ended": ended,
                          "received_meanwhile": len(sink.ids) - before})
            print(f"cycle {cycle + 1}: SIGKILL after {delay:.2f} s — {ended}, "
                  f"{len(sink.ids) - before} message(s) received meanwhile", flush=True)
            cycle += 1
        for _ in range(5):  # then to the end, without kills
            proc = _alerts_run(env)
            proc.communicate(timeout=600)
            if not AlertStore(store.engine).unsent():
                break
        return _check(store, sink, kills, args, time.monotonic() - started)
    finally:
        controller.stop()


def _check(store: Catalogue, sink: Sink, kills: list[dict[str, Any]], args: argparse.Namespace, took: float) -> int:
    alerts = AlertStore(store.engine)
    with store.engine.connect() as conn:
        rows = conn.execute(tables.alert_outbox.select()).all()
        items = conn.execute(tables.alert_items.select()).all()
    expected = {f"<{r.id}@maillage.example.fr>" for r in rows}
    got = Counter(sink.ids)
    lost = expected - set(got)
    foreign = set(got) - expected
    duplicates = {mid: n for mid, n in got.items() if n > 1}
    not_in_a_message = [i.id for i in items if i.outbox_id is None and i.dismissed_at is None]
    report = {"kills": len(kills), "killed": sum(k["ended"] == "killed" for k in kills), "seed": args.seed,
              "subscriptions": args.subscriptions, "messages_due": len(expected), "alerts": len(items),
              "received": len(sink.ids), "distinct_message_ids": len(got), "lost": len(lost),
              "foreign": len(foreign), "unsent_left": len(alerts.unsent()),
              "alerts_not_in_a_message": len(not_in_a_message),
              "raw_duplicates": sum(n - 1 for n in duplicates.values()), "seconds": round(took, 1), "cycles": kills}
    print(f"{report['killed']} kills of {len(kills)} cycles; {len(expected)} messages due for {len(items)} alerts; "
          f"{len(got)} distinct Message-IDs received, {len(lost)} lost, {len(foreign)} unknown, "
          f"{report['raw_duplicates']} copies re-sent under the same Message-ID, {report['unsent_left']} left unsent, "
          f"{len(not_in_a_message)} alerts in no message; {took:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    ok = not lost and not foreign and not report["unsent_left"] and not not_in_a_message
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
