"""The supply side per département: open resources whose perimeter covers it, beside its demand.

Retrieval leaves out, before ranking, the resources closed on the day and those whose perimeter
does not cover the initiative's territory, so no verdict names them; this table shows that side:
for each of the 101 départements, the resources open on the day that cover it (a resource for
``FR``, for its région, for the département or for one of its communes: each counts), the
initiatives placed in it, and how many of those nothing fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from matcher import territory
from matcher.observatory.table import Column, Table
from matcher.observatory.verdicts import Verdict
from matcher.schemas import Initiative, Resource

__all__ = ["supply_table"]


def _touches(coverage: tuple[str, ...], dep: str) -> bool:
    """Whether a coverage reaches ``dep``: covers it, or names a commune inside it."""
    if territory.covers(coverage, dep):
        return True
    return any(len(c) == 5 and territory.departement_of(c) == dep for c in coverage if c != "FR")


def supply_table(resources: Mapping[str, Resource], initiatives: Sequence[Initiative], verdicts: Sequence[Verdict],
                 *, today: date) -> Table:
    """One row per département, in COG order."""
    groups: dict[tuple[str, ...], int] = {}
    for r in resources.values():
        if r.is_open(today):
            groups[tuple(r.coverage)] = groups.get(tuple(r.coverage), 0) + 1
    demand: dict[str, list[Verdict]] = {}
    for ini, v in zip(initiatives, verdicts, strict=True):
        dep = territory.departement_of(ini.territory)
        if dep is not None:
            demand.setdefault(dep, []).append(v)
    rows = []
    for d in territory.all_departements():
        code = d.code
        offer = sum(n for cov, n in groups.items() if _touches(cov, code))
        local = sum(n for cov, n in groups.items() if "FR" not in cov and _touches(cov, code))
        vs = demand.get(code, [])
        fits = sum(v.nothing_fits for v in vs)
        rows.append({"code": code, "departement": d.name or code, "ressources_ouvertes": offer,
                     "ressources_locales": local, "initiatives": len(vs), "rien_ne_convient": fits,
                     "part_rien_ne_convient": fits / len(vs) if vs else 0.0})
    return Table("offre_departement", "Offre et demande par département", [
        Column("code", "Code"), Column("departement", "Département"),
        Column("ressources_ouvertes", "Ressources ouvertes qui le couvrent", "number"),
        Column("ressources_locales", "dont propres au territoire (hors nationales)", "number"),
        Column("initiatives", "Initiatives du département", "count"),
        Column("rien_ne_convient", "Rien ne convient", "count"),
        Column("part_rien_ne_convient", "Part rien ne convient", "share", of="rien_ne_convient"),
    ], rows, note="Une ressource ouverte couvre un département quand son périmètre est la France, sa région, "
                  "le département ou l'une de ses communes.", basis="initiatives")
