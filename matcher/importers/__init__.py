"""Loading records into the catalogue: documented JSONL/CSV files and the real labelled sets.

Every importer yields ``(line, kind, payload)`` rows; :func:`run_import` validates each row, stores
valid ones in batches (one transaction per batch) and reports rejected rows with their line number.
Imports are idempotent: records are upserted by id and outcomes carry deterministic ids.

Real catalogues (aides-territoires, Etalab dispositif-aide, TEE programmes) are read by their own
modules into items that :func:`sync_source` stores as one *source*: re-importing updates what
changed, inactivates what disappeared and merges the same aid brought by two sources
(:mod:`matcher.importers.sync`, :data:`FORMATS`, :func:`import_catalogue`).
"""

from matcher.importers.catalogues import FORMATS, import_catalogue
from matcher.importers.datasets import DATASETS, dataset_rows
from matcher.importers.files import RECORD_KINDS, read_file_rows
from matcher.importers.runner import ImportReport, RowError, run_import
from matcher.importers.sync import SyncReport, sync_source

__all__ = [
    "DATASETS",
    "FORMATS",
    "RECORD_KINDS",
    "ImportReport",
    "RowError",
    "SyncReport",
    "dataset_rows",
    "import_catalogue",
    "read_file_rows",
    "run_import",
    "sync_source",
]
