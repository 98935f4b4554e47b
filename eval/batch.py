"""Batch matching's input and output rows: a cohort of initiatives read from an import file, and the
columns of one output row per (initiative, rank). The sharded, resumable run is :mod:`eval.shards`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from matcher.importers.files import read_file_rows
from matcher.schemas import Initiative, describe_validation_error

__all__ = ["COLUMNS", "read_cohort"]

COLUMNS = (
    "initiative_id", "rank", "resource_id", "title", "provider", "kind", "score", "closes_at", "reasons",
    "near_misses", "index_version", "model_version",
)


def read_cohort(path: Path) -> tuple[list[Initiative], list[str]]:
    """Initiatives of a JSONL or CSV file (import format) and one message per rejected line."""
    good: list[Initiative] = []
    errors: list[str] = []
    for line, _, payload in read_file_rows(path, "initiative"):
        if isinstance(payload, str):
            errors.append(f"ligne {line} : {payload}")
            continue
        try:
            good.append(Initiative.model_validate(payload))
        except ValidationError as exc:
            errors.append(f"ligne {line} : " + "; ".join(describe_validation_error(exc)))
    return good, errors
