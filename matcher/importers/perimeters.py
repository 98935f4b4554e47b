"""From the places real catalogues name to INSEE coverage codes (:mod:`matcher.territory`).

Each function answers canonical codes, or None when the place cannot be resolved: the importers then
keep the source's wording (``Resource.perimeter_text``), report a warning naming the row, and the
territory check says *unknown*. Nothing unresolved ever becomes ``FR`` silently.

* :func:`place_codes`: one place name (région, département, EPCI, commune, "France", "Outre-mer"…);
* :func:`at_perimeter_codes`: the perimeter of aides-territoires' API (``"Drôme (Département)"``,
  ``"Valence (Commune – 26000)"``, ``"CA Valence Romans Agglo (EPCI)"``, ``"France"``);
* :func:`etalab_codes`: Etalab's ``eligibilite_geographique`` (``REG-84|DEP-05|COM-83141``);
* :func:`financer_codes`: the perimeter an aides-territoires CSV export implies through its financer's
  name (the export has no perimeter column), e.g. ``"Conseil départemental du Tarn"`` → ``81``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from matcher import territory
from matcher._territory_data import data as territory_data
from matcher._territory_data import fold

__all__ = ["at_perimeter_codes", "etalab_codes", "financer_codes", "place_codes", "simplify"]

_NATIONAL_NAMES = frozenset({
    "france", "france entiere", "toute la france", "national", "france et territoires d outre mer",
    "europe", "union europeenne", "france metropolitaine et outre mer",
})
_MAINLAND_NAMES = frozenset({"metropole", "france metropolitaine", "hexagone"})
_OVERSEAS_NAMES = frozenset({"outre mer", "outre mer drom", "drom", "departements d outre mer"})
_OVERSEAS_REGIONS = ("R01", "R02", "R03", "R04", "R06")
# Regional names that are not régions of today.
_ALIASES = {"paca": ["R93"], "region sud": ["R93"], "alsace": ["67", "68"], "lorraine": ["54", "55", "57", "88"]}
# Collectivités d'outre-mer: outside the INSEE hierarchy Maillage holds (territory module docstring).
OUTSIDE_HIERARCHY = frozenset({
    "nouvelle caledonie", "polynesie francaise", "saint barthelemy", "saint martin", "saint pierre et miquelon",
    "wallis et futuna", "terres australes et antarctiques francaises",
})


@cache
def _names() -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """Folded names of the régions, the départements and the EPCI (to their member communes)."""
    regions = {fold(t.name or ""): t.code for t in territory.all_regions()}
    deps = {fold(t.name or ""): t.code for t in territory.all_departements()}
    ref = territory_data()
    members: dict[str, list[str]] = {}
    for code, commune in ref.communes.items():
        if commune.epci:
            members.setdefault(commune.epci, []).append(code)
    epci = {_epci_key(name): members.get(siren, []) for siren, (name, _kind) in ref.epci.items()}
    return regions, deps, epci


_EPCI_PREFIXES = (
    ("communaute de communes", "cc"), ("communaute d agglomeration", "ca"), ("communaute urbaine", "cu"),
)


def _epci_key(name: str) -> str:
    folded = fold(name)
    for long, short in _EPCI_PREFIXES:
        if folded.startswith(long + " "):
            return short + folded[len(long):]
    return folded


def simplify(codes: Iterable[str]) -> list[str]:
    """Codes deduplicated in order; the 18 régions together become ``["FR"]``."""
    unique = list(dict.fromkeys(codes))
    if "FR" in unique or {r.code for r in territory.all_regions()} <= set(unique):
        return ["FR"]
    return unique


def place_codes(name: str) -> list[str] | None:
    """The codes of one place name: France or Europe → ``FR``, Métropole → the 13 mainland régions,
    Outre-mer → the five overseas régions, a région, a département, an EPCI (its communes), a commune
    whose name is unique, a territory code (``"93"``, ``"R11"``). None otherwise (homonyms included)."""
    f = fold(name)
    if not f:
        return None
    regions, deps, epci = _names()
    if f in _NATIONAL_NAMES:
        return ["FR"]
    if f in _MAINLAND_NAMES:
        return [r for r in regions.values() if r not in _OVERSEAS_REGIONS]
    if f in _OVERSEAS_NAMES:
        return list(_OVERSEAS_REGIONS)
    for table in (regions, deps):
        if f in table:
            return [table[f]]
    if f in _ALIASES:
        return list(_ALIASES[f])
    if members := epci.get(_epci_key(name)):
        return sorted(members)
    communes = territory.communes_named(name)
    if len(communes) == 1:
        return [communes[0].code]
    try:
        return [territory.parse_territory(name).code]
    except territory.TerritoryError:
        return None


_AT_PERIMETER = re.compile(
    r"^(?P<name>.+?) \((?P<scale>Commune|EPCI|Bassin hydrographique|Département|Région)(?: [–-] (?P<zips>[^)]*))?\)$"
)


def at_perimeter_codes(label: str) -> list[str] | None:
    """The codes of an aides-territoires API perimeter (``str()`` of its ``Perimeter``: ``"Name
    (Scale)"``, ``"Name (Commune – zips)"``, or a bare name above région level). None for a
    hydrographic basin, an ad-hoc perimeter, a homonym or an unknown name."""
    text = " ".join((label or "").split())
    m = _AT_PERIMETER.match(text)
    if m is None:
        return place_codes(text)
    name, scale = m.group("name"), m.group("scale")
    regions, deps, epci = _names()
    if scale == "Région":
        found = regions.get(fold(name))
        return [found] if found else None
    if scale == "Département":
        found = deps.get(fold(name))
        return [found] if found else None
    if scale == "EPCI":
        members = epci.get(_epci_key(name))
        return sorted(members) if members else None
    if scale == "Commune":
        zips = {z.strip() for z in (m.group("zips") or "").split(",") if z.strip()}
        communes = [t for t in territory.communes_named(name) if not zips or zips & set(t.postcodes)]
        return [communes[0].code] if len(communes) == 1 else None
    return None  # a hydrographic basin has no INSEE code


_ETALAB_CODE = re.compile(r"^(REG|DEP|COM|EPCI|PAYS|FR)(?:-(.+))?$", re.IGNORECASE)


def etalab_codes(value: str) -> tuple[list[str], list[str]]:
    """``(codes, unresolved parts)`` of an Etalab ``eligibilite_geographique`` (``REG-84|DEP-05|COM-83141``,
    also ``EPCI-<SIREN>``, ``PAYS-FRA``/``FR``); parts may be separated by ``|``, ``,`` or ``;``."""
    codes: list[str] = []
    unresolved: list[str] = []
    for part in (p.strip() for p in re.split(r"[|,;]", value or "") if p.strip()):
        m = _ETALAB_CODE.match(part)
        code = _etalab_part(m.group(1).upper(), (m.group(2) or "").strip()) if m else None
        if code is None:
            unresolved.append(part)
        else:
            codes.extend(code)
    return codes, unresolved


def _etalab_part(kind: str, value: str) -> list[str] | None:
    if kind == "FR" or (kind == "PAYS" and value.upper() in {"FRA", "FR", "99100"}):
        return ["FR"]
    if kind == "EPCI":
        members = sorted(c for c, commune in territory_data().communes.items() if commune.epci == value)
        return members or None
    prefix = "R" if kind == "REG" else ""
    try:
        return [territory.parse_territory(prefix + value).code]
    except territory.TerritoryError:
        return None


# --- financers of the CSV export ---------------------------------------------------------------

_NATIONAL_FINANCERS = (
    "national", "nationale", "ministere", "interministeriel", "commission europeenne", "federation francaise",
    "banque des territoires", "ademe", "anah", "anct", "cerema", "dgfip", "agence france locale", "enedis",
    "fondation du patrimoine", "chambres de commerce", "chambres de metiers", "caue", "adil",
    "agences d urbanisme", "etablissements publics fonciers", "cites remarquables",
    "petites cites de caractere", "miqcp", "puca",
)
_DIGITS = re.compile(r"(?<![0-9])(0[1-9]|[1-8][0-9]|9[0-5])(?![0-9])")
_LINKS = r"(?:^ (?:la |le |les |l )?|\b(?:de la|de l|des|du|de|d|et|en|dans la|dans le|dans l|dans les)\s)"


def financer_codes(name: str) -> list[str] | None:
    """The perimeter a financer's name implies: its EPCI, the départements it names (after "de", "du",
    "des", "d'", "et", or first: ``"Drôme Aménagement Habitat"``) or whose number it carries
    (``"ID77"``, ``"ATD 89"``), the régions it names; ``FR`` for national bodies and networks of local
    ones (Banque des Territoires, ADEME, CAUE…). None when no rule applies."""
    regions, deps, epci = _names()
    bare = fold(re.sub(r"\([^()]*\)", " ", name))
    if members := epci.get(_epci_key(bare)) or epci.get("ca " + bare) or epci.get("cc " + bare):
        return sorted(members)
    text = " " + fold(name.replace(" - ", " de ")) + " "
    found: list[str] = []
    tables: list[tuple[dict[str, list[str]], bool]] = [
        ({k: [v] for k, v in regions.items()}, True), ({k: [v] for k, v in deps.items()}, False), (_ALIASES, False),
    ]
    for table, anywhere in tables:
        for place in sorted(table, key=len, reverse=True):
            pattern = rf" {re.escape(place)} " if anywhere else rf"{_LINKS}{re.escape(place)} "
            if re.search(pattern, text):
                found.extend(table[place])
                text = text.replace(f" {place} ", " ¤ ")
    found.extend(d for d in _DIGITS.findall(name) if d in territory_data().departements)
    if found:
        return simplify(found)
    if any(f" {word} " in f" {fold(name)} " for word in _NATIONAL_FINANCERS):
        return ["FR"]
    return None
