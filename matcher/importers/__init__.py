"""Loading records into the catalogue: documented JSONL/CSV files and the real labelled sets.

Every importer yields ``(line, kind, payload)`` rows; :func:`run_import` validates each row, stores
valid ones in batches (one transaction per batch) and reports rejected rows with their line number.
Imports are idempotent: records are upserted by id and outcomes carry deterministic ids.
"""

from matcher.importers.datasets import DATASETS, dataset_rows
from matcher.importers.files import RECORD_KINDS, read_file_rows
from matcher.importers.runner import ImportReport, RowError, run_import

__all__ = [
    "DATASETS",
    "RECORD_KINDS",
    "ImportReport",
    "RowError",
    "dataset_rows",
    "read_file_rows",
    "run_import",
]
