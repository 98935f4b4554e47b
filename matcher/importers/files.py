"""Reading records from JSONL and CSV files in Maillage's documented format.

JSONL: one JSON object per line with the fields of the schema (``docs/import-format.md``).
CSV: a header row naming the same fields; list fields (``themes``, ``coverage``, ``needs``,
``eligible_legal_forms``, ``eligible_stages``, ``needs_covered``, ``source_refs``) hold values separated by ``|``;
empty cells mean "not given". Line numbers in errors are 1-based lines of the file (the CSV header
is line 1).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from matcher import jsonio
from matcher._json_types import scalar_kind
from matcher.errors_fr import french_json_error
from matcher.importers.runner import Row
from matcher.schemas import Initiative, Outcome, Provider, Resource

__all__ = ["LIST_FIELDS", "RECORD_KINDS", "read_file_rows"]

RECORD_KINDS = ("provider", "resource", "initiative", "outcome")
LIST_FIELDS = frozenset(
    {"themes", "coverage", "needs", "eligible_legal_forms", "eligible_stages", "needs_covered", "source_refs"}
)
_BOOL_FIELDS = frozenset({"active", "consent"})
_JSON_KIND = {list: "une liste", str: "un texte", int: "un nombre", float: "un nombre", bool: "un booléen",
              type(None): "null"}
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?")
_MODELS: dict[str, type[BaseModel]] = {"provider": Provider, "resource": Resource, "initiative": Initiative,
                                       "outcome": Outcome}


def read_file_rows(path: Path, kind: str) -> Iterator[Row]:
    """Rows of ``path`` (``.jsonl``/``.ndjson``/``.json`` lines, or ``.csv``) as records of ``kind``."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"type d'enregistrement attendu parmi {', '.join(RECORD_KINDS)} ; reçu {kind!r}")
    if not path.is_file():
        raise FileNotFoundError(f"fichier introuvable : {path}")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        yield from _jsonl_rows(path, kind)
    elif suffix == ".csv":
        yield from _csv_rows(path, kind)
    else:
        raise ValueError(f"type de fichier non pris en charge {suffix!r} pour {path} : .jsonl ou .csv attendu")


def _jsonl_rows(path: Path, kind: str) -> Iterator[Row]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:  # strictly: replaced bytes would be stored as U+FFFD, the text silently changed
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, kind, _not_utf8(raw, exc)
                continue
            if not line.strip():
                continue
            try:
                payload = jsonio.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, kind, f"JSON mal formé : {french_json_error(exc.msg)} à la colonne {exc.colno}"
                continue
            except jsonio.JsonTooDeep as exc:
                yield line_no, kind, str(exc)
                continue
            if not isinstance(payload, dict):
                yield line_no, kind, f"un objet JSON est attendu, reçu {_JSON_KIND.get(type(payload), 'autre chose')}"
                continue
            yield line_no, kind, payload


def _csv_cell(name: str, value: str, numbers: frozenset[str] = frozenset()) -> Any:
    value = value.strip()
    if name in LIST_FIELDS:
        return [v.strip() for v in value.split("|") if v.strip()]
    if name in numbers and _NUMBER.fullmatch(value):  # a cell is text: a number read as one ("12,5" too)
        number = float(value.replace(",", "."))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if name in _BOOL_FIELDS:
        low = value.lower()
        if low in {"true", "1", "oui", "yes", "vrai"}:
            return True
        if low in {"false", "0", "non", "no", "faux"}:
            return False
    return value


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return (f"texte non UTF-8 : l'octet {raw[exc.start:exc.start + 1]!r} à la colonne {exc.start + 1} ne peut pas "
            "être lu (enregistrez le fichier en UTF-8)")


def _csv_text(path: Path) -> str:
    """The whole file as text, refused before any row when a byte is not UTF-8 (a CSV row may span
    lines, so one bad line cannot be skipped on its own)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        where = UnicodeDecodeError(exc.encoding, data[line_start:], exc.start - line_start, exc.end - line_start,
                                   exc.reason)
        message = _not_utf8(data[line_start:], where)
        raise ValueError(f"{path} : ligne {line} : {message} ; rien n'a été importé") from exc


def _csv_rows(path: Path, kind: str) -> Iterator[Row]:
    model = _MODELS[kind]
    numbers = frozenset(n for n, f in model.model_fields.items() if scalar_kind(f.annotation) in (int, float))
    with io.StringIO(_csv_text(path), newline="") as fh:
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
                yield line_no, kind, f"plus de cellules que les {len(reader.fieldnames or [])} colonnes de l'en-tête"
                continue
            payload = {
                k.strip(): _csv_cell(k.strip(), v, numbers)
                for k, v in record.items()
                if k and v is not None and v.strip() != ""
            }
            if payload:
                yield line_no, kind, payload
