"""The INSEE territorial hierarchy: commune → département → région → ``FR``.

Coverage and eligibility are decided on codes of the Code officiel géographique (COG), never on
free-text place names. Canonical codes, as accepted by :func:`parse_territory` and returned by every
function of this module:

* ``"FR"``: the whole country (national level);
* a région: ``"R"`` + its two-digit INSEE code, e.g. ``"R11"`` (Île-de-France), ``"R01"``
  (Guadeloupe). The prefix is mandatory because a bare ``"11"`` is the département Aude;
* a département: ``"01"``–``"95"`` with ``"2A"``/``"2B"`` for Corsica, and ``"971"``–``"974"``,
  ``"976"`` overseas;
* a commune: its five-character INSEE code, e.g. ``"93066"``, ``"2A004"``, ``"97411"``;
* an arrondissement municipal of Paris, Lyon or Marseille (``"75111"``, ``"69383"``, ``"13201"``):
  a territory of its own, inside its commune (``75111`` → ``75056`` → ``75`` → ``R11`` → ``FR``),
  so that a resource for Paris covers it and one for the 11e does not cover all of Paris;
* the code of a former commune merged into a current one (a commune déléguée or associée, or one
  the COG only lists among the current commune's former codes): it is replaced by the current
  commune's code, and :attr:`Territory.note` says so (``"01340"`` → ``"01015"`` Arboys en Bugey).

Input is stripped and upper-cased (``" 2a004 "`` → ``"2A004"``, ``"r11"`` → ``"R11"``).

Reference data ships in ``matcher/data/territory/``: the 18 régions, the 101 départements and every
current commune of them (34,875), from Etalab's ``@etalab/decoupage-administratif`` 6.0.0 (see
``scripts/build_territory_data.py``). The list is complete, so a commune code that is in none of
those tables is an error naming it. The collectivités d'outre-mer (975, 977, 978, 984, 986–989) are
outside this hierarchy and refused, as are Corsica's codes before 1976 (``20…``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from matcher import _territory_data as _ref

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
    "epci_name",
    "find_postcode",
    "parse_territory",
    "postcode_to_departement",
    "region_of",
    "search_communes",
    "territory_distance",
    "territory_kind",
]

NATIONAL = "FR"
# Messages are French: staff and citizens read them (API errors, import reports, the widget).
_EXPECTED = (
    "attendu : « FR », une région comme « R11 », un département comme « 93 », « 2A » ou « 971 », "
    "ou un code commune INSEE à cinq caractères comme « 93066 »"
)
_EXPECTED_DEP = "attendu : 01 à 95 (avec 2A et 2B) ou 971 à 976"
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
    ``FR``. For a commune or an arrondissement municipal: ``postcode`` is the main postcode (None
    for the few communes without one), ``postcodes`` all of them (main first), ``population`` the
    municipal population, ``epci`` the SIREN of its EPCI à fiscalité propre (see :func:`epci_name`).
    ``parent_commune`` is set for an arrondissement municipal only (``"75056"`` for ``"75111"``).
    ``note`` (French, for people) says when the code given was a former commune's and was replaced.
    """

    code: str
    level: Level
    name: str | None
    departement: str | None
    region: str | None
    postcode: str | None = None
    postcodes: tuple[str, ...] = ()
    population: int | None = None
    epci: str | None = None
    parent_commune: str | None = None
    note: str | None = None

    @property
    def ancestors(self) -> tuple[str, ...]:
        """Codes from this territory up to ``"FR"``, e.g. ``("93066", "93", "R11", "FR")``,
        ``("75111", "75056", "75", "R11", "FR")`` for an arrondissement municipal."""
        chain = [self.code]
        for parent in (self.parent_commune, self.departement, self.region, NATIONAL):
            if parent is not None and parent != chain[-1]:
                chain.append(parent)
        return tuple(chain)


# --- parsing -----------------------------------------------------------------------------------

def _departement_part(code: str) -> str:
    """The département prefix of a commune code: three characters overseas (97x), else two."""
    return code[:3] if code.startswith("97") else code[:2]


def _departement(code: str, given: str) -> Territory:
    data = _ref.data()
    if code == "20":
        raise TerritoryError(
            f"département « 20 » invalide dans le code territoire « {given} » : "
            "la Corse est « 2A » ou « 2B » depuis 1976"
        )
    if code not in data.departements:
        raise TerritoryError(f"département inconnu « {code} » dans le code territoire « {given} » : {_EXPECTED_DEP}")
    name, region = data.departements[code]
    return Territory(code, Level.departement, name, code, region)


def _commune(code: str, given: str) -> Territory:
    if code.startswith("20"):
        raise TerritoryError(
            f"code commune invalide « {given} » : les communes corses commencent par « 2A » ou « 2B » depuis 1976 "
            "(par exemple « 2A004 » Ajaccio, « 2B033 » Bastia)"
        )
    dep = _departement_part(code)
    parent = _departement(dep, given)
    number = code[len(dep):]
    if not number.isdigit() or int(number) == 0:
        raise TerritoryError(
            f"code commune invalide « {given} » : attendu le code du département suivi du numéro de la "
            "commune, par exemple « 93066 », « 2A004 », « 97411 »"
        )
    data = _ref.data()
    place = data.communes.get(code) or data.arrondissements.get(code)
    if place is not None:
        within = place.commune if isinstance(place, _ref.Arrondissement) else None
        return Territory(code, Level.commune, place.name, dep, parent.region, next(iter(place.postcodes), None),
                         place.postcodes, place.population, data.communes[within or code].epci, within)
    f = data.former.get(code)
    if f is not None:
        now = _commune(f.commune, given)
        what = f"{f.name} ({code}) : {f.status}" if f.name else f"{code} : ancienne commune"
        return dataclasses.replace(now, note=f"{what}, fait partie de la commune {now.name} ({now.code})")
    source = data.source
    raise TerritoryError(
        f"code commune inconnu « {given} » : aucune commune, aucun arrondissement municipal ni aucune "
        f"ancienne commune de {parent.name} ({dep}) n'a ce code dans le Code officiel géographique "
        f"({source['package']} {source['version']})"
    )


@lru_cache(maxsize=8192)
def parse_territory(code: str) -> Territory:
    """Parse and canonicalise a territory code (see the module docstring for the accepted forms).

    Raises TerritoryError, naming the code, for anything that is not ``FR``, a known région or
    département, or the code of a commune, arrondissement municipal or former commune of the COG.
    """
    if not isinstance(code, str):
        raise TerritoryError(f"le code territoire doit être une chaîne de caractères, reçu {code!r}")
    c = code.strip().upper()
    if not c:
        raise TerritoryError(f"code territoire vide : {_EXPECTED}")
    if c == NATIONAL:
        return Territory(NATIONAL, Level.national, "France", None, None)
    regions = _ref.data().regions
    if len(c) == 3 and c[0] == "R" and c[1:].isdigit():
        if c not in regions:
            raise TerritoryError(
                f"région inconnue « {c} » dans le code territoire « {code} » : attendu l'une de {', '.join(regions)}"
            )
        return Territory(c, Level.region, regions[c], None, c)
    if c in ("2A", "2B") or (len(c) in (2, 3) and c.isdigit()):
        return _departement(c, code)
    if len(c) == 5 and c[0].isdigit():
        return _commune(c, code)
    raise TerritoryError(f"code territoire non reconnu « {code} » : {_EXPECTED}")


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
    * for a metropolitan commune: ``"urban"`` when it has at least 3,500 inhabitants, else
      ``"rural"`` (the rule of ``scripts/build_territory_data.py``: no INSEE density grid ships with
      a package, and this threshold gives about the grid's national rural share); an arrondissement
      municipal is urban;
    * ``"rural"`` for a low-density département (:data:`RURAL_DEPARTEMENTS`);
    * ``"unknown"`` otherwise: other départements, the régions and ``FR``.
    """
    t = parse_territory(code)
    if t.region in _OVERSEAS_REGIONS:
        return "overseas"
    if t.level is Level.commune:
        communes = _ref.data().communes
        return "urban" if communes[t.parent_commune or t.code].urban else "rural"
    if t.level is Level.departement and t.departement in RURAL_DEPARTEMENTS:
        return "rural"
    return "unknown"


# Metropolitan départements of low population density (under about 50 inhabitants per km², INSEE
# 2020 populations): a coarse proxy for the rurality of a project placed at département level, so
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
        raise TerritoryError(f"code postal invalide {postcode!r} : attendu cinq chiffres, par exemple « 75011 »")
    if p.startswith("20"):
        n = int(p)
        if 20000 <= n <= 20199:
            return "2A"
        if 20200 <= n <= 20699:
            return "2B"
        raise TerritoryError(f"code postal corse inconnu « {postcode} » : attendu 20000 à 20699")
    dep = p[:3] if p.startswith("97") else p[:2]
    if dep not in _ref.data().departements:
        what = "Monaco" if p.startswith("980") else "aucun département du référentiel"
        raise TerritoryError(f"le code postal « {postcode} » correspond à {what} : {_EXPECTED_DEP}")
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
    return [parse_territory(code) for code in _ref.data().departements]


def all_regions() -> list[Territory]:
    """The 18 régions, by code (R01…R06 overseas, then R11…R94)."""
    return [parse_territory(code) for code in _ref.data().regions]


def search_communes(prefix: str, limit: int = 10) -> list[Territory]:
    """Current communes whose name, or one of whose postcodes, starts with ``prefix``.

    Every commune of the COG is searched (arrondissements municipaux and former communes are not
    offered: their codes are accepted by :func:`parse_territory`). Name matching ignores case,
    accents, hyphens and apostrophes (``"saint d"`` and ``"saint-d"`` both find Saint-Denis,
    ``"evry cour"`` finds Évry-Courcouronnes), and a complete word ``st``/``ste`` reads as
    saint/sainte. An all-digit prefix searches postcodes instead. Exact name matches come first,
    then by population (largest first), then by name and code; homonyms are told apart by their
    ``departement``. Each query is a binary search over sorted arrays, not a scan.
    """
    return [parse_territory(code) for code in _ref.search(prefix or "", limit)]


def communes_named(name: str, departement: str | None = None) -> list[Territory]:
    """The current communes called ``name``, largest population first.

    Names compare folded: case, accents, hyphens and apostrophes are ignored, and the words
    ``St``/``Ste`` read as Saint/Sainte (``"st etienne"`` finds Saint-Étienne, 42218). With
    ``departement`` (any form :func:`parse_territory` accepts for a département: ``"42"``, ``"2a"``)
    only the communes of that département are returned; an unknown département raises TerritoryError.
    Returns ``[]`` when no commune has that name. Former communes and arrondissements are not matched.
    """
    dep = None
    if departement is not None:
        dep = parse_territory(departement)
        if dep.level is not Level.departement:
            raise TerritoryError(
                f"un code de département est attendu pour departement, reçu « {departement} » : {_EXPECTED_DEP}"
            )
    found = [parse_territory(code) for code in _ref.named(name or "")]
    return found if dep is None else [t for t in found if t.departement == dep.code]


def commune_population(code: str) -> int | None:
    """Municipal population of a current commune or arrondissement municipal (``"75056"`` → Paris's);
    None for any other code, a former commune's or a malformed one included: this never raises."""
    c = code.strip().upper() if isinstance(code, str) else ""
    found = _ref.data().communes.get(c) or _ref.data().arrondissements.get(c)
    return found.population if found is not None else None


def epci_name(code: str) -> str | None:
    """Name of the EPCI à fiscalité propre whose SIREN is ``code`` (:attr:`Territory.epci`), or None:
    ``"200054781"`` → ``"Métropole du Grand Paris"``."""
    found = _ref.data().epci.get(code)
    return found[0] if found is not None else None
