"""Where a project is, as the models of past partnerships read it: its département and its zone.

Which resource pays can depend on where as much as on what (overseas projects have funders of
their own), so the past partnerships are counted per département and per zone (overseas or
mainland), and the text model reads both as words.
"""

from __future__ import annotations

from matcher import territory

__all__ = ["departement_of", "place_terms", "zone_of"]


def departement_of(code: str | None) -> str | None:
    """The département of a territory code, None for a région, ``FR``, a missing or unknown code."""
    if code is None:
        return None
    try:
        return territory.departement_of(code)
    except territory.TerritoryError:
        return None


def zone_of(departement: str) -> str:
    """``"zone:overseas"`` for an overseas département (971–976), else ``"zone:mainland"`` (keys that no
    département code can take)."""
    return "zone:overseas" if departement.startswith("97") else "zone:mainland"


def place_terms(departement: str | None) -> str:
    """Words appended to a project's text for the text model: its département and its zone
    (``" zzdep974 zzzoneoverseas"``), empty when it has none. Which resource pays can depend on where
    as much as on what: as words, place meets the project's own words in one model, which
    ``local_share`` alone cannot do (``docs/decisions.md``, "place read as words")."""
    if departement is None:
        return ""
    return f" zzdep{departement.lower()} zz{zone_of(departement).replace(':', '')}"
