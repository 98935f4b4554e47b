"""Reading the real sets' JSON Lines files: line numbers that remember their file, id slugs, dates and
clipped texts. Used by :mod:`matcher.importers.datasets`, which re-exports :func:`slug`."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matcher.errors_fr import french_json_error

__all__ = ["Line", "clip", "iso_day", "read_jsonl", "slug"]


def slug(text: str, *, keep_case: bool = False, limit: int = 100) -> str:
    """ASCII id fragment: accents folded, anything else than ``[A-Za-z0-9._-]`` turned into ``-``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    if not keep_case:
        folded = folded.lower()
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", folded)).strip("-.") or "x"
    return cleaned[:limit].rstrip("-.")


class Line(int):
    """A line number that remembers its file, so errors say ``startups.jsonl:12``."""

    file: str

    def __new__(cls, n: int, file: str) -> Line:
        self = super().__new__(cls, n)
        self.file = file
        return self


def read_jsonl(path: Path) -> Iterator[tuple[Line, dict[str, Any] | str]]:
    """Each non-blank line of ``path``: its parsed object, or a message when it is not valid JSON."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Line(n, path.name), json.loads(line)
            except json.JSONDecodeError as exc:
                yield Line(n, path.name), f"JSON mal formé : {french_json_error(exc.msg)}"


def iso_day(day: date | str | None) -> str | None:
    """Midnight UTC of ``day`` (a date, ``YYYY``, ``YYYY-MM`` or an ISO date), in ISO format."""
    if day is None:
        return None
    text = str(day).strip()
    if isinstance(day, date):
        d = day
    elif re.fullmatch(r"\d{4}", text):  # some pages give a year only
        d = date(int(text), 1, 1)
    elif re.fullmatch(r"\d{4}-\d{2}", text):
        d = date(int(text[:4]), int(text[5:7]), 1)
    else:
        d = date.fromisoformat(text[:10])
    return datetime(d.year, d.month, d.day, tzinfo=UTC).isoformat()


def clip(text: str | None, limit: int) -> str:
    """``text`` stripped, cut to ``limit`` characters with an ellipsis when longer."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
