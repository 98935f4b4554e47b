"""The observatory of one catalogue: every table, computed once, suppressed, saved as one JSON file.

:func:`observe` matches every initiative through ``Recommender.recommend`` (one call each,
:mod:`matcher.observatory.verdicts`), tallies the tables, computes the month-by-month figures, and
returns an :class:`Observatory` whose tables are already fit to publish (small cells suppressed at
``min_cell``). The same object is what the report is written from and what the console shows
(:func:`save` / :func:`load`: ``observatory.json``, written to a temporary file then renamed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matcher.observatory.blocks import block_tables
from matcher.observatory.gaps import gap_tables
from matcher.observatory.supply import supply_table
from matcher.observatory.table import DEFAULT_MIN_CELL, Table, suppress
from matcher.observatory.timeline import TIMELINE_SAMPLE, timeline_table
from matcher.observatory.verdicts import BEST, verdicts
from matcher.recommender import Recommender
from matcher.schemas import Initiative, Outcome

__all__ = ["FORMAT", "OBSERVATORY_FILE", "Observatory", "load", "observe", "published_path", "save"]

FORMAT = 1
OBSERVATORY_FILE = "observatory.json"


def published_path(home: Path) -> Path:
    """Where the latest observatory of a home's catalogue is published for the console."""
    return home / "observatory" / OBSERVATORY_FILE


@dataclass
class Observatory:
    """The tables of one run (suppressed), the figures that head the report, and how it was made."""

    tables: list[Table]
    headline: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r}: expected one of {', '.join(t.name for t in self.tables)}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "headline": self.headline, "meta": self.meta,
                "tables": [t.to_dict() for t in self.tables]}


def _headline(initiatives: Sequence[Initiative], vs: Sequence[Any], recommender: Recommender,
              min_cell: int) -> dict[str, Any]:
    n = len(vs)
    cal = recommender.calibration
    return {
        "initiatives": n, "resources": len(recommender.index.resources),
        "sans_eligible": sum(v.no_eligible for v in vs), "rien_ne_convient": sum(v.nothing_fits for v in vs),
        "bloquees": sum(v.blocked_by is not None for v in vs),
        "calibration": cal is not None, "seuil": cal.threshold if cal is not None else None,
        "min_cell": min_cell, "best": BEST,
    }


def observe(recommender: Recommender, initiatives: Sequence[Initiative], outcomes: Sequence[Outcome], *,
            today: date, min_cell: int = DEFAULT_MIN_CELL, k: int = 10, months: int | None = None,
            timeline: bool = True, sample: int = TIMELINE_SAMPLE,
            progress: Callable[[str, int, int], None] | None = None, workers: int = 1) -> Observatory:
    """The observatory of the catalogue behind ``recommender`` for ``initiatives`` on ``today``.

    ``initiatives`` are matched in id order (the figures do not depend on the order given);
    ``progress(stage, done, total)`` hears of every batch. ``timeline`` False leaves out the
    month-by-month table (``months``: only the last ones; ``sample``: initiatives matched at most per
    month end, :func:`matcher.observatory.timeline.timeline_table`). ``workers`` forked processes make
    the calls (:func:`matcher.parallel.fork_imap`): the figures are the same for any number."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
        raise ValueError(f"min_cell must be an integer >= 1, got {min_cell!r}")
    ordered = sorted(initiatives, key=lambda i: i.id)
    started = time.perf_counter()

    def tick(stage: str, total: int) -> Callable[[int], None]:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(stage, done[0], total)
        return advance

    vs = verdicts(recommender, ordered, today=today, k=k, progress=tick("now", len(ordered)), workers=workers)
    now_s = time.perf_counter() - started
    index = recommender.index
    raw = [*gap_tables(ordered, vs), *block_tables(vs, index.resources, index.providers, min_cell=min_cell),
           supply_table(index.resources, ordered, vs, today=today)]
    if timeline:
        raw.append(timeline_table(recommender, ordered, outcomes, until=today, k=k, months=months,
                                  sample=sample, progress=tick("timeline", -1), workers=workers))
    tables = [suppress(t, min_cell) for t in raw]
    meta = {"today": today.isoformat(), "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "index_version": index.version, "model_version": recommender.model_version, "k": k,
            "seconds_now": round(now_s, 1), "seconds_total": round(time.perf_counter() - started, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    return Observatory(tables, _headline(ordered, vs, recommender, min_cell), meta)


def save(obs: Observatory, folder: Path) -> Path:
    """Write ``folder/observatory.json`` atomically (temporary file, then rename); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / OBSERVATORY_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obs.to_dict(), ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(path: Path) -> Observatory:
    """An observatory saved by :func:`save`. Raises ``ValueError`` naming the file when it is not one
    this code reads."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"observatoire illisible ({path}) : {exc}") from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"observatoire {path} : format {d.get('format') if isinstance(d, dict) else '?'!r}, "
                         f"attendu {FORMAT} ; relancez maillage observatory")
    return Observatory([Table.from_dict(t) for t in d["tables"]], dict(d["headline"]), dict(d.get("meta", {})))
