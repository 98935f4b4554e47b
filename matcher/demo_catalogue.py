"""The demo catalogue shipped in ``matcher/demo`` (written for Maillage; fictional but realistic)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from importlib import resources as importlib_resources
from pathlib import Path

from matcher.importers.files import read_file_rows
from matcher.importers.runner import ImportReport, Row, run_import
from matcher.store import Catalogue

__all__ = ["DEMO_FILES", "demo_dir", "load_demo"]

DEMO_FILES = (
    ("provider", "providers.jsonl"),
    ("resource", "resources.jsonl"),
    ("initiative", "initiatives.jsonl"),
    ("outcome", "outcomes.jsonl"),
)


def demo_dir() -> Path:
    return Path(str(importlib_resources.files("matcher") / "demo"))


# The catalogue was written in late 2026 with calls closing during 2027. Loaded in a later year, its
# resource dates move forward by whole years so the demo keeps showing open calls.
WRITTEN_IN = 2026


def _shift(value: str | None, years: int) -> str | None:
    if not value or years == 0:
        return value
    day = date.fromisoformat(value)
    if day.month == 2 and day.day == 29:
        day = day.replace(day=28)
    return day.replace(year=day.year + years).isoformat()


def _rows(years: int) -> Iterator[Row]:
    for kind, name in DEMO_FILES:
        for line, row_kind, payload in read_file_rows(demo_dir() / name, kind):
            if row_kind == "resource" and isinstance(payload, dict):
                for key in ("opens_at", "closes_at"):
                    if key in payload:
                        payload[key] = _shift(payload[key], years)
            yield line, row_kind, payload, name


def load_demo(
    store: Catalogue, *, today: date | None = None, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import the demo catalogue (idempotent: loading it twice changes nothing).

    ``today`` (default: the current date) decides how many years resource dates move forward.
    """
    years = max(0, (today or date.today()).year - WRITTEN_IN - 1)
    return run_import(store, _rows(years), progress=progress)
