"""Batch matching's input and output rows: a cohort of initiatives read (whole or streamed) from an
import file, and the columns of one output row per (initiative, rank). The sharded, resumable run is
:mod:`eval.shards`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from matcher.importers.files import read_file_rows
from matcher.schemas import Initiative, describe_validation_error

__all__ = ["COLUMNS", "count_rows", "iter_cohort", "read_cohort"]

COLUMNS = (
    "initiative_id", "rank", "resource_id", "title", "provider", "kind", "score", "closes_at", "reasons",
    "near_misses", "index_version", "model_version",
)


def iter_cohort(path: Path, errors: list[str], on_rejected: Callable[[], None] | None = None
                ) -> Iterator[Initiative]:
    """The initiatives of a JSONL or CSV file (import format), read as they are consumed; each rejected
    line appends its French message to ``errors`` and calls ``on_rejected``."""
    for line, _, payload in read_file_rows(path, "initiative"):
        if isinstance(payload, str):
            errors.append(f"ligne {line} : {payload}")
        else:
            try:
                yield Initiative.model_validate(payload)
                continue
            except ValidationError as exc:
                errors.append(f"ligne {line} : " + "; ".join(describe_validation_error(exc)))
        if on_rejected is not None:
            on_rejected()


def count_rows(path: Path) -> int:
    """How many records ``path`` holds, valid or not (a cheap first pass, for a progress bar's total)."""
    return sum(1 for _ in read_file_rows(path, "initiative"))


def read_cohort(path: Path) -> tuple[list[Initiative], list[str]]:
    """Initiatives of a JSONL or CSV file (import format) and one message per rejected line."""
    errors: list[str] = []
    return list(iter_cohort(path, errors)), errors
