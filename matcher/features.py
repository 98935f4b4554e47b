"""Features of one (query, candidate resource) pair, the ranker's input.

Every feature is a float with a fixed name and a documented meaning, so a saved ranker can check that
it is fed what it was trained on (:data:`FEATURES` is its schema). Missing information gives a
neutral value, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np

from matcher import territory
from matcher.eligibility import Check
from matcher.schemas import CheckStatus, Criterion, MatchQuery, Recurrence, Resource

__all__ = [
    "COLD_VALUES", "FEATURES", "FEATURE_VERSION", "PAIR_FEATURES", "RETRIEVAL_FEATURES", "pair_features",
    "pair_only_features", "to_matrix",
]

FEATURE_VERSION = 5
"""4: local_share is smoothed through the zone (overseas or mainland); 5: text_clf reads the project's
département and zone too (:func:`matcher.history.place_terms`). Rankers of an older version are refused."""
FEATURES: tuple[str, ...] = (
    "dense",  # cosine between the query and the resource text
    "bm25",  # BM25 score of the resource text for the query
    "rrf",  # reciprocal-rank fusion of the dense and BM25 ranks
    "name_match",  # rarity-weighted share of the resource's name (title, provider) the query mentions
    "knn_vote",  # share of the similarity of the nearest past initiatives that obtained the resource
    "knn_best",  # similarity of the closest past initiative that obtained it (0 if none)
    "lex_vote",  # the same vote with BM25 neighbours among past initiatives (keywords matter)
    "profile",  # cosine between the query and the centroid of the resource's past initiatives
    "text_clf",  # probability the text model of past partnerships gives the resource (0 without history)
    "vector_clf",  # the same from the model of past partnerships on project vectors
    "local_share",  # share of past partnerships in the query's département that went to it (smoothed
    # towards its zone, overseas or mainland, then the nation)
    "amount_typicality",  # minus the distance of the amount sought to its past partners' (0 unknown)
    "has_history",  # 1 when the resource has past partnerships
    "popularity",  # log(1 + past positive decisions)
    "acceptance",  # smoothed share of positive decisions
    "territory_level",  # 0 same commune, 1 département, 2 région, 3 national, 4 unknown
    "coverage_national",  # 1 when the resource covers the whole country
    "stage_fit",  # 1 stage accepted, 0.5 unknown or any stage, 0 not accepted
    "legal_form_fit",  # same scale for legal forms
    "amount_fit",  # 1 within range, 0.5 unknown, partial cover in (0, 1), 0 below minimum
    "needs_overlap",  # share of the query's needs the resource covers (0.5 when unknown)
    "days_to_close",  # log(1 + days left), 6 for permanent or undated resources
    "capacity",  # log(1 + capacity left), -1 when unknown
    "freshness",  # log(1 + days since the resource record was last verified), -1 when unknown
    "unknown_checks",  # number of eligibility criteria that could not be decided
)


COLD_VALUES: dict[str, float] = {
    "knn_vote": 0.0, "knn_best": 0.0, "lex_vote": 0.0, "profile": 0.0, "text_clf": 0.0, "vector_clf": 0.0,
    "local_share": 0.0, "amount_typicality": 0.0, "has_history": 0.0, "popularity": 0.0, "acceptance": 0.5,
}
"""The history features of a resource nobody has partnered with yet: what the pipeline computes for
it, acceptance being its prior 1/2 before any decision."""

RETRIEVAL_FEATURES: tuple[str, ...] = FEATURES[: FEATURES.index("territory_level")]
"""The features computed upstream, by retrieval and the history, handed to :func:`pair_features`."""
PAIR_FEATURES: tuple[str, ...] = FEATURES[FEATURES.index("territory_level") :]
"""The features that depend only on the query's facts, the resource, its checks and the day
(:func:`pair_only_features`): the same from one query to the next, so they can be cached with the checks."""


def _fit(check: Check | None) -> float:
    if check is None or check.status is CheckStatus.unknown:
        return 0.5
    return 1.0 if check.status is CheckStatus.passed else 0.0


def _find(checks: Sequence[Check], criterion: Criterion) -> Check | None:
    """The last check of ``criterion`` (as a dict keyed by criterion would keep), None if absent."""
    found = None
    for c in checks:
        if c.criterion is criterion:
            found = c
    return found


def pair_only_features(
    query: MatchQuery, resource: Resource, checks: Sequence[Check], today: date
) -> tuple[float, ...]:
    """The :data:`PAIR_FEATURES` values, in that order. They read only the query's territory, amount
    sought and needs, the resource, its ``checks`` and ``today``."""
    if query.territory is None:
        territory_level = 4.0
    else:
        territory_level = float(min(territory.territory_distance(code, query.territory) for code in resource.coverage))
    amount = _find(checks, Criterion.amount)
    if amount is None or amount.status is CheckStatus.unknown:
        amount_fit = 0.5
    elif amount.status is CheckStatus.failed:
        amount_fit = 0.0
    elif resource.amount_max and query.amount_sought and query.amount_sought > resource.amount_max:
        amount_fit = resource.amount_max / query.amount_sought
    else:
        amount_fit = 1.0
    if query.needs and resource.needs_covered:
        needs_overlap = sum(n in resource.needs_covered for n in query.needs) / len(query.needs)
    else:
        needs_overlap = 0.5
    if resource.recurrence is Recurrence.permanent or resource.closes_at is None:
        days_to_close = 6.0
    else:
        days_to_close = math.log1p(max((resource.closes_at - today).days, 0))
    return (
        territory_level,
        1.0 if "FR" in resource.coverage else 0.0,  # coverage_national
        _fit(_find(checks, Criterion.stage)),
        _fit(_find(checks, Criterion.legal_form)),
        amount_fit,
        needs_overlap,
        days_to_close,
        -1.0 if resource.capacity is None else math.log1p(resource.capacity),
        -1.0 if resource.last_verified is None else math.log1p(max((today - resource.last_verified).days, 0)),
        float(sum(c.status is CheckStatus.unknown for c in checks)),
    )


def pair_features(
    query: MatchQuery,
    resource: Resource,
    retrieval: dict[str, float],
    checks: Sequence[Check],
    today: date,
) -> dict[str, float]:
    """All :data:`FEATURES` for one pair; ``retrieval`` holds the scores computed upstream
    (:data:`RETRIEVAL_FEATURES`, from ``dense`` to ``acceptance``; a missing one is 0)."""
    f = {name: float(retrieval.get(name, 0.0)) for name in RETRIEVAL_FEATURES}
    f.update(zip(PAIR_FEATURES, pair_only_features(query, resource, checks, today), strict=True))
    return f


def to_matrix(rows: list[dict[str, float]]) -> np.ndarray:
    """``(n, len(FEATURES)) float32`` in schema order."""
    return np.asarray([[r[name] for name in FEATURES] for r in rows], dtype=np.float32).reshape(
        len(rows), len(FEATURES)
    )
