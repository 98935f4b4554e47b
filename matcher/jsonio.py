"""JSON read from outside (API bodies, import files) with one nesting limit.

Python's decoder recurses once per level, so a body nested 50,000 deep ends in ``RecursionError``;
no record of Maillage is nested more than a few levels. :func:`loads` refuses anything deeper than
:data:`MAX_JSON_DEPTH` with one message (:data:`TOO_DEEP`, in French: staff read it in the API's
errors and the CLI's), before decoding. The API answers it ``400 json_too_deep`` on every endpoint.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "TOO_DEEP", "JsonTooDeep", "check_depth", "json_depth", "loads"]

MAX_JSON_DEPTH = 64
"""Arrays and objects inside one another; a record is 2 or 3 deep, an array of records one more."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""


def json_depth(text: str, *, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count); counting
    stops once past ``stop_above``. Malformed text gets a number too: decoding will say what is wrong."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def loads(text: str) -> Any:
    """``json.loads`` of ``text``, refusing nesting past :data:`MAX_JSON_DEPTH` (:class:`JsonTooDeep`);
    malformed JSON raises ``json.JSONDecodeError`` as usual."""
    check_depth(text)
    return json.loads(text)


TOO_DEEP = (f"JSON imbriqué sur plus de {MAX_JSON_DEPTH} niveaux (tableaux et objets les uns dans les autres) : "
            "aucun enregistrement de Maillage ne l'est")
"""The one message of the limit, the same for the API, the import files and the CLI."""


def check_depth(text: str) -> None:
    """Raise :class:`JsonTooDeep` (:data:`TOO_DEEP`) when ``text`` nests past :data:`MAX_JSON_DEPTH`."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise JsonTooDeep(TOO_DEEP)
