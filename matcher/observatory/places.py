"""Where an initiative stands, as the catalogue's data says: région, département, kind of territory.

* **région, département**: from the INSEE code of the initiative's territory
  (:mod:`matcher.territory`); an initiative placed at région level has no département, one placed
  in ``FR`` neither (both read « national ou non précisé »).
* **kind of territory** (rural, urbain, outre-mer, non classé): :func:`matcher.territory.territory_kind`,
  the only classification the shipped data holds. It is a proxy, not INSEE's *grille communale de
  densité*: a metropolitan commune is urban from 3,500 inhabitants (population of the COG files), a
  département is rural when it is among the 20 low-density ones of
  :data:`matcher.territory.RURAL_DEPARTEMENTS`, every other département, région and ``FR`` is
  « non classé ». The density grid (INSEE, per commune, four or seven levels) would classify every
  commune; no installed package ships it, so it is not used.
* **quartiers prioritaires**: no list of QPV ships with Maillage (INSEE/ANCT publish the
  perimeters), so an initiative is counted in a quartier prioritaire only when its record says so,
  by its theme « quartiers prioritaires »: the theme tables show it like any other theme.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from matcher import territory
from matcher.schemas import Initiative

__all__ = ["NATIONAL_LABEL", "NO_NEED", "NO_THEME", "TERRITORY_KIND", "Place", "needs_of", "place_of", "themes_of"]

NATIONAL_LABEL = "national ou non précisé"
NO_THEME = "(sans thème)"
NO_NEED = "(besoin non précisé)"
TERRITORY_KIND = {"rural": "rural", "urban": "urbain", "overseas": "outre-mer", "unknown": "non classé"}
"""French labels of :func:`matcher.territory.territory_kind`."""


@dataclass(frozen=True, slots=True)
class Place:
    """Codes and French names of where an initiative stands (``""`` codes: not at that level)."""

    region: str
    region_name: str
    departement: str
    departement_name: str
    kind: str


@lru_cache(maxsize=65536)
def _place(code: str) -> Place:
    t = territory.parse_territory(code)
    region = t.region or ""
    dep = t.departement or ""
    region_name = (territory.parse_territory(region).name or region) if region else NATIONAL_LABEL
    dep_name = (territory.parse_territory(dep).name or dep) if dep else NATIONAL_LABEL
    return Place(region, region_name, dep, dep_name, TERRITORY_KIND[territory.territory_kind(code)])


def place_of(initiative: Initiative) -> Place:
    """The :class:`Place` of an initiative's territory."""
    return _place(initiative.territory)


def themes_of(initiative: Initiative) -> list[str]:
    """The initiative's themes, or :data:`NO_THEME`."""
    return list(initiative.themes) or [NO_THEME]


def needs_of(initiative: Initiative) -> list[str]:
    """The initiative's needs (machine values), or :data:`NO_NEED`."""
    return [n.value for n in initiative.needs] or [NO_NEED]
