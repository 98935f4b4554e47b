"""Validation errors in French: each pydantic error type the schemas can raise has a French message
(built here for real, then read), and a walk over the schemas' validators fails on a type left out."""

from __future__ import annotations

import inspect
import re
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

import service.api_models as api_models
from matcher import schemas
from matcher._fields import EMAIL_PATTERN, ID_PATTERN
from matcher._identifiers import IDENTIFIER_ERROR
from matcher.errors_fr import MESSAGES, PATTERN_HELP, french_json_error, french_message
from matcher.schemas import describe_validation_error
from tests.english import english_words


class _Colour(Enum):
    blue = "blue"
    red = "red"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _errors(annotation: Any, value: Any, *, json: bool = False) -> list[dict[str, Any]]:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    with pytest.raises(ValidationError) as info:
        adapter.validate_json(value) if json else adapter.validate_python(value)
    return [dict(e) for e in info.value.errors()]


# One real case per error type: (annotation, value given, text the French message must hold).
CASES: dict[str, tuple[Any, Any, str]] = {
    "missing": (_Strict, {}, "obligatoire"),
    "extra_forbidden": (_Strict, {"name": "x", "colour": "blue"}, "champ inconnu"),
    "model_type": (_Strict, 12, "objet JSON"),
    "dict_type": (dict[str, int], 12, "objet JSON"),
    "list_type": (list[int], 12, "liste"),
    "string_type": (str, 12, "texte"),
    "string_too_short": (Annotated[str, StringConstraints(min_length=3)], "ab", "3 caractères"),
    "string_too_long": (Annotated[str, StringConstraints(max_length=5)], "abcdefgh", "5 caractères"),
    "string_pattern_mismatch": (Annotated[str, StringConstraints(pattern=ID_PATTERN)], "bad id!", "identifiant"),
    "int_type": (int, [1], "entier"),
    "int_parsing": (int, "douze", "entier"),
    "int_from_float": (int, 1.5, "décimale"),
    "float_type": (float, [1], "nombre"),
    "float_parsing": (float, "douze", "nombre"),
    "finite_number": (Annotated[float, Field(allow_inf_nan=False)], float("inf"), "fini"),
    "bool_type": (bool, [1], "vrai ou faux"),
    "bool_parsing": (bool, "peut-être", "vrai ou faux"),
    "greater_than_equal": (Annotated[float, Field(ge=0)], -5, "supérieur ou égal à 0"),
    "greater_than": (Annotated[int, Field(gt=2)], 1, "strictement supérieur à 2"),
    "less_than_equal": (Annotated[float, Field(le=1e12)], 2e12, "inférieur ou égal à 1000000000000"),
    "less_than": (Annotated[int, Field(lt=2)], 3, "strictement inférieur à 2"),
    "too_short": (Annotated[list[int], Field(min_length=1)], [], "au moins 1 élément"),
    "too_long": (Annotated[list[int], Field(max_length=2)], [1, 2, 3], "au plus 2 éléments"),
    "enum": (_Colour, "green", "'blue' ou 'red'"),
    "literal_error": (Literal["pin", "exclude"], "keep", "'pin' ou 'exclude'"),
    "date_type": (date, [1], "AAAA-MM-JJ"),
    "date_from_datetime_parsing": (date, "le 3 mai", "AAAA-MM-JJ"),
    "date_from_datetime_inexact": (date, datetime(2026, 1, 1, 10, 30), "sans heure"),
    "datetime_type": (datetime, [1], "heure"),
    "datetime_from_date_parsing": (datetime, "demain", "heure"),
    "json_invalid": (_Strict, '{"name": ', "JSON mal formé"),
    "value_error": (schemas.TerritoryCode, "99", "département inconnu"),
    IDENTIFIER_ERROR: (schemas.Rna, "12345", "numéro RNA"),
}
# Kept for other inputs than these tests can give: pydantic 2.14 reports a bad date text as
# date_from_datetime_parsing (datetime_from_date_parsing), never date_parsing (datetime_parsing).
NOT_BUILT = {"model_attributes_type", "json_type", "union_tag_invalid", "datetime_object_invalid", "date_parsing",
             "datetime_parsing"}


def test_every_french_message_has_a_real_case() -> None:
    assert set(MESSAGES) - NOT_BUILT == set(CASES), "add a case for each type, or drop its message"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_error_type_reads_in_french(kind: str) -> None:
    annotation, value, expected = CASES[kind]
    errors = _errors(annotation, value, json=kind == "json_invalid")
    error = next(e for e in errors if e["type"] == kind)
    text = french_message(error) if kind != "json_invalid" else f"JSON mal formé : {french_message(error)}"
    assert expected in text, (kind, text)
    assert not english_words(text), (kind, text, english_words(text))


def test_lines_name_the_field_and_the_value_given_in_french() -> None:
    with pytest.raises(ValidationError) as info:
        schemas.MatchQuery(text="ab", stage="fini", colour="bleu")  # type: ignore[call-arg,arg-type]
    lines = describe_validation_error(info.value)
    assert lines[0] == "text : trop court : 3 caractères au moins, reçu 'ab'"
    assert lines[1].startswith("stage : valeur non prévue : attendu 'idee', ") and "reçu 'fini'" in lines[1]
    assert lines[2] == "colour : champ inconnu : ce champ n'existe pas pour cet objet, reçu 'bleu'"


def test_the_email_error_says_the_shape_not_the_regex() -> None:
    with pytest.raises(ValidationError) as info:
        api_models.WidgetInitiative(title="Jardin", consent=True, contact_email="pas une adresse")
    [line] = describe_validation_error(info.value)
    assert line.startswith("contact_email : adresse électronique attendue, de la forme nom@exemple.fr")
    assert EMAIL_PATTERN not in line and "^" not in line


def test_json_parsers_messages_are_french() -> None:
    assert french_json_error("Expecting property name enclosed in double quotes") == \
        "nom de propriété entre guillemets doubles attendu"
    assert french_json_error("EOF while parsing an object at line 1 column 9") == "fin du texte avant la fin de l'objet"
    assert french_json_error("something new") == "syntaxe invalide"


# --- which types can the schemas raise? -------------------------------------------------------------

_BOUNDS = {"ge": "greater_than_equal", "gt": "greater_than", "le": "less_than_equal", "lt": "less_than"}
_ALWAYS = {"str": {"string_type"}, "int": {"int_type", "int_parsing", "int_from_float"},
           "float": {"float_type", "float_parsing", "finite_number"}, "bool": {"bool_type", "bool_parsing"},
           "date": {"date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"},
           "datetime": {"datetime_type", "datetime_parsing", "datetime_from_date_parsing", "datetime_object_invalid"},
           "list": {"list_type"}, "enum": {"enum"}, "literal": {"literal_error"}, "model": {"model_type"},
           "model-fields": {"missing", "model_attributes_type"}, "dict": {"dict_type"}}
_SILENT = {"nullable", "default", "definitions", "definition-ref", "union", "any", "json-or-python",
           "lax-or-strict", "chain", "model-field", "is-instance", "none"}
_FUNCTIONS = {"function-after", "function-before", "function-plain", "function-wrap"}
_KNOWN = set(_ALWAYS) | _SILENT | _FUNCTIONS


def _raised_by(node: dict[str, Any]) -> set[str]:
    kind = node["type"]
    found = set(_ALWAYS.get(kind, set()))
    found |= {t for key, t in _BOUNDS.items() if node.get(key) is not None}
    if kind == "str":
        found |= {"string_too_short"} if node.get("min_length") else set()
        found |= {"string_too_long"} if node.get("max_length") is not None else set()
        found |= {"string_pattern_mismatch"} if node.get("pattern") else set()
    if kind == "list":
        found |= {"too_short"} if node.get("min_length") else set()
        found |= {"too_long"} if node.get("max_length") is not None else set()
    if (kind == "model-fields" and node.get("extra_behavior") == "forbid") or (
            kind == "model" and (node.get("config") or {}).get("extra_fields_behavior") == "forbid"):
        found.add("extra_forbidden")
    if kind in _FUNCTIONS:
        function = node["function"]["function"]
        found.add("value_error")
        if "_identifiers" in getattr(function, "__module__", ""):
            found.add(IDENTIFIER_ERROR)
    assert kind in _KNOWN, \
        f"core schema node {kind!r}: say which error types it raises in tests/matcher/test_errors_fr.py"
    return found


def _walk(value: Any, found: set[str], patterns: set[str]) -> None:
    if isinstance(value, dict):
        if (isinstance(value.get("type"), str) and value["type"] in _KNOWN | {"schema"}) or (
                isinstance(value.get("type"), str) and "schema" in value):
            found |= _raised_by(value)
            if value["type"] == "str" and value.get("pattern"):
                patterns.add(value["pattern"])
        for key, item in value.items():
            if key not in ("metadata", "serialization", "ref"):
                _walk(item, found, patterns)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, found, patterns)


def _models() -> list[type[BaseModel]]:
    out = []
    for module in (schemas, api_models):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                out.append(obj)
    return out


def test_no_schema_can_raise_an_error_type_without_a_french_message() -> None:
    found: set[str] = {"json_invalid"}  # request bodies and import lines are JSON first
    patterns: set[str] = set()
    models = _models()
    assert len(models) >= 20
    for model in models:
        _walk(model.__pydantic_core_schema__, found, patterns)
    assert {"missing", "extra_forbidden", "string_too_short", "string_pattern_mismatch", "enum", "literal_error",
            "greater_than_equal", IDENTIFIER_ERROR} <= found  # the walk does reach the fields
    missing = sorted(found - set(MESSAGES))
    assert not missing, f"error types with no French message in matcher.errors_fr.MESSAGES: {missing}"
    unexplained = sorted(p for p in patterns if p not in PATTERN_HELP)
    assert not unexplained, f"patterns with no French help in matcher.errors_fr.PATTERN_HELP: {unexplained}"


def test_messages_hold_no_regex() -> None:
    for text in PATTERN_HELP.values():
        assert not re.search(r"[\^$\\\[\]]", text), text
