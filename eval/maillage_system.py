"""``maillage``, ``maillage-prior`` and ``maillage-zero``: the product pipeline as a system of the harness.

A temporary catalogue loaded with the set, a published resource index, and
:class:`matcher.recommender.Recommender` — a configuration of the one pipeline, never a copy; its
ranker learned through :func:`training.flow.train_ranker`, as ``maillage train`` learns it, and its
relevance calibrated on labelled lists as served (:func:`training.calibrate.calibrate`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from eval.datasets import EvalQuery, EvalSet
from indexes import Encoder
from matcher.calibration import Calibration
from matcher.indexing import ResourceIndex
from matcher.ranker import LearnedRanker, PriorRanker
from matcher.recommender import Recommender, RecommenderConfig
from matcher.store import Catalogue, sqlite_url
from training.calibrate import calibrate
from training.flow import Example, TrainConfig, choose_on_judged, held_out_examples, train_ranker
from training.pairs import COLD_RATE

__all__ = ["MaillageSystem", "Ranking", "not_fitted"]

Ranking = list[tuple[str, float]]


def not_fitted(name: str) -> RuntimeError:
    return RuntimeError(f"system {name!r} is not fitted: call fit(evalset, encoder) first")


class MaillageSystem:
    """The product pipeline on a temporary catalogue: train initiatives and train-only history loaded,
    resources indexed, then :meth:`Recommender.recommend` per test query on ``evalset.today``.

    ``config`` is the :class:`RecommenderConfig`; ``max_k`` is raised to the ``k`` asked for.
    ``zero_history`` (``maillage-zero``) loads no outcome at all and learns nothing: the pipeline as a
    new accelerator starts it, with the prior alone on the texts, the rules and the train initiatives'
    texts (which carry no decision).
    Call :meth:`close` (the harness does) to delete the temporary catalogue.

    Training is :func:`training.flow.train_ranker`, as for ``maillage train`` (pairs from the pipeline's
    own candidates, the latest 20 % of the examples held out to gate the learned ranker against the
    prior), with the differences :meth:`train_config` states; the main one: ``refit_on_all`` fits the
    served ranker again on every example once the gate has passed, so the
    most recent examples teach it too (``docs/decisions.md``, "refit on every train example").
    ``maillage train`` keeps the
    model it validated, so that the registry's comparison with the served model stays fair.
    ``max_train_queries`` thins the examples evenly over time above that many.
    """

    name = "maillage"

    def __init__(
        self,
        *,
        config: RecommenderConfig | None = None,
        progress: Callable[[int, int], None] | None = None,
        learn: bool = True,
        max_train_queries: int = 10_000,
        recent_share: float = 1.0,
        cold_rate: float | str = COLD_RATE,
        ranker_params: dict[str, float | int] | None = None,
        refit_on_all: bool = True,
        zero_history: bool = False,
    ) -> None:
        self.config = config or RecommenderConfig()
        self.progress = progress
        if zero_history and learn:
            raise ValueError("zero_history leaves no outcome to learn from: it needs learn=False")
        self.learn = learn
        self.zero_history = zero_history
        self.name = "maillage-zero" if zero_history else "maillage" if learn else "maillage-prior"
        self.max_train_queries = max_train_queries
        if not 0.0 < recent_share <= 1.0:
            raise ValueError(f"recent_share must be in (0, 1], got {recent_share}")
        self.recent_share = recent_share
        self.cold_rate = cold_rate
        self.ranker_params = ranker_params
        self.refit_on_all = refit_on_all
        self.gate_: dict[str, float] = {}
        self.tmp_: tempfile.TemporaryDirectory[str] | None = None
        self.store_: Catalogue | None = None
        self.recommender_: Recommender | None = None
        self.today_: date | None = None
        self.calibration_: Calibration | None = None
        self.relevance_: dict[str, list[float]] = {}
        self.label_: dict[str, list[str]] = {}
        self.nothing_fits_: dict[str, bool] = {}

    def train_config(self) -> TrainConfig:
        """The :class:`~training.flow.TrainConfig` of this system: at most ``max_train_queries`` examples,
        no error but no ranker below 20 train lists or 5 validation lists, no cross-validation report
        (nothing reads it here, and the gate is the validation), and the refit on every example."""
        return TrainConfig(max_examples=self.max_train_queries, validation_share=0.2, min_examples=0,
                           min_train_queries=20, min_validation_queries=5, folds=None, cold_rate=self.cold_rate,
                           params=self.ranker_params, refit_on_all=self.refit_on_all)

    def fit(self, evalset: EvalSet, encoder: Encoder) -> MaillageSystem:
        self.close()
        self.nothing_fits_, self.relevance_, self.label_, self.calibration_, self.gate_ = {}, {}, {}, None, {}
        self.tmp_ = tempfile.TemporaryDirectory(prefix="maillage-eval-")
        root = Path(self.tmp_.name)
        store = self.store_ = Catalogue.open(sqlite_url(root / "catalogue.db"))
        store.upsert_providers(evalset.providers)
        store.upsert_resources(evalset.resources)
        for start in range(0, len(evalset.train), 2000):
            store.upsert_initiatives([q.initiative for q in evalset.train[start : start + 2000]])
        if not self.zero_history:
            store.append_outcomes(evalset.history)
        index = ResourceIndex.build(store, encoder, root / "indexes", progress=self.progress)
        self.recommender_ = Recommender(index, encoder, self.config)
        self.today_ = evalset.today
        examples = _train_examples(evalset, self.recent_share)
        validated: LearnedRanker | None = None
        if self.learn:
            # The ranker learns from the train split only, through the same function as `maillage train`,
            # with the gate of `maillage promote` inside the train split: it replaces the prior only if
            # it beats it on the latest 20 % of the train examples.
            # As `maillage train` does: candidates and gate from the full prior, the one a learned
            # ranker is fused with (the prior served alone trusts history less, by its quantity).
            base = Recommender(index, encoder, self.config, PriorRanker())
            outcome = train_ranker(base, examples, today=evalset.today, config=self.train_config())
            if outcome.gate is not None:
                self.gate_ = {"validation_ndcg10_learned": outcome.gate.learned_ndcg10,
                              "validation_ndcg10_prior": outcome.gate.reference_ndcg10,
                              "trained_queries": outcome.trained_queries if outcome.kept is not None else 0}
            kept = outcome.kept
            if kept is not None:
                self._trust_content(evalset, base, kept, outcome.content_choice)
                self.recommender_ = Recommender(index, encoder, self.config, kept)
                validated = outcome.validated
        if evalset.calibration:
            # Hand judgments of the same kind as the test labels (the judged dev split): the served
            # recommender is calibrated on them, zero-history included (they are no partnership).
            labelled = [(q.initiative, q.relevant, None) for q in evalset.calibration]
            self.calibration_ = calibrate(self.recommender_, labelled, today=evalset.today,
                                          fitted_on=f"{evalset.name}: calibration queries")
        elif not self.zero_history:
            # Calibrated on the gate's validation lists, as served by the ranker the gate judged (it
            # has not seen them; the ranker then served is refitted on them too, so this is the
            # calibration of a sibling trained on 20 % fewer lists); the zero-history pipeline has no
            # label to calibrate on.
            judged = Recommender(index, encoder, self.config, validated) if validated is not None else self.recommender_
            self.calibration_ = calibrate(judged, held_out_examples(examples, self.train_config()),
                                          today=evalset.today, fitted_on=f"{evalset.name}: validation lists")
        if self.calibration_ is not None:
            self.gate_["calibration_strong"] = self.calibration_.strong
            rec = self.recommender_
            self.recommender_ = Recommender(index, encoder, self.config, rec.ranker, calibration=self.calibration_)
        return self

    def _trust_content(self, evalset: EvalSet, base: Recommender, kept: LearnedRanker,
                       choice: dict[float, float] | None) -> None:
        """Record the content weight training chose on its validation lists, or choose it again on the
        set's calibration queries when it has some: hand judgments of the queries to come (the judged
        dev split), not the history the ranker learned from, say how far that history is trusted."""
        chosen = choose_on_judged(base, kept, [(q.initiative, q.relevant, None) for q in evalset.calibration],
                                  evalset.today)
        if chosen is not None:  # else the weight training chose stays
            kept.content_share, choice, _ = chosen
        self.gate_["content_share"] = kept.content_share
        self.gate_["content_choice"] = choice  # type: ignore[assignment]

    def relevances(self, queries: Sequence[EvalQuery]) -> list[list[float] | None]:
        """The calibrated probability of each match ranked for each query by the last :meth:`rank`
        (None per query when the system has no calibration)."""
        return [self.relevance_.get(q.id) for q in queries]

    def relevance_labels(self, queries: Sequence[EvalQuery]) -> list[list[str] | None]:
        """The label shown with each match ranked for each query by the last :meth:`rank` (None per
        query when the system has no calibration)."""
        return [self.label_.get(q.id) for q in queries]

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        rec = self.recommender_
        if rec is None:
            raise not_fitted(self.name)
        if k > rec.config.max_k:  # a deeper list than the service allows: same pipeline, wider knob
            rec = self.recommender_ = Recommender(rec.index, rec.encoder, replace(rec.config, max_k=k), rec.ranker,
                                                  calibration=rec.calibration)
        out = []
        for q in queries:
            result = rec.recommend(q.initiative, k, today=self.today_, explain=False)
            self.nothing_fits_[q.id] = result.nothing_fits  # read by nothing_fits(): no second pass
            # No staff overrides here, so no pinned match without a score.
            out.append([(m.resource_id, m.score if m.score is not None else math.inf) for m in result.matches])
            if rec.calibration is not None:
                self.relevance_[q.id] = [m.relevance if m.relevance is not None else 0.0 for m in result.matches]
                self.label_[q.id] = [m.relevance_label or "faible" for m in result.matches]
        return out

    def nothing_fits(self, queries: Sequence[EvalQuery]) -> list[bool]:
        """:attr:`matcher.presentation.Recommendation.nothing_fits` of each query, as recorded by
        :meth:`rank` (kept after :meth:`close`); raises ``ValueError`` for a query never ranked."""
        missing = [q.id for q in queries if q.id not in self.nothing_fits_]
        if missing:
            raise ValueError(f"system {self.name!r} has not ranked {', '.join(missing[:5])}")
        return [self.nothing_fits_[q.id] for q in queries]

    def close(self) -> None:
        if self.store_ is not None:
            self.store_.close()
            self.store_ = None
        if self.tmp_ is not None:
            self.tmp_.cleanup()
            self.tmp_ = None


def _train_examples(evalset: EvalSet, recent_share: float) -> list[Example]:
    """The train split as dated examples, oldest first: its most recent ``recent_share`` (all of it by
    default: ``docs/decisions.md``, "the whole train split"), each scored as of its own date (only
    earlier partnerships count), as test queries are.

    An example dated before any recorded partnership is dropped: it would be scored against an empty
    history, a situation serving never meets, and teach the ranker that history says nothing.
    """
    dated = sorted(evalset.train, key=lambda q: (q.when or date.min, q.id))
    dated = dated[int(len(dated) * (1.0 - recent_share)) :]
    first = min((o.occurred_at.date() for o in evalset.history), default=None)
    if first is not None:
        dated = [q for q in dated if q.when is None or q.when > first]
    return [
        (q.initiative, q.relevant, datetime(q.when.year, q.when.month, q.when.day, tzinfo=UTC) if q.when else None)
        for q in dated
    ]
