"""French identifiers of a structure: SIREN, SIRET (checked with python-stdnum) and RNA numbers.

Each check accepts the number as people write it (spaces or dots between digits, any case for an
RNA number), answers it compacted, treats an empty value as not given, and refuses anything else with
an error in French that names the identifier, the expected form and an example, never a regex. The
same form is published in the JSON Schema (:data:`SIREN_PATTERN`…), written with explicit
characters only so that Python's ``re`` and JSON Schema's regex dialect read it alike: the schema
never calls valid a shape that the server refuses (check digits, all-zero numbers and a SIRET that
does not extend its SIREN are said in the field's description, and refused by the server).
Imported through :mod:`matcher._fields`.
"""

from __future__ import annotations

import re

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret

__all__ = [
    "IDENTIFIER_ERROR",
    "RNA_PATTERN",
    "SIREN_PATTERN",
    "SIRET_PATTERN",
    "check_rna",
    "check_siren",
    "check_siret",
    "siret_extends_siren",
]

IDENTIFIER_ERROR = "identifier_invalid"
"""Pydantic error type of these checks; their message already quotes the value given."""

# What pydantic trims from both ends of a string (Unicode White_Space), spelled out: ``\s`` means
# something else in each regex dialect.
_TRIM = r"[\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
_SEP = r"[ .\u00a0\u202f]?"
"""One optional separator between two digits: a space (plain, non-breaking or narrow) or a dot."""


def _digits(n: int) -> str:
    return f"[0-9](?:{_SEP}[0-9]){{{n - 1}}}"


def _optional(form: str) -> str:
    """A JSON Schema pattern: ``form`` between trimmed spaces, or nothing but spaces (not given)."""
    return f"^{_TRIM}(?:{form})?{_TRIM}$"


SIREN_PATTERN = _optional(_digits(9))
SIRET_PATTERN = _optional(_digits(14))
# ``W``, the département of the registry office (01…95, 2A, 2B, or 9 and a capital letter for the
# overseas offices: 9R La Réunion, 9M Martinique, 9T Mayotte…), then 7 digits (the office within the
# département, then a serial).
_RNA_FORM = rf"[Ww]{_SEP}(?:[0-9]{{2}}|2[AaBb]|9[A-Za-z]){_SEP}[0-9](?:{_SEP}[0-9]){{6}}"
RNA_PATTERN = _optional(_RNA_FORM)

_SEPARATORS = re.compile(r"[ .\u00a0\u202f]")

_SIREN_FORM = "9 chiffres (par exemple 130 025 265)"
_SIRET_FORM = "14 chiffres, le SIREN puis les 5 chiffres de l'établissement (par exemple 130 025 265 00013)"
_RNA_FORM_FR = ("la lettre W, le département du greffe sur 2 caractères (93, 2A, 2B, ou 9 et une lettre "
                "outre-mer comme 9R) puis 7 chiffres (par exemple W931234567, W2A1000123 ou W9R1001234)")


def _refuse(message: str, value: str) -> PydanticCustomError:
    given = value if len(value) <= 40 else value[:39] + "…"
    return PydanticCustomError(IDENTIFIER_ERROR, "{message}, reçu {given}", {"message": message, "given": repr(given)})


def _given(value: str | None, form: str) -> str | None:
    """``value`` without its separators, None when empty; refused when it is not of ``form``."""
    if value is None or not value.strip():
        return None
    if not re.fullmatch(form, value.strip()):
        return ""
    return _SEPARATORS.sub("", value.strip())


def check_siren(value: str | None) -> str | None:
    """A SIREN (9 digits, Luhn check digit, not all zeros), compacted; None when empty."""
    v = _given(value, _digits(9))
    if v is None:
        return None
    if not v:
        raise _refuse(f"SIREN attendu : {_SIREN_FORM}", value or "")
    if not v.strip("0"):
        raise _refuse("SIREN : un numéro fait de zéros n'est attribué à aucune structure", value or "")
    if not _siren.is_valid(v):
        raise _refuse("SIREN : ce numéro n'existe pas, son dernier chiffre (la clé de contrôle) ne "
                      f"correspond pas aux autres ; un SIREN s'écrit en {_SIREN_FORM}", value or "")
    return v


def check_siret(value: str | None) -> str | None:
    """A SIRET (14 digits, its SIREN valid and not all zeros, the Luhn check on the 14 digits or, for La
    Poste's establishments, python-stdnum's rule), compacted; None when empty."""
    v = _given(value, _digits(14))
    if v is None:
        return None
    if not v:
        raise _refuse(f"SIRET attendu : {_SIRET_FORM}", value or "")
    if not v[:9].strip("0"):
        raise _refuse("SIRET : son SIREN (les 9 premiers chiffres) est fait de zéros, il n'est attribué à aucune "
                      "structure", value or "")
    try:
        _siret.validate(v)
    except StdnumError:
        raise _refuse("SIRET : ce numéro n'existe pas, sa clé de contrôle ne correspond pas ; un SIRET s'écrit "
                      f"en {_SIRET_FORM}", value or "") from None
    return v


def siret_extends_siren(siret: str | None, info: ValidationInfo) -> str | None:
    """A field validator of a record's ``siret``: the SIRET when it starts with the record's ``siren``
    (validated before it, so present in ``info.data`` when given and valid)."""
    siren = info.data.get("siren")
    if siret is not None and siren and not siret.startswith(siren):
        raise _refuse(f"SIRET : un SIRET commence par le SIREN de sa structure ({siren} ici), suivi des 5 chiffres "
                      "de l'établissement", siret)
    return siret


def check_rna(value: str | None) -> str | None:
    """An RNA number (``W`` + département of the registry office + 7 digits), upper-cased; None when empty."""
    v = _given(value, _RNA_FORM)
    if v is None:
        return None
    if not v:
        raise _refuse(f"numéro RNA attendu : {_RNA_FORM_FR}", value or "")
    v = v.upper()
    if v[1:3] == "00" or not v[3:].strip("0"):
        raise _refuse("numéro RNA : ni le département 00 ni un numéro fait de zéros ne sont attribués à une "
                      f"association ; un numéro RNA s'écrit {_RNA_FORM_FR}", value or "")
    return v
