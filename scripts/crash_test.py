"""Crash test: write through the API while the server is killed with SIGKILL at random moments.

``python scripts/crash_test.py --kills 20 --seed 1`` starts ``maillage serve`` on a free loopback port
with its own ``MAILLAGE_HOME`` (the demo catalogue, the hashing encoder by default), creates an admin
key, then repeats ``--kills`` times:

1. writer threads create, replace and delete resources and initiatives and record outcomes, each on
   ids of its own; a write answered 2xx is *acknowledged*, one answered 4xx is known not to have
   happened, and one cut by the kill (no answer, or a 5xx) is *in doubt*: either outcome is allowed;
2. at a seeded random moment the writers pause, and the running index is checked against the
   catalogue (same live count; the writers' resources among the matches of their own made-up words,
   deleted ones not);
3. the writers resume (in some cycles with a full index rebuild started too) and, after another
   seeded random delay, the server gets SIGKILL mid-writes; in some cycles it is killed once more
   during its next start-up (while it checks and repairs its index);
4. the server is started again and must be ready within ``--ready-timeout`` with a fresh, non-stale
   index and no traceback in its log; every acknowledged write must be there with its acknowledged
   content (the last acknowledged version; deleted records gone; outcomes present), and the index
   must agree with the catalogue: same live count, and a resource created just now is among the
   matches of a free-text query of its unique title words.

Progress goes to stdout, then a summary; the exit status is 0 only if every check held. Every loop is
bounded: ``--kills`` cycles, ``--max-seconds`` overall, bounded waits; the server is killed on exit.
All traffic is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import Server, create_key, free_port  # a sibling module (scripts/ is not a package)

SOURCE = "crash-test"
ABSENT = None  # the state of a record that does not exist (never created, or deleted)
RESOURCE_FIELDS = ("title", "description", "kind", "provider_id", "coverage", "active")
INITIATIVE_FIELDS = ("title", "description", "territory")
SYLLABLES = ("ba", "dru", "fen", "gal", "ko", "lim", "mor", "nax", "pel", "quo", "ris", "sul", "tav", "vek",
             "wiz", "zor", "jun", "hap", "cri", "blo")


def unique_word(rng: random.Random) -> str:
    """A made-up word of four syllables (20**4 = 160,000 of them): no catalogue text contains it."""
    return "".join(rng.choice(SYLLABLES) for _ in range(4))


# --- what the writers were told -------------------------------------------------------------------


@dataclass
class Ledger:
    """For every id written, the states it may be in: one after an acknowledged write, several while a
    write is in doubt. A state is the projection of the record on the fields written, or ``ABSENT``."""

    resources: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    initiatives: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    outcomes: dict[str, list[bool]] = field(default_factory=dict)  # id → may be present?
    outcome_initiative: dict[str, str] = field(default_factory=dict)
    # Initiatives a DELETE was sent for: an erasure moves their outcomes under a pseudonym (issue 19),
    # so under the initiative's id an outcome of theirs may be present (the DELETE lost) or absent.
    erased: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def table(self, kind: str) -> dict[str, Any]:
        return {"resources": self.resources, "initiatives": self.initiatives, "outcomes": self.outcomes}[kind]

    def acknowledged(self, kind: str, item_id: str, state: Any) -> None:
        with self.lock:
            self.table(kind)[item_id] = [state]

    def in_doubt(self, kind: str, item_id: str, state: Any) -> None:
        with self.lock:
            states = self.table(kind).setdefault(item_id, [ABSENT if kind != "outcomes" else False])
            if state not in states:
                states.append(state)

    def live(self, kind: str) -> list[str]:
        """Ids whose every possible state is a live record (safe targets for updates and checks)."""
        with self.lock:
            return [i for i, states in self.table(kind).items() if all(s is not ABSENT for s in states)]


def project(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: record.get(f) for f in fields}


# --- writers -------------------------------------------------------------------------------------


@dataclass
class WriteRecord:
    op: str
    started: float
    ended: float
    status: int | None  # None: no answer (connection cut)
    error: str | None = None


class Writer(threading.Thread):
    """Writes on ids of its own until told to stop; records every answer in the ledger."""

    OPS = (("create_resource", 30), ("update_resource", 25), ("delete_resource", 10), ("create_initiative", 15),
           ("update_initiative", 6), ("delete_initiative", 4), ("record_outcome", 10))

    def __init__(self, n: int, cycle: int, base: str, token: str, ledger: Ledger, providers: list[str],
                 rng: random.Random, stop: threading.Event, pause: threading.Event, paused: threading.Event,
                 words: dict[str, str]) -> None:
        super().__init__(name=f"writer-{n}", daemon=True)
        self.n, self.cycle, self.ledger, self.providers, self.rng = n, cycle, ledger, providers, rng
        self.stop, self.pause, self.paused, self.words = stop, pause, paused, words
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.records: list[WriteRecord] = []
        self.counter = 0

    def run(self) -> None:
        ops, weights = zip(*self.OPS, strict=True)
        try:
            while not self.stop.is_set():
                if self.pause.is_set():
                    self.paused.set()
                    time.sleep(0.01)
                    continue
                op = self.rng.choices(ops, weights)[0]
                getattr(self, op)()
        finally:
            self.client.close()

    def _new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"crash-{prefix}{self.n}-c{self.cycle}-{self.counter}"

    def _send(self, op: str, method: str, url: str, body: Any = None) -> int | None:
        started = time.time()
        try:
            status: int | None = self.client.request(method, url, json=body).status_code
            error = None
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)  # the server is down: do not spin until told to stop
        self.records.append(WriteRecord(op, started, time.time(), status, error))
        return status

    def _settle(self, kind: str, item_id: str, status: int | None, after: Any) -> None:
        """2xx: ``after`` is the state; 4xx: nothing happened; no answer or 5xx: in doubt."""
        if status is not None and 200 <= status < 300:
            self.ledger.acknowledged(kind, item_id, after)
        elif status is None or status >= 500:
            self.ledger.in_doubt(kind, item_id, after)

    def _resource(self, rid: str, revision: int) -> dict[str, Any]:
        words = self.words.setdefault(rid, f"{unique_word(self.rng)} {unique_word(self.rng)}")
        return {"id": rid, "kind": self.rng.choice(["financement", "appel_a_projets", "accompagnement"]),
                "provider_id": self.rng.choice(self.providers), "title": f"Crash {words} révision {revision}",
                "description": f"Ressource d'essai {rid}, révision {revision}.", "coverage": ["FR"],
                "active": True, "source": SOURCE}

    def create_resource(self) -> None:
        rid = self._new_id("r")
        body = self._resource(rid, 0)
        self._settle("resources", rid, self._send("create_resource", "POST", "/v1/resources", body),
                     project(body, RESOURCE_FIELDS))

    def update_resource(self) -> None:
        live = [i for i in self.ledger.live("resources") if i.startswith(f"crash-r{self.n}-")]
        if not live:
            return self.create_resource()
        rid = self.rng.choice(live)
        body = self._resource(rid, self.rng.randint(1, 10_000))
        self._settle("resources", rid, self._send("update_resource", "PUT", f"/v1/resources/{rid}", body),
                     project(body, RESOURCE_FIELDS))

    def delete_resource(self) -> None:
        live = [i for i in self.ledger.live("resources") if i.startswith(f"crash-r{self.n}-")]
        if not live:
            return
        rid = self.rng.choice(live)
        status = self._send("delete_resource", "DELETE", f"/v1/resources/{rid}")
        self._settle("resources", rid, 204 if status == 404 else status, ABSENT)  # 404: already absent

    def _initiative(self, iid: str, revision: int) -> dict[str, Any]:
        return {"id": iid, "title": f"Initiative d'essai {iid} révision {revision}",
                "description": f"Projet citoyen d'essai, révision {revision}.", "territory": "75056",
                "source": SOURCE}

    def create_initiative(self) -> None:
        iid = self._new_id("i")
        body = self._initiative(iid, 0)
        self._settle("initiatives", iid, self._send("create_initiative", "POST", "/v1/initiatives", body),
                     project(body, INITIATIVE_FIELDS))

    def update_initiative(self) -> None:
        live = [i for i in self.ledger.live("initiatives") if i.startswith(f"crash-i{self.n}-")]
        if not live:
            return self.create_initiative()
        iid = self.rng.choice(live)
        body = self._initiative(iid, self.rng.randint(1, 10_000))
        self._settle("initiatives", iid, self._send("update_initiative", "PUT", f"/v1/initiatives/{iid}", body),
                     project(body, INITIATIVE_FIELDS))

    def delete_initiative(self) -> None:
        live = [i for i in self.ledger.live("initiatives") if i.startswith(f"crash-i{self.n}-")]
        if not live:
            return
        iid = self.rng.choice(live)
        with self.ledger.lock:
            self.ledger.erased.add(iid)
        status = self._send("delete_initiative", "DELETE", f"/v1/initiatives/{iid}")
        self._settle("initiatives", iid, 204 if status == 404 else status, ABSENT)

    def record_outcome(self) -> None:
        inis = [i for i in self.ledger.live("initiatives") if i.startswith(f"crash-i{self.n}-")]
        ress = [i for i in self.ledger.live("resources") if i.startswith(f"crash-r{self.n}-")]
        if not inis or not ress:
            return self.create_initiative()
        oid, iid = self._new_id("o"), self.rng.choice(inis)
        body = {"id": oid, "initiative_id": iid, "resource_id": self.rng.choice(ress),
                "decision": self.rng.choice(["contacted", "shortlisted", "applied", "refused"]), "actor": "crash"}
        with self.ledger.lock:
            self.ledger.outcome_initiative[oid] = iid
        self._settle("outcomes", oid, self._send("record_outcome", "POST", "/v1/outcomes", body), True)


# --- checks --------------------------------------------------------------------------------------


class Checker:
    """Reads the service back and compares it with the ledger; ``failures`` collects what differs."""

    def __init__(self, base: str, token: str, ledger: Ledger, words: dict[str, str], rng: random.Random) -> None:
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.ledger, self.words, self.rng = ledger, words, rng
        self.failures: list[str] = []

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def get(self, url: str, **params: Any) -> Any:
        r = self.client.get(url, params=params)
        r.raise_for_status()
        return r.json()

    def listing(self, kind: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        offset: int | None = 0
        for _ in range(10_000):  # bounded: 2 M records
            if offset is None:
                break
            page = self.get(f"/v1/{kind}", source=SOURCE, limit=200, offset=offset)
            out.update({item["id"]: item for item in page["items"]})
            offset = page["next_offset"]
        return out

    def writes_present(self) -> int:
        """Every acknowledged write is there with its content; in-doubt ids settle on what is found."""
        checked = 0
        for kind, fields in (("resources", RESOURCE_FIELDS), ("initiatives", INITIATIVE_FIELDS)):
            found = self.listing(kind)
            with self.ledger.lock:
                expected = dict(self.ledger.table(kind))
            for item_id, states in expected.items():
                record = found.get(item_id)
                actual = None if record is None else project(record, fields)
                if actual not in states:
                    what = "missing" if actual is None else f"holds {actual}"
                    self.fail(f"{kind} {item_id}: {what}, expected one of {states}")
                else:
                    self.ledger.acknowledged(kind, item_id, actual)
                checked += 1
            for item_id in sorted(set(found) - set(expected))[:5]:
                self.fail(f"{kind} {item_id} exists but was never written")
        with self.ledger.lock:
            outcomes = dict(self.ledger.outcomes)
            by_initiative: dict[str, list[str]] = {}
            for oid in outcomes:
                by_initiative.setdefault(self.ledger.outcome_initiative[oid], []).append(oid)
                if self.ledger.outcome_initiative[oid] in self.ledger.erased:
                    outcomes[oid] = [True, False]
        for iid, oids in by_initiative.items():
            present = {o["id"] for o in self.get("/v1/outcomes", initiative_id=iid)}
            for oid in oids:
                if (oid in present) not in outcomes[oid]:
                    self.fail(f"outcome {oid}: {'present' if oid in present else 'missing'}, "
                              f"expected {'present' if outcomes[oid] == [True] else 'absent'}")
                else:
                    self.ledger.acknowledged("outcomes", oid, oid in present)
                checked += 1
        return checked

    def index_agrees(self, *, fresh: bool, samples: int = 8) -> None:
        """The served index holds the catalogue's live resources; with ``fresh`` it is also not stale."""
        status = self.get("/v1/index")
        live_total = self.get("/v1/resources", limit=1)["total"]
        if status["resources"] != live_total:
            self.fail(f"index holds {status['resources']} resources, the catalogue {live_total} live ones")
        if fresh and status["stale"]:
            self.fail(f"index {status['version']} is stale right after start")
        if status["last_rebuild_error"]:
            self.fail(f"index: last rebuild error {status['last_rebuild_error']}")
        live = self.ledger.live("resources")
        with self.ledger.lock:
            gone = [i for i, s in self.ledger.resources.items() if s == [ABSENT] and i in self.words]
        for rid in self.rng.sample(live, min(samples, len(live))):
            self.findable(rid)
        for rid in self.rng.sample(gone, min(samples // 2, len(gone))):
            self.findable(rid, present=False)

    def findable(self, rid: str, *, present: bool = True) -> None:
        """``rid`` is (or, deleted, is not) among the 50 matches of a free-text query of its own made-up
        words. Not "first": with nothing but two unknown words to go on, the ranker's other features
        (history, provider) can put a few resources above it."""
        body = {"text": self.words[rid], "territory": "75056", "k": 50}
        r = self.client.post("/v1/match", json=body)
        if r.status_code != 200:
            self.fail(f"match for {rid}: HTTP {r.status_code} {r.text[:200]}")
            return
        hits = {m["resource_id"]: m for m in r.json()["matches"]}
        if not present:
            if rid in hits:
                self.fail(f"deleted resource {rid} is still matched")
            return
        if rid not in hits:
            stored = self.client.get(f"/v1/resources/{rid}").status_code
            self.fail(f"resource {rid} is not among the matches of its words {self.words[rid]!r} "
                      f"(GET /v1/resources/{rid} answers {stored})")
            return
        with self.ledger.lock:
            states = self.ledger.resources.get(rid, [])
        if not any(s is not None and s["title"] == hits[rid]["title"] for s in states):
            self.fail(f"resource {rid} is matched with title {hits[rid]['title']!r}, not its acknowledged one")

    def create_and_find(self, providers: list[str], n: int) -> None:
        """A resource created now is found at once by its unique words."""
        rid = f"crash-fresh-{n}"
        words = self.words.setdefault(rid, f"{unique_word(self.rng)} {unique_word(self.rng)}")
        body = {"id": rid, "kind": "financement", "provider_id": self.rng.choice(providers),
                "title": f"Crash {words} révision 0", "description": "Ressource créée après un redémarrage.",
                "coverage": ["FR"], "active": True, "source": SOURCE}
        r = self.client.post("/v1/resources", json=body)
        if r.status_code != 201:
            self.fail(f"creating {rid} after the restart: HTTP {r.status_code} {r.text[:200]}")
            return
        self.ledger.acknowledged("resources", rid, project(body, RESOURCE_FIELDS))
        self.findable(rid)


# --- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.max_seconds
    rng = random.Random(args.seed)
    tmp = None
    if args.home is None:
        tmp = tempfile.TemporaryDirectory(prefix="maillage-crash-")
        home = Path(tmp.name)
    else:
        home = Path(args.home)
        home.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    env = {**os.environ, "MAILLAGE_HOME": str(home), "MAILLAGE_MODEL": args.model,
           "MAILLAGE_RATE_PER_KEY": "1000000", "MAILLAGE_RATE_PER_IP": "1000000", "MAILLAGE_DEMO_WHEN_EMPTY": "true",
           "MAILLAGE_SYNC_INTERVAL_S": str(args.sync_interval), "PYTHONUNBUFFERED": "1"}
    env.pop("MAILLAGE_DATABASE_URL", None)  # the catalogue is the SQLite file under the home, unless
    if args.database_url:
        env["MAILLAGE_DATABASE_URL"] = args.database_url
    print(f"crash test: {args.kills} kills, seed {args.seed}, {args.writers} writers, model {args.model}, "
          f"home {home}, port {port}", flush=True)

    server = Server(home, port, env)
    ledger, words = Ledger(), {}
    starts: list[dict[str, Any]] = []
    failures: list[str] = []
    answers: Counter[str] = Counter()
    unexpected: list[str] = []
    rebuilds: Counter[str] = Counter()
    startup_kills = 0
    try:
        token = create_key(env, "crash-test")
        server.start()
        ready = server.wait_ready(args.ready_timeout)
        print(f"first start: ready in {ready:.1f} s", flush=True)
        checker = Checker(server.base, token, ledger, words, random.Random(rng.random()))
        providers = [p["id"] for p in checker.get("/v1/providers", limit=20)["items"]]
        for cycle in range(1, args.kills + 1):
            if time.monotonic() > deadline:
                failures.append(f"stopped after {cycle - 1} kills: --max-seconds {args.max_seconds} reached")
                break
            stop, pause, writers = threading.Event(), threading.Event(), []
            for n in range(args.writers):
                w = Writer(n, cycle, server.base, token, ledger, providers, random.Random(rng.random()), stop, pause,
                           threading.Event(), words)
                writers.append(w)
                w.start()
            # Pause the writers at a random moment and check the live index against the catalogue.
            time.sleep(rng.uniform(args.min_run, args.max_run) / 2)
            pause.set()
            for w in writers:
                w.paused.wait(timeout=60)
            time.sleep(2 * args.sync_interval)
            live_check = Checker(server.base, token, ledger, words, random.Random(rng.random()))
            live_check.index_agrees(fresh=False)
            pause.clear()
            # Resume (sometimes with a full rebuild running too), then kill the server amid the writes.
            if rng.random() < args.rebuild_chance:
                rebuilds[str(checker.client.post("/v1/index/rebuild").status_code)] += 1
            time.sleep(rng.uniform(args.min_run, args.max_run) / 2)
            killed_at = time.time()
            server.kill()
            stop.set()
            for w in writers:
                w.join(timeout=60)
            records = [r for w in writers for r in w.records]
            for r in records:
                answers[str(r.status) if r.status is not None else "no answer"] += 1
                if r.ended < killed_at and (r.status is None or not 200 <= r.status < 300):  # server still up
                    unexpected.append(f"cycle {cycle}: {r.op} answered {r.status or r.error} before the kill")
            cut = sum(1 for r in records if r.started < killed_at <= r.ended)
            if rng.random() < args.startup_kill_chance:  # a kill during the start-up check and repair
                server.start()
                time.sleep(rng.uniform(0.2, 5.0))
                server.kill()
                startup_kills += 1
            # Restart: clean start, writes present, index in agreement.
            server.start()
            try:
                ready = server.wait_ready(args.ready_timeout)
            except RuntimeError as exc:
                failures.append(f"cycle {cycle}: {exc}")
                print(server.log_since_start()[-3000:], flush=True)
                break
            log = server.log_since_start()
            check = Checker(server.base, token, ledger, words, random.Random(rng.random()))
            status = check.get("/v1/index")
            checked = check.writes_present()
            check.index_agrees(fresh=True)
            check.create_and_find(providers, cycle)
            if "Traceback" in log:
                check.fail(f"the server logged a traceback:\n{log[log.index('Traceback'):][:2000]}")
            cycle_failures = [f"cycle {cycle} (live): {m}" for m in live_check.failures] + \
                             [f"cycle {cycle}: {m}" for m in check.failures]
            failures.extend(cycle_failures)
            starts.append({"cycle": cycle, "ready_s": round(ready, 2), "repaired": status["repaired_at_start"]})
            print(f"cycle {cycle}/{args.kills}: {len(records)} writes ({cut} in flight at the kill), "
                  f"ready in {ready:.1f} s{' after repair' if status['repaired_at_start'] else ''}, "
                  f"{checked} records checked, index {status['resources']} resources: "
                  f"{'ok' if not cycle_failures else f'{len(cycle_failures)} FAILED'}", flush=True)
            for m in cycle_failures[:10]:
                print(f"  - {m}", flush=True)
    except Exception as exc:  # a crash of the test itself is a failure, reported with its reason
        failures.append(f"the test stopped: {type(exc).__name__}: {exc}")
        print(server.log_since_start()[-3000:], flush=True)
    finally:
        server.kill()
    failures.extend(unexpected[:20])
    summary = {"kills": len(starts), "seed": args.seed, "writes_by_status": dict(sorted(answers.items())),
               "acknowledged_records": sum(1 for t in ("resources", "initiatives", "outcomes")
                                           for s in ledger.table(t).values() if len(s) == 1),
               "ready_s_max": max((s["ready_s"] for s in starts), default=None),
               "repaired_starts": sum(1 for s in starts if s["repaired"]), "startup_kills": startup_kills,
               "rebuilds_requested": dict(rebuilds),
               "leftover_tmp_snapshots": len(list((home / "indexes").glob(".tmp-*"))),
               "unexpected_answers": len(unexpected), "failures": len(failures)}
    print("summary: " + json.dumps(summary, ensure_ascii=False), flush=True)
    for m in failures[:50]:
        print(f"FAILED: {m}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "starts": starts, "failure_messages": failures},
                                              indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if tmp is not None and not args.keep:
        tmp.cleanup()
    return 0 if not failures else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kills", type=int, default=10, help="how many times the server is killed (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments and of the writes")
    p.add_argument("--home", help="MAILLAGE_HOME to use (default: a temporary folder, removed afterwards)")
    p.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    p.add_argument("--database-url", help="catalogue URL, an empty database (default: SQLite under the home)")
    p.add_argument("--model", default="hashing:64", help="encoder spec (default hashing:64, fast)")
    p.add_argument("--writers", type=int, default=3, help="concurrent writer threads (default 3)")
    p.add_argument("--min-run", type=float, default=1.0, help="shortest time between two kills, s (default 1)")
    p.add_argument("--max-run", type=float, default=4.0, help="longest time between two kills, s (default 4)")
    p.add_argument("--rebuild-chance", type=float, default=0.3,
                   help="chance that a cycle also starts a full index rebuild before the kill (default 0.3)")
    p.add_argument("--startup-kill-chance", type=float, default=0.25,
                   help="chance that a cycle also kills the server during its next start-up (default 0.25)")
    p.add_argument("--sync-interval", type=float, default=0.5, help="MAILLAGE_SYNC_INTERVAL_S (default 0.5)")
    p.add_argument("--ready-timeout", type=float, default=60.0, help="bound on a start, s (default 60)")
    p.add_argument("--max-seconds", type=float, default=900.0, help="bound on the whole run, s (default 900)")
    p.add_argument("--json", help="also write the summary and every failure to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary home (for a post-mortem)")
    args = p.parse_args(argv)
    if args.kills < 1 or args.writers < 1 or not 0 < args.min_run <= args.max_run:
        p.error("--kills and --writers must be >= 1, and 0 < --min-run <= --max-run")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
