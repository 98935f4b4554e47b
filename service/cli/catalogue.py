"""``maillage import`` (records from a file, or a real labelled set) and ``maillage status``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from matcher.importers import RECORD_KINDS, dataset_rows, read_file_rows, run_import
from matcher.importers.datasets import DATASETS
from service.audit import CLI, import_detail, record
from service.cli._common import errors, load_settings, open_store, out, print_report, progress_bar
from service.cli.index import show_index_status

__all__ = ["import_", "status"]


def import_(
    what: Annotated[str, typer.Argument(help="providers|resources|initiatives|outcomes, or a dataset: "
                                             + "|".join(DATASETS))],
    file: Annotated[Path | None, typer.Argument(help="JSONL or CSV file (record kinds only)")] = None,
    data: Annotated[Path | None, typer.Option(help="shared data folder (datasets only)")] = None,
) -> None:
    """Import records from a file, or one of the real labelled sets."""
    settings = load_settings()
    with errors():
        if what in DATASETS:
            rows = dataset_rows(what, data or settings.data)
            label = what
        else:
            kind = what.removesuffix("s")
            if kind not in RECORD_KINDS:
                raise ValueError(
                    f"unknown import target {what!r}: expected providers, resources, initiatives, "
                    f"outcomes, or a dataset ({', '.join(DATASETS)})"
                )
            if file is None:
                raise ValueError(f"maillage import {what} needs a FILE (JSONL or CSV)")
            rows = read_file_rows(file, kind)
            label = str(file)
        store = open_store(settings)
        with progress_bar() as progress:
            task = progress.add_task(f"Import {label}", total=None)
            report = run_import(store, rows, progress=lambda n: progress.advance(task, n))
        record(store, CLI, "import", target_kind=what.removesuffix("s") if what not in DATASETS else "dataset",
               target_id=what if what in DATASETS else None, detail=import_detail(report))
        print_report(report, label)


def status() -> None:
    """Counts of the catalogue and the published index."""
    settings = load_settings()
    with errors():
        store = open_store(settings)
        for key, value in settings.masked().items():
            out.print(f"{key}: {value}", highlight=False)
        for name, count in store.counts().items():
            out.print(f"{name}: {count}")
        show_index_status(store, settings)
