"""Reasons in plain French that staff can read aloud to a citizen."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from matcher.eligibility import Check
from matcher.schemas import CheckStatus, Criterion, MatchQuery, Resource

__all__ = ["MAX_REASONS", "MAX_THEMES", "NEIGHBOURS_VOTE", "VERY_CLOSE_DENSE", "reasons_for", "shared_themes"]

VERY_CLOSE_DENSE = 0.85
"""Cosine (``dense``) from which the texts are said to be very close."""
NEIGHBOURS_VOTE = 0.2
"""Share of the similar past projects' vote (``knn_vote``) from which "similar projects were supported" is said."""
MAX_REASONS = 3
"""Reasons shown per match."""
MAX_THEMES = 3
"""Shared themes named in the first reason."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode().strip()


def shared_themes(query: MatchQuery, resource: Resource) -> list[str]:
    """Themes of the resource that the project names, as tags or in its text (accent-insensitive)."""
    wanted = {_fold(t) for t in query.themes}
    text = _fold(query.text)
    return [t for t in resource.themes if _fold(t) in wanted or _fold(t) in text]


def reasons_for(
    query: MatchQuery, resource: Resource, checks: Sequence[Check], features: dict[str, float]
) -> list[str]:
    """Two or three short reasons: shared themes or closeness of the texts, similar past projects,
    territory, deadline."""
    reasons: list[str] = []
    themes = shared_themes(query, resource)
    if themes:
        reasons.append("Thèmes communs : " + ", ".join(themes[:MAX_THEMES]) + ".")
    elif features.get("dense", 0.0) >= VERY_CLOSE_DENSE:
        reasons.append("Description très proche de votre projet.")
    else:
        reasons.append("Description proche de votre projet.")
    if features.get("knn_vote", 0.0) >= NEIGHBOURS_VOTE:
        reasons.append("Des projets semblables au vôtre ont déjà été soutenus par cette ressource.")
    by = {c.criterion: c for c in checks}
    terr = by.get(Criterion.territory)
    if terr is not None and terr.status is CheckStatus.passed:
        reasons.append(terr.clause)
    dates = by.get(Criterion.dates)
    if dates is not None and dates.status is not CheckStatus.failed:
        reasons.append(dates.clause)
    return reasons[:MAX_REASONS]
