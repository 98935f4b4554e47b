"""Field types shared by the schemas: ids, titles, descriptions, amounts, INSEE territory codes,
SIREN / SIRET / RNA numbers (checked in :mod:`matcher._identifiers`), and the e-mail shape. Imported from
:mod:`matcher.schemas`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from matcher import territory as _territory
from matcher._identifiers import RNA_PATTERN, SIREN_PATTERN, SIRET_PATTERN, check_rna, check_siren, check_siret

__all__ = [
    "DAY_PATTERN",
    "EMAIL_PATTERN",
    "ID_PATTERN",
    "MAX_CAPACITY",
    "MAX_DAY",
    "MAX_DESCRIPTION_CHARS",
    "MAX_THEMES",
    "MAX_TITLE_CHARS",
    "MIN_DAY",
    "Amount",
    "Capacity",
    "Day",
    "Description",
    "ItemId",
    "Rna",
    "Siren",
    "Siret",
    "TerritoryCode",
    "Theme",
    "Title",
    "utcnow",
]

MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 20_000
MAX_THEMES = 30


def utcnow() -> datetime:
    """Timezone-aware current time (UTC); all timestamps in Maillage are UTC."""
    return datetime.now(UTC)


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$"
ItemId = Annotated[str, StringConstraints(strip_whitespace=False, pattern=ID_PATTERN)]
"""An id as given: one with surrounding spaces is refused, not trimmed (``DELETE …/ini-0001%20`` once
deleted ``ini-0001``)."""
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_CHARS)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION_CHARS)]
Theme = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Amount = Annotated[float, Field(ge=0, le=1e12)]
MAX_CAPACITY = 10**12
"""Places or budget left: a trillion is past any real call, and keeps every computation finite."""
Capacity = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]
MIN_DAY, MAX_DAY = date(1900, 1, 1), date(2199, 12, 31)
"""Calendar days a record or a query may name: a century either side of any real call, so that a
date computed from one (an annual call's next session) stays a date."""
DAY_PATTERN = r"^(19|2[01])[0-9]{2}-[0-9]{2}-[0-9]{2}$"
"""The years of :data:`MIN_DAY` to :data:`MAX_DAY`, for the JSON Schema (it has no bounds for dates)."""
Day = Annotated[date, Field(ge=MIN_DAY, le=MAX_DAY, json_schema_extra={"pattern": DAY_PATTERN},
                            description="YYYY-MM-DD, between 1900-01-01 and 2199-12-31")]


def _territory_code(value: str) -> str:
    # TerritoryError is a ValueError, so pydantic reports it against the field with its message.
    return _territory.parse_territory(value).code


TerritoryCode = Annotated[str, AfterValidator(_territory_code)]


def _nullable_text(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [{"type": "string", "pattern": pattern}, {"type": "null"}],
                           "default": None, "description": description})


Siren = Annotated[str | None, AfterValidator(check_siren), _nullable_text(
    SIREN_PATTERN, "SIREN: 9 digits, spaces or dots allowed between them; its Luhn check digit must hold and it "
    "may not be all zeros; empty means not given")]
Siret = Annotated[str | None, AfterValidator(check_siret), _nullable_text(
    SIRET_PATTERN, "SIRET: 14 digits, spaces or dots allowed between them; its check digit must hold, neither its "
    "SIREN nor its establishment number may be all zeros, and it must start with the record's siren when both "
    "are given; empty means not given")]
Rna = Annotated[str | None, AfterValidator(check_rna), _nullable_text(
    RNA_PATTERN, "RNA number: W, the registry office's département on 2 characters (01 to 95, 2A, 2B, or 9 and a "
    "letter overseas, e.g. 9R), then 7 digits not all zeros, e.g. W931234567; any case; empty means not given")]


# An address's shape. ``\s`` differs between regex dialects: pydantic's (Rust) counts U+0085 as a
# space, JSON Schema's (ECMA 262, what API clients validate with) counts U+FEFF instead; naming both
# makes the pattern mean the same thing on both sides of the API.
EMAIL_PATTERN = r"^[^@\s\u0085\ufeff]+@[^@\s\u0085\ufeff]+\.[^@\s\u0085\ufeff]+$"
