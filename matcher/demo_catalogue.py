"""The demo catalogue shipped in ``matcher/demo`` (written for Maillage; fictional but realistic)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def _rows() -> Iterator[Row]:
    for kind, name in DEMO_FILES:
        yield from read_file_rows(demo_dir() / name, kind)


def load_demo(store: Catalogue, *, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import the demo catalogue (idempotent: loading it twice changes nothing)."""
    return run_import(store, _rows(), progress=progress)
