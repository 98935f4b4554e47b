"""How long a one-off ``maillage match`` takes on an existing home (issue 18: ≤ 3 s), in subprocesses
as a user runs it: ``match --initiative ini-0001`` (its vector is in the embedding cache after the
first run) and ``match --text …`` with a text new at every run (so the model is loaded and runs:
the runs add a few rows to the home's embedding cache), ``--repeats`` times each,
p50 and min of the wall time, and the share of it spent importing modules (one more run of each
under ``python -X importtime``), and the CPU time of the runs, which a loaded machine inflates much
less than the wall time. The machine's load averages are recorded at start and end.

With ``--baseline-code DIR`` (another checkout, e.g. the code before a change) the same commands run
from it too, interleaved with the runs of this code so that both see the same load, and the answers
are compared (the JSON of both must be equal).

    HF_HUB_OFFLINE=1 MAILLAGE_HOME=var .venv/bin/python scripts/bench_cli.py [--repeats 7] \\
        [--baseline-code ../main] [--out bench/cli.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Nous créons un jardin partagé et un compost de quartier avec les habitants"
COMMANDS = {
    "initiative": ["match", "--initiative", "ini-0001", "--json"],
    "text": ["match", "--text", TEXT, "--territory", "93066", "--json"],
}


def _run(code: Path, args: list[str], env: dict[str, str], *, importtime: bool = False
         ) -> tuple[float, str, str, float]:
    """``(wall seconds, stdout, stderr, CPU seconds)`` of ``python -m service.cli ARGS`` run from
    ``code``; the CPU time (user + system, all threads) depends much less on the machine's load."""
    flags = ["-X", "importtime"] if importtime else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, "-m", "service.cli", *args], cwd=code,
                          env={**env, "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{code}: maillage {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout, done.stderr, cpu


def _imports(stderr: str) -> tuple[float, dict[str, float]]:
    """Seconds spent importing (the sum of ``-X importtime``'s self times) and the cumulative time of
    each top-level package imported at the top level of the tree, largest first."""
    total, top = 0.0, {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            own, cumulative = int(parts[0]), int(parts[1])
        except ValueError:
            continue  # the header line
        total += own / 1e6
        name = parts[2]
        if not name.startswith("  "):  # top level of the import tree
            package = name.strip().split(".")[0]
            top[package] = top.get(package, 0.0) + cumulative / 1e6
    return total, dict(sorted(top.items(), key=lambda kv: -kv[1])[:8])


def _summary(walls: list[float], cpus: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3), "cpu_p50_s": round(statistics.median(cpus), 3),
            "cpu_min_s": round(min(cpus), 3)}


def _command(name: str, run: str) -> list[str]:
    """The arguments of one run; ``run`` makes the free text new (a cache miss) at every run."""
    if name == "text" and run:
        return ["match", "--text", f"{TEXT} (essai {run})", "--territory", "93066", "--json"]
    return COMMANDS[name]


def _measure(codes: dict[str, Path], env: dict[str, str], repeats: int
             ) -> tuple[dict[str, object], bool | None]:
    """The figures of each code, and whether the baseline answered the same (``None``: no baseline)."""
    answers: dict[tuple[str, str], object] = {}
    for label, code in codes.items():  # one warm-up run each: the page cache holds the model afterwards
        for name, cmd in COMMANDS.items():
            answers[(label, name)] = json.loads(_run(code, cmd, env)[1])
    walls: dict[str, dict[str, list[float]]] = {c: {n: [] for n in COMMANDS} for c in codes}
    cpus: dict[str, dict[str, list[float]]] = {c: {n: [] for n in COMMANDS} for c in codes}
    stamp = f"{time.time_ns():x}"
    for i in range(repeats):
        for name in COMMANDS:
            for label, code in codes.items():  # interleaved: both codes see the same load
                wall, _, _, cpu = _run(code, _command(name, f"{stamp}-{label}-{i}"), env)
                walls[label][name].append(wall)
                cpus[label][name].append(cpu)
    results: dict[str, object] = {}
    for label, code in codes.items():
        per: dict[str, object] = {}
        for name in COMMANDS:
            wall, _, stderr, _ = _run(code, _command(name, f"{stamp}-{label}-importtime"), env, importtime=True)
            spent, top = _imports(stderr)
            per[name] = {**_summary(walls[label][name], cpus[label][name]),
                         "runs_s": [round(w, 3) for w in walls[label][name]],
                         "importtime_run_s": round(wall, 3), "import_s": round(spent, 3),
                         "import_share": round(spent / wall, 3),
                         "top_level_imports_s": {k: round(v, 3) for k, v in top.items()}}
        results[label] = {"code": str(code), "commands": per}
    same = (all(answers[("this", n)] == answers[("baseline", n)] for n in COMMANDS)
            if "baseline" in codes else None)
    return results, same


def _print(report: dict[str, Any]) -> None:
    print(f"load average (1, 5, 15 min): start {report['load_average_start']}, end {report['load_average_end']}")
    results = report["results"]
    for label, body in results.items():
        for name, r in body["commands"].items():
            print(f"{label:>8} {name:<10} p50 {r['p50_s']:.2f} s  min {r['min_s']:.2f} s  "
                  f"CPU p50 {r['cpu_p50_s']:.2f} s  imports "
                  f"{100 * r['import_share']:.0f} % of a run ({r['import_s']:.2f} s of {r['importtime_run_s']:.2f} s)")
    if "baseline" in results:
        for name in COMMANDS:
            this, base = results["this"]["commands"][name], results["baseline"]["commands"][name]
            print(f"{name}: p50 {base['p50_s']:.2f} s → {this['p50_s']:.2f} s ({base['p50_s'] / this['p50_s']:.1f}×), "
                  f"CPU {base['cpu_p50_s']:.2f} s → {this['cpu_p50_s']:.2f} s")
        print(f"same answers as the baseline: {report['same_answers_as_baseline']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline-code", type=Path, default=None,
                        help="another checkout to time the same commands from (the code before a change)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "cli.json")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    home = Path(env.get("MAILLAGE_HOME", "var")).resolve()
    if not (home / "indexes" / "CURRENT").is_file():
        raise SystemExit(f"no index under {home}: build a home first (maillage demo), or set MAILLAGE_HOME")
    env["MAILLAGE_HOME"] = str(home)
    codes = {"this": ROOT, **({"baseline": args.baseline_code.resolve()} if args.baseline_code else {})}

    load_start, started = os.getloadavg(), datetime.now(UTC)
    results, same = _measure(codes, env, args.repeats)
    load_end = os.getloadavg()
    report: dict[str, Any] = {
        "what": "wall time of one-off `maillage match` runs in subprocesses on an existing home",
        "command": "HF_HUB_OFFLINE=1 MAILLAGE_HOME=<home> python scripts/bench_cli.py " + " ".join(sys.argv[1:]),
        "commands": {n: "maillage " + " ".join(c) + (" (a new text at each run: « (essai N) » appended)"
                                                     if n == "text" else "") for n, c in COMMANDS.items()},
        "home": str(home), "repeats": args.repeats, "cpus": os.cpu_count(),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "results": results,
        "same_answers_as_baseline": same,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _print(report)
    print(f"written: {args.out}")
    return 0 if same is not False else 1


if __name__ == "__main__":
    raise SystemExit(main())
