"""Reading records from JSONL and CSV files in Maillage's documented format.

JSONL: one JSON object per line with the fields of the schema (``docs/import-format.md``).
CSV: a header row naming the same fields; list fields (``themes``, ``coverage``, ``needs``,
``eligible_legal_forms``, ``eligible_stages``, ``needs_covered``, ``source_refs``) hold values separated by ``|``;
empty cells mean "not given". Line numbers in errors are 1-based lines of the file (the CSV header
is line 1).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matcher import jsonio
from matcher.importers.runner import Row

__all__ = ["LIST_FIELDS", "RECORD_KINDS", "read_file_rows"]

RECORD_KINDS = ("provider", "resource", "initiative", "outcome")
LIST_FIELDS = frozenset(
    {"themes", "coverage", "needs", "eligible_legal_forms", "eligible_stages", "needs_covered", "source_refs"}
)
_BOOL_FIELDS = frozenset({"active", "consent"})


def read_file_rows(path: Path, kind: str) -> Iterator[Row]:
    """Rows of ``path`` (``.jsonl``/``.ndjson``/``.json`` lines, or ``.csv``) as records of ``kind``."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"record kind must be one of {', '.join(RECORD_KINDS)}; got {kind!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        yield from _jsonl_rows(path, kind)
    elif suffix == ".csv":
        yield from _csv_rows(path, kind)
    else:
        raise ValueError(f"unsupported file type {suffix!r} for {path}: expected .jsonl or .csv")


def _jsonl_rows(path: Path, kind: str) -> Iterator[Row]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                payload = jsonio.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, kind, f"malformed JSON: {exc.msg} at column {exc.colno}"
                continue
            except jsonio.JsonTooDeep as exc:
                yield line_no, kind, str(exc)
                continue
            if not isinstance(payload, dict):
                yield line_no, kind, f"expected a JSON object, got {type(payload).__name__}"
                continue
            yield line_no, kind, payload


def _csv_cell(name: str, value: str) -> Any:
    value = value.strip()
    if name in LIST_FIELDS:
        return [v.strip() for v in value.split("|") if v.strip()]
    if name in _BOOL_FIELDS:
        low = value.lower()
        if low in {"true", "1", "oui", "yes", "vrai"}:
            return True
        if low in {"false", "0", "non", "no", "faux"}:
            return False
    return value


def _csv_rows(path: Path, kind: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        for record in reader:
            line_no = reader.line_num
            if None in record:
                yield line_no, kind, f"more cells than the {len(reader.fieldnames or [])} header columns"
                continue
            payload = {
                k.strip(): _csv_cell(k.strip(), v)
                for k, v in record.items()
                if k and v is not None and v.strip() != ""
            }
            if payload:
                yield line_no, kind, payload
