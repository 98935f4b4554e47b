"""Reasons in plain French that staff can read aloud to a citizen, each backed by what the code measured.

A reason is written only from its evidence, gathered in :class:`Grounds`:

- the themes of the resource that the project names (tags or words of its text);
- the informative words the project's text and the resource's record actually share, shown as the
  citizen wrote them (a word held by more than :data:`COMMON_WORD_SHARE` of the catalogue is too
  common to say anything and is never shown);
- the calibrated relevance (:mod:`matcher.calibration`), said only when it is strong;
- the closest past project that obtained the resource, by name, when similar past projects voted
  for it;
- the territory and deadline checks that passed, with their own clauses.

No reason is written without its evidence: a match with none of these gets no reason rather than a
vague one ("description proche" was said of everything and measured nothing).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from indexes.sparse import SparseIndex
from matcher import territory
from matcher.eligibility import Check
from matcher.schemas import CheckStatus, Criterion, MatchQuery, Resource

__all__ = [
    "COMMON_WORD_SHARE", "MAX_REASONS", "MAX_THEMES", "MAX_WORDS", "NEIGHBOURS_VOTE", "NEIGHBOUR_REASON", "Grounds",
    "reasons_for", "shared_themes", "shared_words", "without_names",
]

NEIGHBOURS_VOTE = 0.2
"""Share of the similar past projects' vote (``knn_vote``) from which a similar past project is named."""
NEIGHBOUR_REASON = "Un projet semblable au vôtre l'a déjà obtenue"
"""The start of the similar-past-project reason; its name follows for staff (:func:`without_names`)."""
MAX_REASONS = 4
"""Reasons shown per match."""
MAX_THEMES = 3
"""Shared themes named in one reason."""
MAX_WORDS = 4
"""Shared words named in one reason."""
COMMON_WORD_SHARE = 0.25
"""A word held by more than this share of the catalogue's resources is not evidence of a fit."""
MIN_WORD_CHARS = 4
"""Shorter words (and numbers) are never shown as shared: "rue", "lieu" and "2026" say little."""
_SMALL_CATALOGUE = 8
"""Below this many resources, every shared word counts (no frequency to judge commonness by)."""


@dataclass(frozen=True)
class Grounds:
    """What was measured for one match: the only material its reasons may use."""

    shared_words: tuple[str, ...] = ()
    relevance_label: str | None = None
    """``"forte"``, ``"moyenne"`` or ``"faible"`` from the calibrated relevance; None when not calibrated."""
    relevance: float | None = None
    neighbour: str | None = None
    """Title of the closest past project that obtained the resource, when similar past projects voted for it."""


@lru_cache(maxsize=4096)
def without_names(reason: str) -> str:
    """``reason`` without the name of another initiative: what a public partner page may show."""
    return NEIGHBOUR_REASON + "." if reason.startswith(NEIGHBOUR_REASON + " : ") else reason


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode().strip()


def shared_themes(query: MatchQuery, resource: Resource) -> list[str]:
    """Themes of the resource that the project names, as tags or in its text (accent-insensitive)."""
    wanted = {_fold(t) for t in query.themes}
    text = _fold(query.text)
    return [t for t in resource.themes if _fold(t) in wanted or _fold(t) in text]


def shared_words(text: str, resource_id: str, sparse: SparseIndex, *, limit: int = MAX_WORDS,
                 terms: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """Words of ``text`` whose index term the resource's document also holds, as written in ``text``,
    rarest in the catalogue first (ties: order of appearance); words held by more than
    :data:`COMMON_WORD_SHARE` of the catalogue, shorter than :data:`MIN_WORD_CHARS` or all digits
    are left out. ``terms`` passes ``sparse.analyzer.terms_with_words(text)`` already computed (a list
    analyses its query once, not once per match)."""
    held = sparse.document_terms(resource_id)
    if not held:
        return []
    n = len(sparse)
    ceiling = n if n < _SMALL_CATALOGUE else COMMON_WORD_SHARE * n
    found: dict[str, tuple[int, int, str]] = {}
    analysed = sparse.analyzer.terms_with_words(text) if terms is None else terms
    for position, (term, word) in enumerate(analysed):
        if term in found or term not in held or len(word) < MIN_WORD_CHARS or word.isdigit():
            continue
        df = sparse.document_frequency(term)
        if df <= ceiling:
            found[term] = (df, position, word)
    ranked = sorted(found.values())
    return [word for _, _, word in ranked[:limit]]


def _words(text: str) -> set[str]:
    return set(_fold(re.sub(r"[-'’]", " ", text)).split())


@lru_cache(maxsize=4096)
def _place_words(code: str | None) -> frozenset[str]:
    """Words of the names of the query's territory and of the territories above it: the territory
    reason says those, a shared word must add something."""
    if code is None:
        return frozenset()
    try:
        place = territory.parse_territory(code)
    except territory.TerritoryError:
        return frozenset()
    out: set[str] = set()
    for ancestor in place.ancestors:
        try:
            name = territory.parse_territory(ancestor).name
        except territory.TerritoryError:
            continue
        out |= _words(name or "")
    return frozenset(out)


def _quoted(words: Sequence[str]) -> str:
    return ", ".join(f"« {w} »" for w in words)


def reasons_for(query: MatchQuery, resource: Resource, checks: Sequence[Check], grounds: Grounds) -> list[str]:
    """Up to :data:`MAX_REASONS` reasons, each from its evidence: shared themes, shared words, a strong
    calibrated relevance, a similar past project, the territory, the deadline."""
    reasons: list[str] = []
    themes = shared_themes(query, resource)
    if themes:
        reasons.append("Thèmes communs : " + ", ".join(themes[:MAX_THEMES]) + ".")
    said = {w for t in themes for w in _words(t)} | _place_words(query.territory)
    words = [w for w in grounds.shared_words if _fold(w) not in said]
    if words:
        reasons.append("Mots communs avec votre description : " + _quoted(words) + ".")
    if grounds.relevance_label == "forte" and grounds.relevance is not None:
        reasons.append(f"Pertinence estimée forte ({round(100 * grounds.relevance)} %), d'après les "
                       "suggestions déjà évaluées.")
    if grounds.neighbour:
        reasons.append(f"{NEIGHBOUR_REASON} : « {grounds.neighbour} ».")
    by = {c.criterion: c for c in checks}
    terr = by.get(Criterion.territory)
    if terr is not None and terr.status is CheckStatus.passed:
        reasons.append(terr.clause)
    dates = by.get(Criterion.dates)
    if dates is not None and dates.status is not CheckStatus.failed:
        reasons.append(dates.clause)
    return reasons[:MAX_REASONS]
