"""``maillage train``: labelled pairs from the catalogue's outcomes → a ranker → a registered version.

Initiatives with positive outcomes (grants obtained, sponsorships, staff shortlists…) are the
examples; they are ordered by the date of their first positive outcome and the most recent
``validation_share`` is held out, so the validation split is later in time than what the model
learned from. The served model (or the prior when none is served) is scored on the same validation
pairs; :meth:`ModelRegistry.promote` uses both figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

from indexes import Encoder
from matcher.calibration import Calibration
from matcher.history import POSITIVE
from matcher.indexing import ResourceIndex, catalogue_signature
from matcher.ranker import LearnedRanker, PriorRanker
from matcher.recommender import Recommender, RecommenderConfig
from matcher.registry import ModelRegistry
from matcher.schemas import Initiative
from matcher.store import Catalogue
from training.calibrate import calibrate
from training.fit import FitReport
from training.flow import (
    Example,
    TooFewExamples,
    TrainConfig,
    TrainOutcome,
    choose_on_judged,
    held_out_examples,
    served_ndcg10,
    train_ranker,
)
from training.pairs import COLD_RATE

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
    content_share: float = 0.0
    """Weight of the content order the model is served with, chosen on the validation lists (or on
    hand-judged projects when given)."""
    content_choice: dict[float, float] | None = None
    """Validation nDCG@10 per content weight tried (:func:`training.flow.choose_content_share`)."""
    judged_choice: dict[float, float] | None = None
    """nDCG@10 of the hand-judged projects per content weight, when they chose it."""
    judged_projects: int = 0
    """How many hand-judged projects were given."""


def examples_from_outcomes(
    store: Catalogue, *, source: str | None = None
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
    return [
        (inis[i], frozenset(positives[i]), first[i])
        for i in sorted(positives, key=lambda i: (first[i], i))
        if i in inis and (source is None or inis[i].source == source)
    ]


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
    judged: Sequence[Example] | None = None,
) -> TrainResult:
    """Build pairs, fit with grouped CV, score against the served model, register (not promote):
    :func:`training.flow.train_ranker` with ``maillage train``'s :class:`~training.flow.TrainConfig`
    (at most ``limit`` examples, no refit: the registered model is the one that was validated, so the
    registry's comparison with the served model stays fair). ``cold_rate``: share of training pairs
    shown as newcomers (:func:`training.pairs.simulate_cold`). ``judged``: hand-judged projects of the
    queries to come (:func:`eval.judged.read_judged`); the content weight is chosen, the calibration
    fitted and the served model compared (what :meth:`ModelRegistry.promote` reads) on them instead of
    the validation lists, whose figures the manifest keeps beside."""
    train_config = TrainConfig(max_examples=limit, validation_share=validation_share, min_examples=20, folds=folds,
                               cold_rate=cold_rate, params=params, refit_on_all=False)
    served = registry.load_current(encoder_id=encoder.model_id, dim=encoder.dim)
    base, reference = Recommender(index, encoder, config, PriorRanker()), served[1] if served is not None else None
    examples = examples_from_outcomes(store, source=source)
    outcome = _train(base, examples, today, train_config, reference, source, progress)
    model, fit, gate = outcome.ranker, outcome.report, outcome.gate
    if model is None or fit is None or gate is None:  # min_*_queries are 0 and folds is set: never
        raise RuntimeError("train_ranker returned no ranker with maillage train's configuration")
    compared_to = served[0] if served is not None else None
    validated = (outcome.content_choice or {}).get(model.content_share, gate.learned_ndcg10)
    now = reference or Recommender(index, encoder, config).ranker  # what serves now (a prior: history-scaled)
    weight, judged_choice, judged_reference = _trust_judged(base, model, now, judged or (), today)
    learned, current = ((judged_choice[weight], judged_reference) if judged_choice
                        else (validated, gate.reference_ndcg10))
    model.content_share = weight
    # The model registered is the one validated (no refit), compared with the served one and calibrated
    # as served on lists it has not seen.
    calibration = _calibration(Recommender(index, encoder, config, model), judged if judged_choice else None,
                               held_out_examples(examples, train_config), today)
    version = registry.register(
        model, encoder_id=encoder.model_id, dim=encoder.dim, pairs=outcome.pairs,
        catalogue_hash=catalogue_signature(store),
        metrics={"validation_ndcg10": learned, "current_validation_ndcg10": current,
                 "cv_ndcg10": fit.cv_ndcg10, "cv_ndcg10_prior": fit.cv_ndcg10_prior},
        compared_to=compared_to,
        info={"train_queries": outcome.train_queries, "validation_queries": outcome.validation_queries,
              "source": source, "importances": model.feature_importances(), "train_config": asdict(train_config),
              **_choices(outcome.content_choice, judged_choice),
              "validation_lists_ndcg10": {"model": validated, "served": gate.reference_ndcg10}},
        calibration=calibration,
    )
    return TrainResult(version, fit, outcome.train_queries, outcome.validation_queries, learned,
                       current, compared_to, outcome.skipped_no_positive, model.content_share,
                       outcome.content_choice, judged_choice, len(judged or ()))


def _choices(validation: dict[float, float] | None, judged: dict[float, float] | None) -> dict[str, object]:
    """What the manifest says of the content weight: the figures per weight, and which lists compared."""
    return {"content_choice": {str(w): v for w, v in (validation or {}).items()},
            "content_choice_judged": {str(w): v for w, v in (judged or {}).items()},
            "compared_on": "judged projects" if judged else "validation lists"}


def _train(base: Recommender, examples: Sequence[Example], today: date, config: TrainConfig,
           reference: PriorRanker | LearnedRanker | None, source: str | None,
           progress: Callable[[int], None] | None) -> TrainOutcome:
    """:func:`training.flow.train_ranker`, too few examples said as what to do about it."""
    try:
        return train_ranker(base, examples, today=today, config=config, reference=reference, progress=progress)
    except TooFewExamples as e:
        raise ValueError(
            f"only {e.found} initiatives with positive outcomes"
            + (f" from source {source!r}" if source else "")
            + f": too few to train a ranker (need {e.needed}); record outcomes or import a labelled set"
        ) from None


def _calibration(served_as: Recommender, judged: Sequence[Example] | None, validation: Sequence[Example],
                 today: date) -> Calibration | None:
    """Fitted on the hand-judged projects when they chose the weight, else (or when their lists hold
    one label only) on the validation lists."""
    if judged:
        calibration = calibrate(served_as, judged, today=today,
                                fitted_on=f"maillage train: {len(judged)} judged projects")
        if calibration is not None:
            return calibration
    return calibrate(served_as, validation, today=today, fitted_on="maillage train: validation lists")


def _trust_judged(base: Recommender, model: LearnedRanker, reference: PriorRanker | LearnedRanker,
                  judged: Sequence[Example], today: date) -> tuple[float, dict[float, float] | None, float]:
    """The content weight chosen on the hand-judged projects (:func:`training.flow.choose_on_judged`),
    their nDCG@10 per weight and ``reference``'s as served; ``(model's weight, None, 0)`` when no list
    is usable."""
    chosen = choose_on_judged(base, model, judged, today)
    if chosen is None:
        return model.content_share, None, 0.0
    weight, figures, lists = chosen
    return weight, figures, served_ndcg10(reference, lists, base.config.prior_share, base.config.cold_share)