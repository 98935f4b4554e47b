"""Bulk import of one kind of record, as a JSON array or JSON lines; the good rows are stored."""

import json
from typing import Any, Literal

import anyio
from fastapi import Request

from matcher import jsonio
from matcher.errors_fr import french_json_error
from matcher.importers import run_import
from service.api.deps import AdminKey, EngineDep
from service.api.routing import too_deep, v1_router
from service.api_models import ImportResult
from service.audit import import_detail, record
from service.guard import ApiError

__all__ = ["router"]

router = v1_router("catalogue")
_JSON_KIND = {dict: "un objet", list: "une liste", str: "un texte", int: "un nombre", float: "un nombre",
              bool: "un booléen", type(None): "null"}


@router.post("/import/{kind}", response_model=ImportResult,
             summary="Bulk import: a JSON array or JSON lines of records of one kind",
             description="Good rows are stored, bad ones are counted in `rejected` and named in `errors` (a row "
                         "that is not a JSON object included): the answer is 200 as long as the body can be read.",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {}}},
                 "application/x-ndjson": {"schema": {"type": "string", "pattern": r"\S"}},  # not blank
             }}})
async def bulk_import(request: Request, engine: EngineDep,
                      kind: Literal["providers", "resources", "initiatives", "outcomes"],
                      key: AdminKey) -> ImportResult:
    raw = await request.body()
    rows = _import_rows(raw, kind.removesuffix("s"), request.headers.get("content-type", ""))
    report = await anyio.to_thread.run_sync(lambda: run_import(engine.store, rows))
    if kind in ("resources", "providers"):
        await anyio.to_thread.run_sync(engine.sync)
    if kind == "initiatives":
        engine.initiatives_changed()
    await anyio.to_thread.run_sync(lambda: record(
        engine.store, key, "import", target_kind=kind.removesuffix("s"), detail=import_detail(report)))
    return ImportResult(read=report.read, inserted=report.inserted, updated=report.updated,
                        rejected=report.rejected, errors=[str(e) for e in report.errors[:200]])


def _record(item: Any) -> Any:
    if isinstance(item, dict):
        return item
    return f"un objet JSON est attendu, reçu {_JSON_KIND.get(type(item), 'autre chose')}"


def _import_rows(raw: bytes, kind: str, content_type: str) -> list[tuple[int, str, Any]]:
    """``(line, kind, record or error)`` rows: an ``application/json`` body is one array of records;
    JSON lines otherwise (``application/x-ndjson``), each line read on its own."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # replaced bytes would have been stored as U+FFFD
        line_no = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ApiError(422, "invalid_input", f"le corps de la requête n'est pas du texte UTF-8 : ligne {line_no}, "
                       f"colonne {column} : l'octet {exc.start} ({raw[exc.start:exc.start + 1]!r}) ne peut pas "
                       "être lu ; rien n'a été importé",
                       details=[{"field": "body", "message": f"texte non UTF-8 (ligne {line_no})"}]) from exc
    as_array = "json" in content_type and "ndjson" not in content_type
    if as_array or ("ndjson" not in content_type and text.lstrip().startswith("[")):
        return _array_rows(text, kind)
    rows: list[tuple[int, str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = jsonio.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((n, kind, f"JSON mal formé : {french_json_error(exc.msg)} à la colonne {exc.colno}"))
            continue
        except jsonio.JsonTooDeep as exc:
            rows.append((n, kind, str(exc)))
            continue
        rows.append((n, kind, _record(item)))
    if not rows:
        raise ApiError(422, "invalid_input", "le corps de la requête ne contient aucun enregistrement")
    return rows


def _array_rows(text: str, kind: str) -> list[tuple[int, str, Any]]:
    try:
        payload = jsonio.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid_input",
                       f"JSON mal formé : {french_json_error(exc.msg)} à la ligne {exc.lineno}, "
                       f"colonne {exc.colno}") from exc
    except jsonio.JsonTooDeep as exc:  # without a content type the route's own check let it pass as lines
        raise too_deep(exc) from exc
    if not isinstance(payload, list):
        raise ApiError(422, "invalid_input", "un corps application/json est une liste d'enregistrements, reçu "
                       f"{_JSON_KIND.get(type(payload), 'autre chose')} "
                       "(envoyez des lignes JSON en application/x-ndjson)",
                       details=[{"field": "body", "message": "une liste est attendue"}])
    return [(n, kind, _record(item)) for n, item in enumerate(payload, start=1)]
