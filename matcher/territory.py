"""The INSEE territorial hierarchy: commune → département → région → ``FR``.

Coverage and eligibility are decided on codes of the Code officiel géographique (COG), never on
free-text place names. Canonical codes, as accepted by :func:`parse_territory` and returned by every
function of this module:

* ``"FR"``: the whole country (national level);
* a région: ``"R"`` + its two-digit INSEE code, e.g. ``"R11"`` (Île-de-France), ``"R01"``
  (Guadeloupe). The prefix is mandatory because a bare ``"11"`` is the département Aude;
* a département: ``"01"``–``"95"`` with ``"2A"``/``"2B"`` for Corsica, and ``"971"``–``"974"``,
  ``"976"`` overseas;
* a commune: its five-character INSEE code, e.g. ``"93066"``, ``"2A004"``, ``"97411"``.

Input is stripped and upper-cased (``" 2a004 "`` → ``"2A004"``, ``"r11"`` → ``"R11"``).

Reference data ships in ``matcher/data/territory/``: all 18 régions, all 101 départements, and a
partial commune list (préfectures, large cities and a sample of rural communes) used for names,
autocompletion and :func:`territory_kind`. Because that list is not exhaustive, a well-formed
commune code of a known département is accepted even when it is not listed (its name is then None).
Codes, names and main postcodes follow the COG 2024 (communes nouvelles included).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, NamedTuple

__all__ = [
    "RURAL_DEPARTEMENTS",
    "Level",
    "Territory",
    "TerritoryError",
    "all_departements",
    "all_regions",
    "commune_population",
    "communes_named",
    "covers",
    "departement_of",
    "find_postcode",
    "parse_territory",
    "postcode_to_departement",
    "region_of",
    "search_communes",
    "territory_distance",
    "territory_kind",
]

NATIONAL = "FR"
_EXPECTED = (
    "expected 'FR', a région such as 'R11', a département such as '93', '2A' or '971', "
    "or a five-character commune code such as '93066'"
)
_EXPECTED_DEP = "expected 01–95 (with 2A/2B) or 971–976"
_OVERSEAS_REGIONS = frozenset({"R01", "R02", "R03", "R04", "R06"})


class TerritoryError(ValueError):
    """An unknown or malformed territory code or postcode; the message names the value given."""


class Level(StrEnum):
    """Level of a territory in the hierarchy, from the finest to the whole country."""

    commune = "commune"
    departement = "departement"
    region = "region"
    national = "national"


_DISTANCE = {Level.commune: 0, Level.departement: 1, Level.region: 2, Level.national: 3}


@dataclass(frozen=True)
class Territory:
    """One territory, with canonical codes for itself and its parents.

    ``departement`` and ``region`` are canonical codes (``"93"``, ``"R11"``); for a département
    ``departement`` is its own code, for a région ``region`` is its own code; both are None for
    ``FR``. ``postcode`` is the main postcode of a listed commune, else None.
    """

    code: str
    level: Level
    name: str | None
    departement: str | None
    region: str | None
    postcode: str | None = None

    @property
    def ancestors(self) -> tuple[str, ...]:
        """Codes from this territory up to ``"FR"``, e.g. ``("93066", "93", "R11", "FR")``."""
        chain = [self.code]
        for parent in (self.departement, self.region, NATIONAL):
            if parent is not None and parent != chain[-1]:
                chain.append(parent)
        return tuple(chain)


# --- reference data ----------------------------------------------------------------------------

class _Commune(NamedTuple):
    name: str
    postcode: str | None
    urban: bool | None
    folded: str  # accent- and case-insensitive form of the name, for search


class _Data(NamedTuple):
    regions: dict[str, str]  # "R11" -> name
    departements: dict[str, tuple[str, str]]  # "93" -> (name, "R11")
    communes: dict[str, _Commune]  # "93066" -> record


def _load(name: str) -> list[dict[str, Any]]:
    text = files("matcher").joinpath("data", "territory", name).read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = json.loads(text)
    return rows


@cache
def _data() -> _Data:
    """Load the shipped JSON files once, on first use."""
    regions = {"R" + r["code"]: r["name"] for r in _load("regions.json")}
    departements = {d["code"]: (d["name"], "R" + d["region"]) for d in _load("departements.json")}
    communes = {
        c["code"]: _Commune(c["name"], c.get("postcode"), c.get("urban"), _fold(c["name"]))
        for c in _load("communes.json")
    }
    return _Data(regions, departements, communes)


def _fold(text: str) -> str:
    """Lower-case, strip accents, and treat hyphens and apostrophes as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    plain = plain.replace("œ", "oe").replace("æ", "ae")
    return " ".join(re.sub(r"[-'’_.]", " ", plain).split())


# --- parsing -----------------------------------------------------------------------------------

def _departement_part(code: str) -> str:
    """The département prefix of a commune code: three characters overseas (97x), else two."""
    return code[:3] if code.startswith("97") else code[:2]


def _departement(code: str, given: str) -> Territory:
    data = _data()
    if code == "20":
        raise TerritoryError(
            f"invalid département '20' in territory code {given!r}: Corsica is '2A' or '2B' since 1976"
        )
    if code not in data.departements:
        raise TerritoryError(f"unknown département {code!r} in territory code {given!r}: {_EXPECTED_DEP}")
    name, region = data.departements[code]
    return Territory(code, Level.departement, name, code, region)


def _commune(code: str, given: str) -> Territory:
    if code.startswith("20"):
        raise TerritoryError(
            f"invalid commune code {given!r}: Corsican communes use '2A' or '2B' since 1976 "
            "(e.g. '2A004' Ajaccio, '2B033' Bastia)"
        )
    dep = _departement_part(code)
    parent = _departement(dep, given)
    number = code[len(dep):]
    if not number.isdigit() or int(number) == 0:
        raise TerritoryError(
            f"invalid commune code {given!r}: expected the département code followed by the "
            "commune number, e.g. '93066', '2A004', '97411'"
        )
    listed = _data().communes.get(code)
    if listed is None:
        return Territory(code, Level.commune, None, dep, parent.region)
    return Territory(code, Level.commune, listed.name, dep, parent.region, listed.postcode)


@lru_cache(maxsize=8192)
def parse_territory(code: str) -> Territory:
    """Parse and canonicalise a territory code (see the module docstring for the accepted forms).

    Raises TerritoryError, naming the code, for anything that is not ``FR``, a known région or
    département, or a well-formed commune code of a known département.
    """
    if not isinstance(code, str):
        raise TerritoryError(f"territory code must be a string, got {code!r}")
    c = code.strip().upper()
    if not c:
        raise TerritoryError(f"empty territory code {code!r}: {_EXPECTED}")
    if c == NATIONAL:
        return Territory(NATIONAL, Level.national, "France", None, None)
    regions = _data().regions
    if len(c) == 3 and c[0] == "R" and c[1:].isdigit():
        if c not in regions:
            raise TerritoryError(
                f"unknown région {c!r} in territory code {code!r}: expected one of {', '.join(regions)}"
            )
        return Territory(c, Level.region, regions[c], None, c)
    if c in ("2A", "2B") or (len(c) in (2, 3) and c.isdigit()):
        return _departement(c, code)
    if len(c) == 5 and c[0].isdigit():
        return _commune(c, code)
    raise TerritoryError(f"unrecognised territory code {code!r}: {_EXPECTED}")


def departement_of(code: str) -> str | None:
    """Canonical département code of a commune or département; None for a région or ``FR``."""
    return parse_territory(code).departement


def region_of(code: str) -> str | None:
    """Canonical région code (``"R11"``) of a commune, département or région; None for ``FR``."""
    return parse_territory(code).region


# --- hierarchy ---------------------------------------------------------------------------------

def covers(coverage: Iterable[str], territory: str) -> bool:
    """True when some coverage code is ``territory`` itself or one of its ancestors.

    ``FR`` covers everything, ``R11`` covers ``93`` and ``93066``, ``93`` covers ``93066``, but
    ``93066`` does not cover ``93``. Every code on both sides is validated: an unknown code raises
    TerritoryError rather than counting as a miss. A single string is taken as one code.
    """
    if isinstance(coverage, str):
        coverage = [coverage]
    return _covers(tuple(coverage), territory)


@lru_cache(maxsize=65536)
def _covers(coverage: tuple[str, ...], territory: str) -> bool:
    ancestors = set(parse_territory(territory).ancestors)
    # Parse every code first, so that an invalid one is reported even after a hit.
    codes = [parse_territory(c).code for c in coverage]
    return any(c in ancestors for c in codes)


@lru_cache(maxsize=65536)
def territory_distance(a: str, b: str) -> int:
    """Distance between two territories: the level of their lowest common ancestor.

    0 when both are the same commune, 1 when the common ancestor is a département, 2 a région,
    3 only ``FR``. Symmetric and defined across levels: ``("93066", "93")`` → 1,
    ``("93066", "75056")`` → 2 (both in R11), ``("93066", "13055")`` → 3. Two equal codes above
    commune level give that level's value (``("93", "93")`` → 1).
    """
    ta, tb = parse_territory(a), parse_territory(b)
    in_b = set(tb.ancestors)
    common = next(code for code in ta.ancestors if code in in_b)  # "FR" is always shared
    return _DISTANCE[parse_territory(common).level]


def territory_kind(code: str) -> str:
    """A coarse kind of territory, usable later as a ranking feature.

    * ``"overseas"`` for overseas départements (971–976), their communes and the overseas régions
      (R01–R06);
    * for a metropolitan commune of the shipped list: ``"urban"`` when flagged urban (préfectures,
      large cities), ``"rural"`` when flagged not urban (the small rural communes listed);
    * ``"rural"`` for a low-density département (:data:`RURAL_DEPARTEMENTS`) and the unlisted
      communes in it;
    * ``"unknown"`` otherwise: other unlisted or unclassified communes, départements and régions,
      and ``FR``.
    """
    t = parse_territory(code)
    if t.region in _OVERSEAS_REGIONS:
        return "overseas"
    if t.level is Level.commune:
        listed = _data().communes.get(t.code)
        if listed is not None and listed.urban is not None:
            return "urban" if listed.urban else "rural"
    if t.level in (Level.commune, Level.departement) and t.departement in RURAL_DEPARTEMENTS:
        return "rural"
    return "unknown"


# Metropolitan départements of low population density (under about 50 inhabitants per km², INSEE
# 2020 populations): a coarse proxy for rurality when a commune is not in the shipped list, so
# evaluation slices and features see rural initiatives as such.
RURAL_DEPARTEMENTS = frozenset({
    "04", "05", "08", "09", "12", "15", "19", "23", "32", "36", "39", "43", "46", "48", "52", "55",
    "58", "70", "2A", "2B",
})


# --- postcodes ---------------------------------------------------------------------------------

def postcode_to_departement(postcode: str) -> str:
    """Map a French five-digit postcode (CEDEX included) to a canonical département code.

    ``20000``–``20199`` → ``2A``, ``20200``–``20699`` → ``2B``, ``97100``… → ``971`` … ``976``,
    otherwise the first two digits. Monaco (``98000``), other ``98xxx``/``975xx``/``977xx`` codes
    and malformed values raise TerritoryError naming the value.
    """
    p = postcode.strip() if isinstance(postcode, str) else ""
    if not re.fullmatch(r"[0-9]{5}", p):
        raise TerritoryError(f"invalid postcode {postcode!r}: expected five digits, e.g. '75011'")
    if p.startswith("20"):
        n = int(p)
        if 20000 <= n <= 20199:
            return "2A"
        if 20200 <= n <= 20699:
            return "2B"
        raise TerritoryError(f"unknown Corsican postcode {postcode!r}: expected 20000–20699")
    dep = p[:3] if p.startswith("97") else p[:2]
    if dep not in _data().departements:
        what = "Monaco" if p.startswith("980") else "no département of the reference"
        raise TerritoryError(f"postcode {postcode!r} maps to {what}: {_EXPECTED_DEP}")
    return dep


_FIVE_DIGITS = re.compile(r"(?<![0-9])([0-9]{5})(?![0-9])")


def find_postcode(text: str) -> str | None:
    """Extract the postcode from a free-text address: the last plausible five-digit number.

    Street numbers (fewer digits) and longer numbers (SIRET, phone) are ignored, as are five-digit
    numbers that map to no département (e.g. ``98000`` Monaco). Returns None when nothing fits.
    """
    candidates: list[str] = _FIVE_DIGITS.findall(text or "")
    for candidate in reversed(candidates):
        try:
            postcode_to_departement(candidate)
        except TerritoryError:
            continue
        return candidate
    return None


# --- listings and search -----------------------------------------------------------------------

def all_departements() -> list[Territory]:
    """The 101 départements, in COG order (01…19, 2A, 2B, 21…95, 971…976)."""
    return [parse_territory(code) for code in _data().departements]


def all_regions() -> list[Territory]:
    """The 18 régions, by code (R01…R06 overseas, then R11…R94)."""
    return [parse_territory(code) for code in _data().regions]


def search_communes(prefix: str, limit: int = 10) -> list[Territory]:
    """Communes of the shipped list whose name, or main postcode, starts with ``prefix``.

    Name matching ignores case, accents, hyphens and apostrophes (``"saint d"`` and ``"saint-d"``
    both find Saint-Denis; ``"evry"`` finds Évry-Courcouronnes). An all-digit prefix searches
    postcodes instead. Exact name matches come first, then urban communes, then by name and code.
    The list is partial: this serves autocompletion, not validation.
    """
    if limit <= 0:
        return []
    query = (prefix or "").strip()
    communes = _data().communes
    if query.isdigit():
        hits = [code for code, c in communes.items() if c.postcode and c.postcode.startswith(query)]
        hits.sort(key=lambda code: (communes[code].postcode, code))
    else:
        folded = _fold(query)
        if not folded:
            return []
        hits = [code for code, c in communes.items() if c.folded.startswith(folded)]
        hits.sort(key=lambda code: (
            communes[code].folded != folded, communes[code].urban is not True, communes[code].folded, code,
        ))
    return [parse_territory(code) for code in hits[:limit]]


# --- names → communes: TEMPORARY (branch ``reader``); the whole-COG work adds both functions with the
# same signatures and semantics: on merge, take that version and drop this block.

def communes_named(name: str, departement: str | None = None) -> list[Territory]:
    """Current communes whose folded name (:func:`_fold`: case, accents, hyphens, apostrophes
    ignored) equals the folded ``name``, in ``departement`` (canonical code) when given, most populous
    first. TEMPORARY, over the shipped partial list, which has no populations: ordered by code."""
    codes = _names().get(_fold(name or ""), ())
    return [parse_territory(c) for c in codes if departement is None or _departement_part(c) == departement]


@cache
def _names() -> dict[str, tuple[str, ...]]:
    by_name: dict[str, list[str]] = {}
    for code, c in sorted(_data().communes.items()):
        by_name.setdefault(c.folded, []).append(code)
    return {name: tuple(codes) for name, codes in by_name.items()}


def commune_population(code: str) -> int | None:
    """Municipal population of a commune, None when unknown. TEMPORARY: always None (no populations
    in the shipped partial list) until the whole-COG version replaces it."""
    return None
