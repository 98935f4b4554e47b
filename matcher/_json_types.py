"""The JSON types a record's scalars must come as from outside (API bodies, JSON imports, CSV cells once
read): numbers as numbers, booleans as booleans, dates and times as ISO text.

Left to itself pydantic would also read ``"12"`` as a number, ``true`` as 1, ``"yes"`` or ``1`` as
true, and ``0`` or ``"0"`` as 1970-01-01 (a Unix time): a client's mistake would silently become a
value. The API's request bodies and the importer apply the same rule (:func:`json_typed`).
"""

from __future__ import annotations

import re
import types
import typing
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel

__all__ = ["NUL_MESSAGE", "iso_text", "json_typed", "json_typed_record", "refuse_nul", "scalar_kind"]

_ISO = {date: re.compile(r"^\d{4}-\d{2}-\d{2}$"), datetime: re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")}
_SHAPES = {date: "AAAA-MM-JJ", datetime: "AAAA-MM-JJTHH:MM:SS+HH:MM"}
_KIND_FR = {date: "une date", datetime: "une date et une heure"}
_SCALARS = (bool, int, float, datetime, date)


def iso_text(value: Any, kind: type[date]) -> Any:
    """``value`` if it is a ``kind`` or ISO text of one; else ``ValueError`` saying the shape expected."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO[kind].match(value.strip())):
        return value
    raise ValueError(f"{_KIND_FR[kind]} écrite {_SHAPES[kind]} (ISO 8601) est attendue, reçu {value!r}")


def json_typed(value: Any, kind: type) -> Any:
    """``value`` if it has the JSON type of ``kind`` (a scalar of :func:`scalar_kind`); else ``ValueError``."""
    if kind in (date, datetime):
        return iso_text(value, kind)
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"vrai ou faux (true ou false) est attendu, reçu {value!r}")
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"un nombre est attendu, reçu {value!r}")
    return value


def scalar_kind(annotation: Any) -> type | None:
    """The scalar a field holds (bool, int, float, datetime or date), through ``| None`` and
    ``Annotated``; ``None`` for anything else (strings, enums, lists, models)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return scalar_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {scalar_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return annotation if annotation in _SCALARS else None


def json_typed_record(model: type[BaseModel], payload: dict[str, Any]) -> list[str]:
    """One ``field : problem, reçu value`` line per scalar of ``payload`` not given as its JSON type."""
    problems = []
    for name, value in payload.items():
        field = model.model_fields.get(name)
        kind = scalar_kind(field.annotation) if field is not None else None
        if kind is None or value is None:
            continue
        try:
            json_typed(value, kind)
        except ValueError as exc:
            problems.append(f"{name} : {exc}")
    return problems


NUL_MESSAGE = "le caractère NUL (U+0000) n'est permis dans aucun texte"


def refuse_nul(value: Any) -> Any:
    """``value`` unless a string in it (through lists and dicts) holds U+0000, which PostgreSQL cannot
    store and no text needs: ``ValueError`` then, so the field is named in the answer."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(NUL_MESSAGE)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    return value
