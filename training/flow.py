"""The one training flow: dated examples → thinned → split in time → pairs → a learned ranker, gated.

``maillage train`` (:func:`training.train.train_from_catalogue`) and the evaluation's ``maillage``
system (:class:`eval.systems.MaillageSystem`) both call :func:`train_ranker`; what differs between
them is a :class:`TrainConfig` (and the reference ranker the gate compares with):

- examples are thinned evenly over time to ``max_examples`` (rather than keeping only the oldest);
- the most recent ``validation_share`` of them is held out, so validation is later in time than
  anything the ranker learned from;
- pairs come from the pipeline's own candidates (:func:`training.pairs.build_pairs`), training
  pairs get cold-start dropout (:func:`training.pairs.simulate_cold`, seeded);
- the gate scores the learned ranker and the reference (the prior, or the served model) on the
  held-out lists, both as served (:func:`matcher.ranker.served_scores`), with
  :func:`training.fit.ndcg_of_lists`;
- with ``refit_on_all``, a ranker that passed is fitted again on every example: the gate has judged
  the configuration, and the most recent examples are the ones most like the next query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from matcher.fusion import COLD_SHARE
from matcher.ranker import PRIOR_SHARE, LearnedRanker, PriorRanker, served_scores
from matcher.recommender import Recommender
from matcher.schemas import Initiative
from training.fit import FitReport, fit_ranker, ndcg_of_lists
from training.pairs import COLD_RATE, PairSet, build_pairs, simulate_cold

__all__ = ["CONTENT_GRID", "Example", "Gate", "TooFewExamples", "TrainConfig", "TrainOutcome", "choose_content_share",
           "choose_on_judged", "gate_and_fit", "held_out_examples", "served_ndcg10", "thin_evenly", "train_ranker"]

CONTENT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""Weights of the content order :func:`choose_content_share` tries (``docs/decisions.md``, "trust
chosen on held-out lists"): from history alone (0) to content four times the learned order."""

Example = tuple[Initiative, frozenset[str], datetime | None]
"""``(initiative, relevant resource ids, date it is scored as of)``; ``None``: against all the history."""

_Row = TypeVar("_Row")


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_ranker` learns. The defaults are ``maillage train``'s.

    ``max_examples``: thin evenly over time above this many (``None``: keep all).
    ``validation_share``: the most recent share of the examples held out for the gate, in (0, 0.5).
    ``min_examples``: fewer examples (after thinning) raise :class:`TooFewExamples`.
    ``min_train_queries``, ``min_validation_queries``: fewer lists with a retrieved positive and no
    ranker is fitted (the outcome has ``ranker=None``), instead of an error.
    ``folds``: grouped cross-validation folds for the report (``None``: no report, the gate alone).
    ``cold_rate``: share of training pairs shown as newcomers (:data:`training.pairs.COLD_RATE`).
    ``params``: :class:`matcher.ranker.LearnedRanker` parameters (``None``: its defaults).
    ``refit_on_all``: fit a ranker that passed the gate again on train and validation examples.
    """

    max_examples: int | None = 3000
    validation_share: float = 0.2
    min_examples: int = 20
    min_train_queries: int = 0
    min_validation_queries: int = 0
    folds: int | None = 5
    cold_rate: float | str = COLD_RATE
    params: dict[str, float | int] | None = None
    refit_on_all: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_share < 0.5:
            raise ValueError(f"validation_share must be in (0, 0.5), got {self.validation_share}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples must be None or >= 1, got {self.max_examples}")
        if self.folds is not None and self.folds < 2:
            raise ValueError(f"folds must be None or >= 2, got {self.folds}")
        if self.cold_rate != "auto" and not (isinstance(self.cold_rate, float | int) and 0 <= self.cold_rate < 1):
            raise ValueError(f"cold_rate must be 'auto' or in [0, 1), got {self.cold_rate!r}")


class TooFewExamples(ValueError):
    """Fewer examples than :attr:`TrainConfig.min_examples`; ``found`` and ``needed`` say how many."""

    def __init__(self, found: int, needed: int) -> None:
        super().__init__(f"only {found} examples: too few to train a ranker (need {needed})")
        self.found, self.needed = found, needed


@dataclass(frozen=True)
class Gate:
    """Held-out nDCG@10 of the learned ranker and of the reference ranker, both as served (the learned
    one at the content weight chosen on the same lists)."""

    learned_ndcg10: float
    reference_ndcg10: float

    @property
    def passed(self) -> bool:
        """The learned ranker wins; a tie is not a win."""
        return self.learned_ndcg10 > self.reference_ndcg10


@dataclass(frozen=True)
class TrainOutcome:
    """What :func:`train_ranker` did.

    ``ranker``: fitted on the train pairs (again on train and validation pairs when the config asks
    for a refit and the gate passed); ``None`` with too few lists, and then ``gate`` is ``None`` too.
    ``trained_queries``: how many lists ``ranker`` learned from. ``pairs``: training pairs (rows).
    """

    ranker: LearnedRanker | None
    gate: Gate | None
    report: FitReport | None
    pairs: int
    train_queries: int
    validation_queries: int
    trained_queries: int
    skipped_no_positive: int
    validated: LearnedRanker | None = None
    """The ranker the gate judged (fitted on the train pairs only), before any refit: what a
    calibration is fitted for on the validation lists, which it has not seen."""
    content_choice: dict[float, float] | None = None
    """Held-out nDCG@10 of the validated ranker (kept or refused) per content weight tried
    (:func:`choose_content_share`); its ``content_share`` is the best of them, and the gate's figure."""

    @property
    def kept(self) -> LearnedRanker | None:
        """The ranker if it beat the reference on the validation lists, else ``None``."""
        return self.ranker if self.gate is not None and self.gate.passed else None


def thin_evenly(rows: Sequence[_Row], limit: int | None) -> list[_Row]:
    """At most ``limit`` of ``rows``, evenly spaced over the sequence (rows ``int(j · n / limit)``), so
    that thinning a time-ordered list keeps every period rather than only the oldest."""
    if limit is None or len(rows) <= limit:
        return list(rows)
    step = len(rows) / limit
    return [rows[int(j * step)] for j in range(limit)]


def train_ranker(
    recommender: Recommender,
    examples: Sequence[Example],
    *,
    today: date,
    config: TrainConfig | None = None,
    reference: PriorRanker | LearnedRanker | None = None,
    progress: Callable[[int], None] | None = None,
) -> TrainOutcome:
    """Learn a ranker from ``examples`` (oldest first) and gate it against ``reference`` (default: the
    prior), on the candidates of ``recommender`` as of ``today``.

    Raises :class:`TooFewExamples` below ``config.min_examples``, and ``ValueError`` when
    cross-validation has too few lists. ``progress(1)`` is called once per example turned into pairs.
    """
    config = config or TrainConfig()
    rows = thin_evenly(examples, config.max_examples)
    if len(rows) < config.min_examples:
        raise TooFewExamples(len(rows), config.min_examples)
    cut = int(len(rows) * (1 - config.validation_share))
    pairs = build_pairs(recommender, rows[:cut], today=today, progress=progress)
    held_out = build_pairs(recommender, rows[cut:], today=today, progress=progress)
    if len(pairs.groups) < config.min_train_queries or len(held_out.groups) < config.min_validation_queries:
        return TrainOutcome(None, None, None, len(pairs), len(pairs.groups), len(held_out.groups), 0,
                            pairs.skipped_no_positive + held_out.skipped_no_positive)
    return gate_and_fit(pairs, held_out, config=config, reference=reference, share=recommender.config.prior_share,
                        cold_share=recommender.config.cold_share)


def gate_and_fit(
    pairs: PairSet,
    held_out: PairSet,
    *,
    config: TrainConfig | None = None,
    reference: PriorRanker | LearnedRanker | None = None,
    share: float = PRIOR_SHARE,
    cold_share: float = COLD_SHARE,
) -> TrainOutcome:
    """Fit a ranker on ``pairs`` (cold-start dropout at ``config.cold_rate``), score it and
    ``reference`` (default: the prior) on ``held_out`` as served (the learned order fused with the
    prior's at ``share``, the cold candidates' content order at ``cold_share``), and refit a ranker
    that passed on both sets when ``config.refit_on_all``. The part of :func:`train_ranker` after
    pairs are built."""
    config = config or TrainConfig()
    params = config.params or {}
    train = simulate_cold(pairs, config.cold_rate)
    report: FitReport | None = None
    if config.folds is None:
        ranker = LearnedRanker(**params).fit(train.X, train.y, train.groups)  # type: ignore[arg-type]
    else:
        ranker, report = fit_ranker(train, folds=config.folds, params=params, share=share, cold_share=cold_share)
    trained, validated, choice = len(pairs.groups), ranker, None
    if len(held_out.groups):
        # How far history is trusted against content: chosen on the lists the gate judges, which the
        # validated ranker has not seen; the gate then compares it at that weight, as it will be
        # served (the best of a few weights on the same lists: a slight optimism, the refit's too).
        ranker.content_share, choice = choose_content_share(ranker, held_out, share=share, cold_share=cold_share)
    learned = choice[ranker.content_share] if choice else _served_ndcg10(ranker, held_out, share, cold_share)
    gate = Gate(learned, _served_ndcg10(reference or PriorRanker(), held_out, share, cold_share))
    if gate.passed and config.refit_on_all and len(held_out.groups):
        every = simulate_cold(PairSet.concat(pairs, held_out), config.cold_rate)
        ranker = LearnedRanker(**params).fit(every.X, every.y, every.groups)  # type: ignore[arg-type]
        ranker.content_share = validated.content_share
        trained = len(every.groups)
    return TrainOutcome(ranker, gate, report, len(pairs), len(pairs.groups), len(held_out.groups), trained,
                        pairs.skipped_no_positive + held_out.skipped_no_positive, validated, choice)


def choose_content_share(ranker: LearnedRanker, lists: PairSet, *, share: float = PRIOR_SHARE,
                         cold_share: float = COLD_SHARE,
                         grid: Sequence[float] = CONTENT_GRID) -> tuple[float, dict[float, float]]:
    """The weight of :data:`CONTENT_GRID` (or ``grid``) whose served order scores the best nDCG@10 on
    ``lists`` (ties: the smaller weight, history trusted unless the lists say otherwise), and every
    weight's figure. ``ranker`` is left as it was.

    A learned ranker trusts history as far as its training lists did; where the lists that matter
    (the latest ones held out, or hand judgments of the queries a deployment expects) are better
    served by the texts and rules, this says by how much, on labels, not by a rule of thumb."""
    if not len(lists.groups):
        raise ValueError("no labelled list to choose the content weight on")
    keep, figures = ranker.content_share, {}
    try:
        for weight in sorted(set(grid)):
            ranker.content_share = float(weight)
            figures[float(weight)] = _served_ndcg10(ranker, lists, share, cold_share)
    finally:
        ranker.content_share = keep
    best = max(figures.values())
    return min(w for w, v in figures.items() if v >= best), figures


def choose_on_judged(base: Recommender, ranker: LearnedRanker, judged: Sequence[Example], today: date
                     ) -> tuple[float, dict[float, float], PairSet] | None:
    """:func:`choose_content_share` on hand-judged projects (judgments of the queries a deployment
    expects, not the history the ranker learned from), their candidates from ``base``: ``(weight,
    figures, lists)``, or None when no project was given or no list holds a fitting resource (the
    weight training chose then stays). ``ranker`` is left as it was. The best of six weights on the
    lists it is then judged on: an optimistic figure, the more so the fewer the projects."""
    lists = build_pairs(base, judged, today=today) if judged else None
    if lists is None or not len(lists.groups):
        return None
    weight, figures = choose_content_share(ranker, lists, share=base.config.prior_share,
                                           cold_share=base.config.cold_share)
    return weight, figures, lists


def held_out_examples(examples: Sequence[Example], config: TrainConfig | None = None) -> list[Example]:
    """The examples :func:`train_ranker` holds out for its gate (after thinning): the latest
    ``validation_share``; the lists a calibration is fitted on."""
    config = config or TrainConfig()
    rows = thin_evenly(examples, config.max_examples)
    return list(rows[int(len(rows) * (1 - config.validation_share)):])


def served_ndcg10(ranker: PriorRanker | LearnedRanker, lists: PairSet, share: float = PRIOR_SHARE,
                  cold_share: float = COLD_SHARE) -> float:
    """nDCG@10 of ``lists`` ordered as ``ranker`` is served (:func:`matcher.ranker.served_scores`)."""
    return _served_ndcg10(ranker, lists, share, cold_share)


def _served_ndcg10(ranker: PriorRanker | LearnedRanker, lists: PairSet, share: float, cold_share: float) -> float:
    scores = served_scores(ranker, lists.X, lists.groups, share=share, cold_share=cold_share)
    return ndcg_of_lists(scores, lists.y, lists.groups)
