"""Validation errors in French: one message per pydantic error ``type`` the schemas can raise.

pydantic writes its messages in English (« Field required », « String should have at least 3
characters »). Everything a citizen or staff member reads is French, so every face (API, console, CLI,
importers) turns an error into text through :func:`french_message`; the machine codes (``type``,
``loc``) stay as pydantic gives them. ``tests/matcher/test_errors_fr.py`` builds each error type and
walks the schemas' validators, so a schema that could raise a type missing from :data:`MESSAGES` fails
the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from matcher._fields import EMAIL_PATTERN, ID_PATTERN
from matcher._identifiers import IDENTIFIER_ERROR

__all__ = ["MESSAGES", "PATTERN_HELP", "french_json_error", "french_list", "french_message"]

Ctx = Mapping[str, Any]


def french_list(expected: str) -> str:
    """pydantic's ``"'a', 'b' or 'c'"`` → ``"'a', 'b' ou 'c'"``."""
    head, sep, last = str(expected).rpartition(" or ")
    return f"{head} ou {last}" if sep else str(expected)


def _num(value: Any) -> str:
    """``0.0`` → ``0``, ``1e12`` → ``1000000000000``, ``2.5`` → ``2,5``: a bound as French writes it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace(".", ",") if isinstance(value, float) else str(value)


def _n(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count in (0, 1) else many}"


def _items(ctx: Ctx, bound: str, word: str) -> str:
    return (f"{word} {_n(ctx.get(bound), 'élément', 'éléments')} attendus, "
            f"{_n(ctx.get('actual_length'), 'reçu', 'reçus')}")


# One entry per error type; each reads the error's ctx (the limits, the values allowed).
MESSAGES: dict[str, Callable[[Ctx], str]] = {
    "missing": lambda c: "champ obligatoire absent",
    "extra_forbidden": lambda c: "champ inconnu : ce champ n'existe pas pour cet objet",
    "model_type": lambda c: "un objet JSON est attendu",
    "model_attributes_type": lambda c: "un objet JSON est attendu",
    "dict_type": lambda c: "un objet JSON est attendu",
    "list_type": lambda c: "une liste est attendue",
    "string_type": lambda c: "du texte est attendu",
    "string_too_short": lambda c: f"trop court : {_n(c.get('min_length'), 'caractère', 'caractères')} au moins",
    "string_too_long": lambda c: f"trop long : {_n(c.get('max_length'), 'caractère', 'caractères')} au plus",
    "int_type": lambda c: "un nombre entier est attendu",
    "int_parsing": lambda c: "un nombre entier est attendu",
    "int_from_float": lambda c: "un nombre entier est attendu, sans partie décimale",
    "float_type": lambda c: "un nombre est attendu",
    "float_parsing": lambda c: "un nombre est attendu",
    "finite_number": lambda c: "un nombre fini est attendu",
    "bool_type": lambda c: "vrai ou faux (true ou false) est attendu",
    "bool_parsing": lambda c: "vrai ou faux (true ou false) est attendu",
    "greater_than_equal": lambda c: f"doit être supérieur ou égal à {_num(c.get('ge'))}",
    "greater_than": lambda c: f"doit être strictement supérieur à {_num(c.get('gt'))}",
    "less_than_equal": lambda c: f"doit être inférieur ou égal à {_num(c.get('le'))}",
    "less_than": lambda c: f"doit être strictement inférieur à {_num(c.get('lt'))}",
    "too_short": lambda c: _items(c, "min_length", "au moins"),
    "too_long": lambda c: _items(c, "max_length", "au plus"),
    "enum": lambda c: f"valeur non prévue : attendu {french_list(c.get('expected', ''))}",
    "literal_error": lambda c: f"valeur non prévue : attendu {french_list(c.get('expected', ''))}",
    "date_type": lambda c: "une date AAAA-MM-JJ est attendue",
    "date_parsing": lambda c: "date invalide : une date AAAA-MM-JJ existante est attendue",
    "date_from_datetime_parsing": lambda c: "date invalide : une date AAAA-MM-JJ existante est attendue",
    "date_from_datetime_inexact": lambda c: "une date sans heure est attendue",
    "datetime_type": lambda c: "une date et une heure AAAA-MM-JJTHH:MM:SS sont attendues",
    "datetime_parsing": lambda c: "date et heure invalides : AAAA-MM-JJTHH:MM:SS+HH:MM attendu",
    "datetime_from_date_parsing": lambda c: "date et heure invalides : AAAA-MM-JJTHH:MM:SS+HH:MM attendu",
    "datetime_object_invalid": lambda c: "date et heure invalides",
    "json_invalid": lambda c: "JSON mal formé",
    "json_type": lambda c: "du texte JSON est attendu",
    "union_tag_invalid": lambda c: "valeur non prévue",
    "value_error": lambda c: str(c.get("error", "valeur invalide")),
    # Raised by matcher._identifiers with a French message of its own (SIREN, SIRET, RNA).
    IDENTIFIER_ERROR: lambda c: f"{c.get('message')}, reçu {c.get('given')}",
}

# What a pattern means, said in words (the regex itself means nothing to the person who typed).
PATTERN_HELP: dict[str, str] = {
    ID_PATTERN: "identifiant attendu : 1 à 128 caractères parmi les lettres, les chiffres et . _ : @ -, commençant "
                "par une lettre ou un chiffre",
    r"^https?://": "adresse attendue commençant par http:// ou https://",
    EMAIL_PATTERN: "adresse électronique attendue, de la forme nom@exemple.fr",
    r"^[^:\s]+:\S": "référence attendue de la forme « source:clé », par exemple « aides-territoires:at-3d9e »",
}
MESSAGES["string_pattern_mismatch"] = lambda c: PATTERN_HELP.get(str(c.get("pattern")), "format non reconnu")


def french_message(error: Mapping[str, Any]) -> str:
    """The French text of one pydantic error (an item of ``ValidationError.errors()``), without the
    field's name or the value given; an unknown type still gets French text, naming its code."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    message = MESSAGES.get(kind)
    if message is None:
        return f"valeur refusée ({kind})"
    return message(ctx).removeprefix("Value error, ")


# What JSON parsers say (Python's json module, and pydantic's parser for request bodies), in French.
_JSON_ERRORS = (
    ("Expecting property name enclosed in double quotes", "nom de propriété entre guillemets doubles attendu"),
    ("Expecting value", "valeur attendue"),
    ("Expecting ',' delimiter", "virgule attendue"),
    ("Expecting ':' delimiter", "deux-points attendus"),
    ("Unterminated string", "texte entre guillemets non terminé"),
    ("Extra data", "données en trop après l'objet"),
    ("Invalid control character", "caractère de contrôle interdit dans un texte"),
    ("Invalid \\escape", "séquence d'échappement invalide"),
    ("Illegal trailing comma", "virgule en trop"),
    ("EOF while parsing", "fin du texte avant la fin de l'objet"),
    ("key must be a string", "nom de propriété entre guillemets doubles attendu"),
    ("expected value", "valeur attendue"),
    ("expected `,` or `}`", "virgule ou accolade fermante attendue"),
    ("expected `,` or `]`", "virgule ou crochet fermant attendu"),
    ("expected `:`", "deux-points attendus"),
    ("trailing comma", "virgule en trop"),
    ("trailing characters", "données en trop après l'objet"),
    ("invalid escape", "séquence d'échappement invalide"),
    ("control character", "caractère de contrôle interdit dans un texte"),
    ("invalid unicode code point", "point de code Unicode invalide"),
    ("lone leading surrogate", "point de code Unicode invalide"),
)


def french_json_error(message: str) -> str:
    """A JSON parser's English message (``"Expecting value"``, ``"EOF while parsing an object"``) in
    French; ``"syntaxe invalide"`` for one not listed."""
    for english, french in _JSON_ERRORS:
        if english in str(message):
            return french
    return "syntaxe invalide"
