"""``maillage train``: labelled pairs from the catalogue's outcomes → a ranker → a registered version.

Initiatives with positive outcomes (grants obtained, sponsorships, staff shortlists…) are the
examples; they are ordered by the date of their first positive outcome and the most recent
``validation_share`` is held out, so the validation split is later in time than what the model
learned from. The served model (or the prior when none is served) is scored on the same validation
pairs; :meth:`ModelRegistry.promote` uses both figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from indexes import Encoder
from matcher.history import POSITIVE
from matcher.indexing import ResourceIndex, catalogue_signature
from matcher.ranker import PriorRanker, served_scores
from matcher.recommender import Recommender, RecommenderConfig
from matcher.registry import ModelRegistry
from matcher.schemas import Initiative
from matcher.store import Catalogue
from training.fit import FitReport, fit_ranker, ndcg_of_lists
from training.pairs import COLD_RATE, build_pairs, simulate_cold

__all__ = ["TrainResult", "examples_from_outcomes", "train_from_catalogue"]


@dataclass(frozen=True)
class TrainResult:
    version: str
    fit: FitReport
    train_queries: int
    validation_queries: int
    validation_ndcg10: float
    current_validation_ndcg10: float
    compared_to: str | None
    skipped_no_positive: int


def examples_from_outcomes(
    store: Catalogue, *, source: str | None = None, limit: int | None = None
) -> list[tuple[Initiative, frozenset[str], datetime]]:
    """``(initiative, positive resource ids, date of its first positive outcome)``, oldest first."""
    latest: dict[tuple[str, str], tuple[datetime, bool]] = {}
    for o in store.iter_outcomes():
        latest[(o.initiative_id, o.resource_id)] = (o.occurred_at, o.decision in POSITIVE)
    positives: defaultdict[str, set[str]] = defaultdict(set)
    first: dict[str, datetime] = {}
    live = {r.id for r in store.resources()}
    for (iid, rid), (when, positive) in latest.items():
        if positive and rid in live:
            positives[iid].add(rid)
            first[iid] = min(first.get(iid, when), when)
    inis = store.get_initiatives(sorted(positives))
    rows = [
        (inis[i], frozenset(positives[i]), first[i])
        for i in sorted(positives, key=lambda i: (first[i], i))
        if i in inis and (source is None or inis[i].source == source)
    ]
    if limit is not None and len(rows) > limit:
        step = len(rows) / limit  # thin evenly over time rather than keep only the oldest
        rows = [rows[int(j * step)] for j in range(limit)]
    return rows


def train_from_catalogue(
    store: Catalogue,
    index: ResourceIndex,
    encoder: Encoder,
    registry: ModelRegistry,
    *,
    today: date,
    source: str | None = None,
    limit: int | None = 3000,
    validation_share: float = 0.2,
    config: RecommenderConfig | None = None,
    folds: int = 5,
    params: dict[str, float | int] | None = None,
    cold_rate: float | str = COLD_RATE,
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Build pairs, fit with grouped CV, score against the served model, register (not promote).

    ``cold_rate``: share of training pairs shown as newcomers (:func:`training.pairs.simulate_cold`)."""
    if not 0.0 < validation_share < 0.5:
        raise ValueError(f"validation_share must be in (0, 0.5), got {validation_share}")
    rows = examples_from_outcomes(store, source=source, limit=limit)
    if len(rows) < 20:
        raise ValueError(
            f"only {len(rows)} initiatives with positive outcomes"
            + (f" from source {source!r}" if source else "")
            + ": too few to train a ranker (need 20); record outcomes or import a labelled set"
        )
    cut = int(len(rows) * (1 - validation_share))
    train_rows, val_rows = rows[:cut], rows[cut:]
    base = Recommender(index, encoder, config, PriorRanker())
    train_pairs = build_pairs(base, train_rows, today=today, progress=progress)
    val_pairs = build_pairs(base, val_rows, today=today, progress=progress)
    # Every figure judges a ranker as served: a learned ranker's order fused with the prior's.
    share = (config or RecommenderConfig()).prior_share
    model, fit = fit_ranker(simulate_cold(train_pairs, cold_rate), folds=folds, params=params, share=share)
    served = registry.load_current(encoder_id=encoder.model_id, dim=encoder.dim)
    reference = served[1] if served is not None else PriorRanker()
    new = ndcg_of_lists(served_scores(model, val_pairs.X, val_pairs.groups, share=share), val_pairs.y,
                        val_pairs.groups)
    old = ndcg_of_lists(served_scores(reference, val_pairs.X, val_pairs.groups, share=share), val_pairs.y,
                        val_pairs.groups)
    version = registry.register(
        model,
        encoder_id=encoder.model_id,
        dim=encoder.dim,
        pairs=len(train_pairs),
        catalogue_hash=catalogue_signature(store),
        metrics={"validation_ndcg10": new, "current_validation_ndcg10": old, "cv_ndcg10": fit.cv_ndcg10,
                 "cv_ndcg10_prior": fit.cv_ndcg10_prior},
        compared_to=served[0] if served is not None else None,
        info={"train_queries": len(train_pairs.groups), "validation_queries": len(val_pairs.groups),
              "source": source, "importances": model.feature_importances()},
    )
    return TrainResult(
        version=version, fit=fit, train_queries=len(train_pairs.groups),
        validation_queries=len(val_pairs.groups), validation_ndcg10=new, current_validation_ndcg10=old,
        compared_to=served[0] if served is not None else None,
        skipped_no_positive=train_pairs.skipped_no_positive + val_pairs.skipped_no_positive,
    )
