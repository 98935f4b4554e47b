"""The features of a (query, candidate resource) pair: one table, the ranker's input and schema.

Every feature is one row of :data:`TABLE` (name, the stage that computes it, what it means, its value
for a resource nobody has partnered with yet, its weight in the hand-weighted prior) and one column
function below. Everything else is derived from the table: the column order :data:`FEATURES` that a
saved ranker is checked against, :data:`COLD_VALUES`, :data:`PRIOR_WEIGHTS`, :data:`SCHEMA_HASH`.
Adding a feature is one row and one function (``docs/adding-a-feature.md``).

Three stages compute them, each with the evidence it has:

- ``retrieval``: vectorised over the pool from what the searches found (:class:`Evidence`);
- ``history``: vectorised over the pool from the past partnerships, through one
  :class:`matcher.history_view.HistoryView` (only what was known before the scoring date);
- ``pair``: one value per pair from the query's facts, the resource, its checks and the day; the
  same from one query to the next, so they are cached with the checks (:mod:`matcher.checking`).

Missing information gives a neutral value, never an exception.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from matcher import territory
from matcher.eligibility import Check
from matcher.fusion import reciprocal_rank_fusion
from matcher.history_view import HistoryView
from matcher.schemas import CheckStatus, Criterion, MatchQuery, Recurrence, Resource

__all__ = [
    "COLD_VALUES", "COLUMN", "FEATURES", "FEATURE_VERSION", "PAIR_FEATURES", "PRIOR_WEIGHTS", "RETRIEVAL_FEATURES",
    "SCHEMA_HASH", "TABLE", "Evidence", "Feature", "Pair", "pair_values", "pool_columns", "to_matrix",
]

FEATURE_VERSION = 5
"""Bumped when a feature's meaning changes (see ``docs/decisions.md``); rankers of another version,
or of another :data:`SCHEMA_HASH`, are refused."""

Stage = Literal["retrieval", "history", "pair"]


@dataclass(frozen=True)
class Evidence:
    """What the retrieval stage found for one query: the inputs of the ``retrieval`` and ``history``
    column functions. ``ids`` is the pool, in pool order; every column is ``(len(ids),) float64``."""

    query: MatchQuery
    ids: list[str]
    vector: np.ndarray | None
    """``(d,) float32`` query vector, None when neither dense search nor history is used."""
    dense_ranks: Mapping[str, int]
    """1-based rank of each id in the dense search (absent: not found by it)."""
    sparse_ranks: Mapping[str, int]
    votes: Mapping[str, float]
    best: Mapping[str, float]
    lexical: Mapping[str, float]
    history: HistoryView
    dense_scores: Callable[[list[str]], np.ndarray]
    """Cosine of each id's resource vector with ``vector``."""
    bm25_scores: Callable[[str, list[str]], np.ndarray] | None
    """BM25 of each id's resource for a text; None when sparse retrieval is off."""
    name_scores: Callable[[str, list[str]], np.ndarray]
    rrf_k: int
    use_history: bool
    past: np.ndarray
    """``(n,) int64``: each resource's positive decisions visible at the scoring date."""

    @property
    def warm(self) -> np.ndarray:
        """``(n,) bool``: the resources with a visible past partnership."""
        return self.past > 0

    def column(self, values: Sequence[float] | np.ndarray | Mapping[str, float]) -> np.ndarray:
        if isinstance(values, Mapping):
            return np.fromiter((values.get(i, 0.0) for i in self.ids), dtype=np.float64, count=len(self.ids))
        return np.asarray(values, dtype=np.float64).reshape(len(self.ids))


@dataclass(frozen=True)
class Pair:
    """What a ``pair`` column function reads: the query's facts, one resource, its checks, the day."""

    query: MatchQuery
    resource: Resource
    checks: Sequence[Check]
    today: date
    by_criterion: dict[Criterion, Check] = field(init=False)
    """The last check of each criterion (the checks hold one per criterion)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_criterion", {c.criterion: c for c in self.checks})

    def fit(self, criterion: Criterion) -> float:
        """1 passed, 0 failed, 0.5 unknown or not checked."""
        check = self.by_criterion.get(criterion)
        if check is None or check.status is CheckStatus.unknown:
            return 0.5
        return 1.0 if check.status is CheckStatus.passed else 0.0


# --- retrieval columns ------------------------------------------------------------------------


def _dense(e: Evidence) -> np.ndarray:
    if e.vector is None:
        return np.zeros(len(e.ids))
    return e.column(e.dense_scores(e.ids))


def _bm25(e: Evidence) -> np.ndarray:
    return np.zeros(len(e.ids)) if e.bm25_scores is None else e.column(e.bm25_scores(e.query.text, e.ids))


def _rrf(e: Evidence) -> np.ndarray:
    return e.column(reciprocal_rank_fusion([e.dense_ranks, e.sparse_ranks], k=e.rrf_k))


def _name_match(e: Evidence) -> np.ndarray:
    return e.column(e.name_scores(e.query.text, e.ids))


# --- history columns ---------------------------------------------------------------------------


def _knn_best(e: Evidence) -> np.ndarray:
    return e.column({r: e.best.get(r, 0.0) for r in e.votes})


def _profile(e: Evidence) -> np.ndarray:
    return np.zeros(len(e.ids)) if e.vector is None else e.column(e.history.profile_similarity(e.vector, e.ids))


def _text_clf(e: Evidence) -> np.ndarray:
    # The models of past partnerships ignore dates (cross-fitted over the whole history): a resource
    # with no partnership before the scoring date is cold then, and gets their 0.
    if not e.use_history:
        return np.zeros(len(e.ids))
    return np.where(e.warm, e.column(e.history.classifier_scores(e.query.text, e.ids, where=e.query.territory)), 0.0)


def _vector_clf(e: Evidence) -> np.ndarray:
    if not e.use_history or e.vector is None:
        return np.zeros(len(e.ids))
    return np.where(e.warm, e.column(e.history.vector_classifier_scores(e.vector, e.ids)), 0.0)


def _local_share(e: Evidence) -> np.ndarray:
    return e.column(e.history.local_share(e.query.territory, e.ids)) if e.use_history else np.zeros(len(e.ids))


def _amount_typicality(e: Evidence) -> np.ndarray:
    if not e.use_history:
        return np.zeros(len(e.ids))
    return e.column(e.history.amount_typicality(e.query.amount_sought, e.ids))


def _acceptance(e: Evidence) -> np.ndarray:
    return e.column(e.history.acceptances(e.ids, counts=e.past))


# --- pair columns --------------------------------------------------------------------------------

_LOG_ARGUMENT_CAP = 1e300
"""Arguments of ``log1p`` are capped here: a stored count of any size (an int past float range would
raise ``OverflowError``) gives a finite feature, identical to the plain log below the cap."""


def _log1p(x: float) -> float:
    return math.log1p(min(x, _LOG_ARGUMENT_CAP))



def _territory_level(p: Pair) -> float:
    if p.query.territory is None or p.resource.perimeter_text is not None:  # unresolved perimeter: unknown
        return 4.0
    return _coverage_distance(tuple(p.resource.coverage), p.query.territory)


@lru_cache(maxsize=65_536)
def _coverage_distance(coverage: tuple[str, ...], where: str) -> float:
    """The nearest of ``coverage``'s territories to ``where`` (few coverages and territories repeat)."""
    return float(min(territory.territory_distance(code, where) for code in coverage))


def _unknown_checks(p: Pair) -> float:
    # The source's own conditions are always unknown: counting them would only say "came from a
    # real catalogue", which is no evidence of fit.
    return float(sum(c.status is CheckStatus.unknown and c.criterion is not Criterion.conditions
                     for c in p.checks))


def _amount_fit(p: Pair) -> float:
    amount = p.by_criterion.get(Criterion.amount)
    if amount is None or amount.status is CheckStatus.unknown:
        return 0.5
    if amount.status is CheckStatus.failed:
        return 0.0
    r, sought = p.resource, p.query.amount_sought
    if r.amount_max and sought and sought > r.amount_max:
        return r.amount_max / sought
    return 1.0


def _needs_overlap(p: Pair) -> float:
    needs, covered = p.query.needs, p.resource.needs_covered
    if needs and covered:
        return sum(n in covered for n in needs) / len(needs)
    return 0.5


def _days_to_close(p: Pair) -> float:
    r = p.resource
    if r.recurrence is Recurrence.permanent or r.closes_at is None:
        return 6.0
    return _log1p(max((r.closes_at - p.today).days, 0))


def _freshness(p: Pair) -> float:
    verified = p.resource.last_verified
    return -1.0 if verified is None else _log1p(max((p.today - verified).days, 0))


@dataclass(frozen=True)
class Feature:
    """One row of the table. ``cold`` is set for history features only: the value the pipeline
    computes for a resource with no partnership (cold-start dropout in training writes it)."""

    name: str
    stage: Stage
    doc: str
    compute: Callable[[Evidence], np.ndarray] | Callable[[Pair], float]
    cold: float | None = None
    prior_weight: float = 0.0


def _f(name: str, stage: Stage, doc: str, compute: Callable[..., Any], *, cold: float | None = None,
       prior: float = 0.0) -> Feature:
    return Feature(name, stage, doc, compute, cold, prior)


# History features read the past partnerships through ``e.history``. The models of past partnerships
# and the two place/amount shares are switched off with ``RecommenderConfig.use_history`` (they then
# give 0, as for a cold resource); the votes are empty then, and the counts (``profile``,
# ``has_history``, ``popularity``, ``acceptance``) are read regardless, as they always were.
# Pool rows (stages retrieval and history) come first, pair rows last.
TABLE: tuple[Feature, ...] = (
    _f("dense", "retrieval", "cosine between the query and the resource text", _dense, prior=4.0),
    _f("bm25", "retrieval", "BM25 score of the resource text for the query", _bm25, prior=0.05),
    _f("rrf", "retrieval", "reciprocal-rank fusion of the dense and BM25 ranks", _rrf, prior=20.0),
    _f("name_match", "retrieval", "rarity-weighted share of the resource's name (title, provider) the query "
       "mentions", _name_match, prior=1.0),
    _f("knn_vote", "history", "share of the similarity of the nearest past initiatives that obtained the resource",
       lambda e: e.column(e.votes), cold=0.0, prior=2.0),
    _f("knn_best", "history", "similarity of the closest past initiative that obtained it (0 if none)", _knn_best,
       cold=0.0, prior=0.3),
    _f("lex_vote", "history", "the same vote with BM25 neighbours among past initiatives (keywords matter)",
       lambda e: e.column(e.lexical), cold=0.0, prior=1.5),
    _f("profile", "history", "cosine between the query and the centroid of the resource's past initiatives",
       _profile, cold=0.0, prior=0.5),
    _f("text_clf", "history", "probability the text model of past partnerships gives the resource (0 without "
       "history)", _text_clf, cold=0.0, prior=2.0),
    _f("vector_clf", "history", "the same from the model of past partnerships on project vectors", _vector_clf,
       cold=0.0, prior=2.0),
    _f("local_share", "history", "share of past partnerships in the query's département that went to it "
       "(smoothed towards its zone, overseas or mainland, then the nation)", _local_share, cold=0.0, prior=1.0),
    _f("amount_typicality", "history", "minus the distance of the amount sought to its past partners' (0 unknown)",
       _amount_typicality, cold=0.0, prior=0.05),
    _f("has_history", "history", "1 when the resource has past partnerships", lambda e: e.warm.astype(np.float64),
       cold=0.0),
    _f("popularity", "history", "log(1 + past positive decisions)",
       lambda e: e.column([math.log1p(p) for p in e.past.tolist()]), cold=0.0, prior=0.05),
    _f("acceptance", "history", "smoothed share of positive decisions (1/2 before any)", _acceptance, cold=0.5,
       prior=0.3),
    _f("territory_level", "pair", "0 same commune, 1 département, 2 région, 3 national, 4 unknown",
       _territory_level, prior=-0.05),
    _f("coverage_national", "pair", "1 when the resource covers the whole country",
       lambda p: 1.0 if "FR" in p.resource.coverage else 0.0),
    _f("stage_fit", "pair", "1 stage accepted, 0.5 unknown or any stage, 0 not accepted",
       lambda p: p.fit(Criterion.stage), prior=0.2),
    _f("legal_form_fit", "pair", "same scale for legal forms", lambda p: p.fit(Criterion.legal_form), prior=0.2),
    _f("amount_fit", "pair", "1 within range, 0.5 unknown, partial cover in (0, 1), 0 below minimum", _amount_fit,
       prior=0.2),
    _f("needs_overlap", "pair", "share of the query's needs the resource covers (0.5 when unknown)",
       _needs_overlap, prior=0.4),
    _f("days_to_close", "pair", "log(1 + days left), 6 for permanent or undated resources", _days_to_close),
    _f("capacity", "pair", "log(1 + capacity left), -1 when unknown",
       lambda p: -1.0 if p.resource.capacity is None else _log1p(p.resource.capacity)),
    _f("freshness", "pair", "log(1 + days since the resource record was last verified), -1 when unknown",
       _freshness),
    _f("unknown_checks", "pair", "number of eligibility criteria that could not be decided",
       _unknown_checks, prior=-0.02),
)

FEATURES: tuple[str, ...] = tuple(f.name for f in TABLE)
"""Column order of every feature matrix: the schema a saved ranker is checked against."""
COLUMN: dict[str, int] = {name: j for j, name in enumerate(FEATURES)}
"""Column index of each feature: columns are looked up by name, never by position."""
COLD_VALUES: dict[str, float] = {f.name: f.cold for f in TABLE if f.cold is not None}
PRIOR_WEIGHTS: dict[str, float] = {f.name: f.prior_weight for f in TABLE if f.prior_weight}
RETRIEVAL_FEATURES: tuple[str, ...] = tuple(f.name for f in TABLE if f.stage != "pair")
"""Computed over the whole pool by :func:`pool_columns` (stages ``retrieval`` and ``history``)."""
PAIR_FEATURES: tuple[str, ...] = tuple(f.name for f in TABLE if f.stage == "pair")
"""Computed per pair by :func:`pair_values`, cached with the checks."""
SCHEMA_HASH: str = hashlib.sha256("|".join(f"{f.name}:{f.stage}" for f in TABLE).encode()).hexdigest()[:16]

if FEATURES != RETRIEVAL_FEATURES + PAIR_FEATURES:  # the pool fills the pool stages first, then the pair ones
    raise RuntimeError("matcher.features.TABLE must list the pair features last")
_POOL_FUNCS = [f.compute for f in TABLE if f.stage != "pair"]
_PAIR_FUNCS = [f.compute for f in TABLE if f.stage == "pair"]


def pool_columns(e: Evidence) -> np.ndarray:
    """``(len(e.ids), len(RETRIEVAL_FEATURES)) float64``: every retrieval and history column."""
    out = np.empty((len(e.ids), len(RETRIEVAL_FEATURES)), dtype=np.float64)
    for j, compute in enumerate(_POOL_FUNCS):
        out[:, j] = compute(e)  # type: ignore[arg-type]
    return out


def pair_values(query: MatchQuery, resource: Resource, checks: Sequence[Check], today: date) -> tuple[float, ...]:
    """The :data:`PAIR_FEATURES` values of one pair, in that order."""
    p = Pair(query, resource, checks, today)
    return tuple(float(compute(p)) for compute in _PAIR_FUNCS)  # type: ignore[arg-type]


def to_matrix(rows: list[dict[str, float]]) -> np.ndarray:
    """``(n, len(FEATURES)) float32`` in schema order, from feature dicts."""
    return np.asarray([[r[name] for name in FEATURES] for r in rows], dtype=np.float32).reshape(
        len(rows), len(FEATURES)
    )
