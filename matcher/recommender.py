"""The one pipeline that makes a ranked list: ``Recommender.recommend``.

The service, the widget, batch matching, training and evaluation all call it. It reads top to
bottom as its four stages, each in its own module, all reading and writing one
:class:`matcher.pool.Pool`:

1. retrieve (:mod:`matcher.retrieval`): the allowed set, dense + BM25 + history candidates, every
   retrieval and history feature column;
2. check (:mod:`matcher.checking`): eligibility per criterion and the pair features, memoised;
3. rank (:class:`matcher.ranker.ServedRanker`): the prior, or a learned ranker fused with it;
4. present (:mod:`matcher.presentation`): staff pins and exclusions, diversity, explanations.

The reverse direction (resource → initiatives) is :mod:`matcher.reverse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from indexes import Encoder
from matcher.calibration import Calibration
from matcher.checking import Checker
from matcher.deadline import checkpoint
from matcher.freshness import STALE_AFTER_DAYS
from matcher.fusion import COLD_SHARE, PRIOR_SHARE, RRF_K
from matcher.indexing import InitiativeIndex, ResourceIndex
from matcher.pool import Candidate, Pool
from matcher.presentation import Presenter, Recommendation, pinned_ids
from matcher.ranker import LearnedRanker, PriorRanker, ServedRanker, history_scale
from matcher.retrieval import Retriever
from matcher.reverse import initiatives_for
from matcher.schemas import Initiative, InitiativeMatch, MatchQuery, Outcome

__all__ = ["Candidate", "Recommendation", "Recommender", "RecommenderConfig"]


@dataclass(frozen=True)
class RecommenderConfig:
    """Knobs of the pipeline; saved with evaluation reports so a figure names its configuration."""

    dense_candidates: int = 200
    """How many resources the dense search hands to the candidate pool."""
    sparse_candidates: int = 200
    """How many resources the BM25 search hands to the candidate pool."""
    knn_neighbours: int = 30
    """How many similar past initiatives vote for the resources they obtained."""
    rrf_k: int = RRF_K
    """Reciprocal-rank fusion constant: ``rrf = Σ 1 / (rrf_k + rank)`` over the two searches."""
    use_dense: bool = True
    use_sparse: bool = True
    use_history: bool = True
    use_ranker: bool = True
    """False orders by the fusion score alone (retrieval only)."""
    rerank_depth: int = 50
    """A learned ranker reorders this many of the prior's best candidates (and is trained on them)."""
    prior_share: float = PRIOR_SHARE
    """A learned ranker's order is fused with the prior's, the prior weighing this much against 1
    (:func:`matcher.fusion.fuse_with_prior`); 0 serves the learned order alone."""
    cold_share: float = COLD_SHARE
    """A learned ranker's list also fuses the content order of its candidates without history at this
    weight (:func:`matcher.fusion.fuse_with_prior`); 0 leaves it out."""
    max_per_provider: int = 3
    """Diversity: at most this many resources of one provider in a list (0 = no cap)."""
    max_k: int = 100

    def __post_init__(self) -> None:
        counts = {"dense_candidates": 1, "sparse_candidates": 1, "knn_neighbours": 1, "rrf_k": 0, "rerank_depth": 0,
                  "max_per_provider": 0, "max_k": 1}
        for name, least in counts.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"RecommenderConfig.{name} must be an integer >= {least}, got {value!r}")
        for name in ("prior_share", "cold_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"RecommenderConfig.{name} must be a number >= 0, got {value!r}")


class Recommender:
    """Matches initiatives (or free-text projects) to resources.

    A recommender is fixed once built: its stages keep the index, the encoder, the config and the
    ranker they were given. To serve another index or ranker, build another recommender (the service
    does at every swap). ``stale_after_days`` is how old a record's ``last_verified`` may be before its
    matches carry a warning (display only: the ranking is the same whatever it is)."""

    def __init__(
        self,
        index: ResourceIndex,
        encoder: Encoder,
        config: RecommenderConfig | None = None,
        ranker: PriorRanker | LearnedRanker | None = None,
        *,
        model_version: str | None = None,
        calibration: Calibration | None = None,
        stale_after_days: int = STALE_AFTER_DAYS,
    ) -> None:
        if index.manifest.encoder_id != encoder.model_id:
            raise ValueError(
                f"index {index.version} was built with {index.manifest.encoder_id!r}, "
                f"encoder is {encoder.model_id!r}"
            )
        cfg = config or RecommenderConfig()
        if ranker is None:  # the prior served alone trusts history in proportion to how much there is
            positives = sum(index.history.positives.values())
            ranker = PriorRanker(history_scale=history_scale(positives, len(index.resources)))
        self._index, self._encoder, self._config, self._ranker = index, encoder, cfg, ranker
        self._model_version = model_version or f"{self._ranker.kind}@{encoder.model_id}"
        prior = self._ranker if isinstance(self._ranker, PriorRanker) else PriorRanker()
        self.served = ServedRanker(self._ranker if cfg.use_ranker else None, prior, cfg.prior_share, cfg.rerank_depth,
                                   cfg.cold_share)
        self.retriever = Retriever(index, encoder, cfg)
        self.checker = Checker()
        if calibration is not None and calibration.encoder != encoder.model_id:
            raise ValueError(f"calibration fitted with {calibration.encoder!r}, encoder is {encoder.model_id!r}")
        self._calibration = calibration
        if isinstance(stale_after_days, bool) or not isinstance(stale_after_days, int) or stale_after_days < 1:
            raise ValueError(f"stale_after_days must be an integer >= 1, got {stale_after_days!r}")
        self.presenter = Presenter(index, self._model_version, cfg.max_per_provider, calibration, stale_after_days)

    @property
    def index(self) -> ResourceIndex:
        return self._index

    @property
    def encoder(self) -> Encoder:
        return self._encoder

    @property
    def config(self) -> RecommenderConfig:
        return self._config

    @property
    def ranker(self) -> PriorRanker | LearnedRanker:
        return self._ranker

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @property
    def model_version(self) -> str:
        return self._model_version

    def recommend(
        self,
        query: MatchQuery | Initiative,
        k: int = 10,
        *,
        today: date | None = None,
        with_excluded: bool = False,
        exclude_history_of: str | None = None,
        history_before: datetime | None = None,
        overrides: Mapping[str, Outcome] | None = None,
        explain: bool = True,
        query_vector: np.ndarray | None = None,
    ) -> Recommendation:
        """Top ``k`` eligible resources for ``query``, best first, each explained.

        ``today`` fixes the date that decides what is open and dates each match's freshness (defaults
        to the current date).
        ``exclude_history_of`` leaves that initiative out of the history (a past initiative scored
        for training must not vote for itself) and ``history_before`` counts only partnerships
        decided before that time (scoring as of a past date). ``overrides`` are staff decisions for
        this initiative (``Catalogue.overrides_for``): pinned resources come first whatever their
        score, excluded ones never appear; both say so in their reasons. ``with_excluded`` also
        returns the hard failures. ``explain=False`` leaves out the checks and reasons of each match
        (same ranking; offline evaluation reads only ids and scores). ``query_vector``: the
        ``(d,) float32`` L2-normalised vector of the query's text, when the caller encoded it already
        (the service encodes concurrent requests' texts together); without it the text is encoded here.
        Raises ``ValueError`` when ``k`` is outside ``1..config.max_k`` or the vector's shape is not
        ``(encoder.dim,)``."""
        self._check_k(k)
        if query_vector is not None and query_vector.shape != (self.encoder.dim,):
            raise ValueError(f"query_vector must have shape ({self.encoder.dim},), got {query_vector.shape}")
        q = MatchQuery.from_initiative(query) if isinstance(query, Initiative) else query
        overrides = overrides or {}
        pins = pinned_ids(overrides, self.index)
        day = today or date.today()
        checkpoint()  # abandoned work stops between stages (matcher.deadline; a no-op outside the service)
        pool = self._pool(q, k, day, exclude_history_of, history_before, pins, query_vector)
        checkpoint()
        return self.presenter.present(pool, k, overrides, pins, with_excluded=with_excluded, explain=explain,
                                      today=day)

    def candidates(
        self, q: MatchQuery, k: int, *, today: date, exclude_history_of: str | None = None,
        history_before: datetime | None = None,
    ) -> list[Candidate]:
        """The scored candidate pool for ``q``, best first (eligible or not). Training reads this to
        build labelled pairs with hard negatives, so it sees exactly what serving sees."""
        pool = self._pool(q, k, today, exclude_history_of, history_before, ())
        return [pool.candidate(i) for i in range(pool.retrieved)]

    def recommend_initiatives(
        self, resource_id: str, initiatives: InitiativeIndex, k: int = 10, *, today: date | None = None
    ) -> list[InitiativeMatch]:
        """For one resource, the initiatives that fit it best (:func:`matcher.reverse.initiatives_for`)."""
        self._check_k(k)
        return initiatives_for(self.index, self.encoder, initiatives, resource_id, k, today or date.today(),
                               candidates=self.config.dense_candidates, rrf_k=self.config.rrf_k)

    def _pool(self, q: MatchQuery, k: int, today: date, exclude: str | None, before: datetime | None,
              pins: Sequence[str], vector: np.ndarray | None = None) -> Pool:
        """Retrieve → check → rank: the pool that presentation reads."""
        found = self.retriever.retrieve(q, k, today, exclude=exclude, extra=pins,
                                        before=before.timestamp() if before is not None else None, vector=vector)
        checkpoint()
        pool = self.checker.pool(q, today, found.resources, found.columns, found.retrieved)
        pool.nearest = found.nearest
        self.served.rank(pool)
        return pool

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be between 1 and {self.config.max_k}, got {k}")
