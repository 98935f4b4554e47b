"""Batch matching: a cohort of initiatives → one CSV row per (initiative, rank), resumable.

The output is written initiative by initiative. Beside it, ``OUT.csv.progress`` records each
finished initiative with the byte size of the CSV after its rows, flushed to disk. A run that is
interrupted (Ctrl-C, crash, power cut) is resumed by running the same command again: the CSV is cut
back to the last finished initiative and the finished ones are skipped, so no row is lost or
written twice.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from matcher.importers.files import read_file_rows
from matcher.recommender import Recommender
from matcher.schemas import Initiative, describe_validation_error

__all__ = ["COLUMNS", "BatchOutputExists", "BatchReport", "read_cohort", "run_batch"]

COLUMNS = (
    "initiative_id", "rank", "resource_id", "title", "provider", "kind", "score", "closes_at", "reasons",
    "near_misses", "index_version", "model_version",
)


@dataclass
class BatchReport:
    done: int = 0
    skipped_already_done: int = 0
    rows: int = 0
    errors: list[str] = field(default_factory=list)


def read_cohort(path: Path) -> tuple[list[Initiative], list[str]]:
    """Initiatives of a JSONL or CSV file (import format) and one message per rejected line."""
    good: list[Initiative] = []
    errors: list[str] = []
    for line, _, payload in read_file_rows(path, "initiative"):
        if isinstance(payload, str):
            errors.append(f"line {line}: {payload}")
            continue
        try:
            good.append(Initiative.model_validate(payload))
        except ValidationError as exc:
            errors.append(f"line {line}: " + "; ".join(describe_validation_error(exc)))
    return good, errors


class BatchOutputExists(ValueError):
    """The output file exists and was not written by an interrupted batch run."""


def _resume_point(out: Path, progress_path: Path) -> tuple[set[str], int]:
    done: set[str] = set()
    offset = 0
    if progress_path.is_file() and out.is_file():
        for raw in progress_path.read_text(encoding="utf-8").splitlines():
            iid, _, size = raw.partition("\t")
            if iid and size.isdigit():
                done.add(iid)
                offset = int(size)
    return done, offset


def run_batch(
    recommender: Recommender,
    initiatives: Iterable[Initiative],
    out: Path,
    *,
    k: int = 10,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> BatchReport:
    """Match every initiative and append its rows to ``out``; resumes a previous interrupted run.

    An existing ``out`` that this function did not start (no ``.progress`` file beside it) is never
    overwritten unless ``overwrite`` is set: :class:`BatchOutputExists` names it instead.
    """
    progress_path = out.with_name(out.name + ".progress")
    if out.is_file() and not progress_path.is_file() and out.stat().st_size > 0 and not overwrite:
        raise BatchOutputExists(
            f"{out} already exists and is not an interrupted batch run (no {progress_path.name} beside it): "
            "choose another output file, or pass --overwrite to replace it"
        )
    done, offset = _resume_point(out, progress_path)
    report = BatchReport()
    if not done:
        # A fresh run: header only.
        out.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
        progress_path.write_text("", encoding="utf-8")
    else:
        with out.open("r+b") as fh:  # drop the rows of an initiative that was cut off half-way
            fh.truncate(offset)
    with out.open("a", encoding="utf-8", newline="") as fh, progress_path.open("a", encoding="utf-8") as prog:
        for ini in initiatives:
            if ini.id in done:
                report.skipped_already_done += 1
                if progress is not None:
                    progress(1)
                continue
            matches = recommender.recommend(ini, k, today=today).matches
            buf = io.StringIO()
            writer = csv.writer(buf)
            for m in matches:
                writer.writerow([
                    ini.id, m.rank, m.resource_id, m.title, m.provider or "", m.kind or "", f"{m.score:.6f}",
                    m.closes_at.isoformat() if m.closes_at else "", " | ".join(m.reasons),
                    " | ".join(m.near_misses), m.index_version or "", m.model_version or "",
                ])
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
            prog.write(f"{ini.id}\t{os.fstat(fh.fileno()).st_size}\n")
            prog.flush()
            os.fsync(prog.fileno())
            done.add(ini.id)
            report.done += 1
            report.rows += len(matches)
            if progress is not None:
                progress(1)
    return report
