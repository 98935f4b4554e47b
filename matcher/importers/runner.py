"""Validate rows, store them in batches, and report what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from matcher import tables
from matcher._json_types import json_typed_record
from matcher.schemas import Initiative, Outcome, Provider, Resource, describe_validation_error
from matcher.store import Catalogue

__all__ = ["ImportReport", "Row", "RowError", "missing_reference", "run_import"]

# (line number in the source, record kind, payload or an error message for unreadable lines),
# optionally followed by the name of the source file when an importer reads several.
Row = tuple[Any, ...]

_MODELS: dict[str, type[BaseModel]] = {
    "provider": Provider,
    "resource": Resource,
    "initiative": Initiative,
    "outcome": Outcome,
}


@dataclass(frozen=True)
class RowError:
    """A rejected row: where it was and why, in one line."""

    line: int
    kind: str
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else f"ligne {self.line}"
        return f"{where} ({self.kind}) : {self.message}"


@dataclass
class ImportReport:
    """Counts of one import run, per record kind."""

    read: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def _add(self, counter: dict[str, int], kind: str, n: int) -> None:
        counter[kind] = counter.get(kind, 0) + n

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def unchanged(self, kind: str) -> int:
        return (
            self.read.get(kind, 0)
            - self.inserted.get(kind, 0)
            - self.updated.get(kind, 0)
            - sum(1 for e in self.errors if e.kind == kind)
        )


def run_import(
    store: Catalogue,
    rows: Iterable[Row],
    *,
    batch_size: int = 1000,
    check_references: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate ``rows`` and store the valid ones; bad rows are reported, good ones kept.

    Records are written in batches, each in its own transaction, providers before resources before
    initiatives before outcomes within a batch, so a crash leaves whole batches only; running the
    same import again completes it without duplicating anything.
    ``check_references`` rejects resources whose provider and outcomes whose initiative or resource
    the catalogue does not hold.
    """
    report = ImportReport()
    pending: dict[str, list[tuple[int, BaseModel]]] = {k: [] for k in _MODELS}
    known = _known_ids(store) if check_references else None
    n_pending = 0
    for row in rows:
        line, kind, payload = int(row[0]), row[1], row[2]
        file = row[3] if len(row) > 3 else getattr(row[0], "file", None)
        report._add(report.read, kind, 1)
        if progress is not None:
            progress(1)
        record = _validate(kind, payload, known)
        if isinstance(record, str):
            report.errors.append(RowError(line, kind, record, file))
            continue
        if known is not None and kind in known:
            known[kind].add(record.id)  # type: ignore[attr-defined]
        pending[kind].append((line, record))
        n_pending += 1
        if n_pending >= batch_size:
            _flush(store, pending, report)
            n_pending = 0
    _flush(store, pending, report)
    return report


def _known_ids(store: Catalogue) -> dict[str, set[str]]:
    """Ids the catalogue holds, per kind that a record may refer to (deleted resources included)."""
    known: dict[str, set[str]] = {}
    known["provider"] = {p.id for p in store.providers()}
    known["resource"] = {r.id for r in store.resources(include_deleted=True)}
    with store.engine.connect() as conn:
        known["initiative"] = set(conn.execute(select(tables.initiatives.c.id)).scalars())
    return known


def _validate(kind: str, payload: Any, known: dict[str, set[str]] | None) -> BaseModel | str:
    """The record a row's payload parses into, or the one-line reason it is rejected."""
    if isinstance(payload, str):  # a line the importer could not read: its message
        return payload
    model = _MODELS[kind]
    # Numbers as numbers, booleans as booleans (pydantic alone reads "12" and true as amounts).
    mistyped = json_typed_record(model, payload) if isinstance(payload, dict) else []
    if mistyped:
        return "; ".join(mistyped)
    try:
        record = model.model_validate(payload)
    except ValidationError as exc:
        return "; ".join(describe_validation_error(exc))
    return missing_reference(kind, record, known) or record


def _flush(store: Catalogue, pending: dict[str, list[tuple[int, BaseModel]]], report: ImportReport) -> None:
    """Write the pending records, providers before resources before initiatives before outcomes."""
    for kind in ("provider", "resource", "initiative"):
        batch = pending[kind]
        if not batch:
            continue
        records: list[Any] = [m for _, m in batch]
        upsert: Callable[[list[Any]], tuple[int, int]] = {  # type: ignore[assignment]
            "provider": store.upsert_providers,
            "resource": store.upsert_resources,
            "initiative": store.upsert_initiatives,
        }[kind]
        ins, upd = upsert(records)
        report._add(report.inserted, kind, ins)
        report._add(report.updated, kind, upd)
        batch.clear()
    if pending["outcome"]:
        added = store.append_outcomes([m for _, m in pending["outcome"]])  # type: ignore[misc]
        report._add(report.inserted, "outcome", added)
        pending["outcome"].clear()


def missing_reference(kind: str, record: BaseModel, known: dict[str, set[str]] | None) -> str | None:
    """What ``record`` names that ``known`` (ids by kind) does not hold, or None (None too without ``known``)."""
    if known is None:
        return None
    if isinstance(record, Resource) and record.provider_id not in known["provider"]:
        return f"provider_id : financeur inconnu {record.provider_id!r} (importez d'abord son financeur)"
    if isinstance(record, Outcome):
        if record.initiative_id not in known["initiative"]:
            return f"initiative_id : initiative inconnue {record.initiative_id!r}"
        if record.resource_id not in known["resource"]:
            return f"resource_id : ressource inconnue {record.resource_id!r}"
    return None
