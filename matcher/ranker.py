"""Rankers: score candidate pairs from their features (:data:`matcher.features.FEATURES`).

Two implementations with one scikit-learn–style API (``fit`` returns ``self``, learned state ends
in ``_``, ``predict(X) -> (n,) float``):

- :class:`PriorRanker`, transparent hand weights, used when no labels exist yet;
- :class:`LearnedRanker`, LightGBM with a LambdaRank objective (it optimises nDCG over each query's
  candidate list directly), trained from labelled pairs with hard negatives from retrieval.

A learned ranker is not served alone: its order is fused with the prior's (:func:`fuse_with_prior`),
and gates judge it the way it is served (:func:`served_scores`).

A ranker is saved as a folder with ``ranker.json`` (kind, feature names and version, parameters)
and, for the learned one, LightGBM's own text model: no pickle. Loading refuses a ranker whose
feature schema differs from this code's, saying what to do.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matcher.features import COLD_VALUES, COLUMN, FEATURE_VERSION, FEATURES, PRIOR_WEIGHTS, SCHEMA_HASH, TABLE
from matcher.fusion import COLD_SHARE, FUSION_K, PRIOR_SHARE, fuse_with_prior
from matcher.pool import Pool

__all__ = [
    "FUSION_K", "HISTORY_HALF", "PRIOR_SHARE", "LearnedRanker", "PriorRanker", "RankerError", "ServedRanker",
    "fuse_with_prior", "history_scale", "load_ranker", "served_scores",
]


HISTORY_FEATURES = frozenset(f.name for f in TABLE if f.stage == "history")


class RankerError(RuntimeError):
    """A saved ranker that cannot be used with this code (message says why and what to do)."""


HISTORY_HALF = 1.0
"""Past partnerships per resource at which a prior served alone trusts history by half
(:func:`history_scale`; ``docs/decisions.md``, "history in proportion")."""


def history_scale(positives: int, resources: int) -> float:
    """How much a prior served alone trusts history: ``ρ / (ρ + HISTORY_HALF)``, ``ρ`` the positive
    decisions per resource of the catalogue. A few hundred outcomes over as many resources weigh
    half (the demo: 0.47); thousands over a few hundred weigh fully (réserve parlementaire: 0.96)."""
    if resources <= 0 or positives <= 0:
        return 0.0
    rho = positives / resources
    return rho / (rho + HISTORY_HALF)


@dataclass
class PriorRanker:
    """A weighted sum of features; the weights are readable and stored with the ranker. The default
    weights are the table's (:data:`matcher.features.PRIOR_WEIGHTS`): hand weights on roughly
    standardised features, what staff would weigh without any labels.

    ``history_scale`` multiplies the history features' part of the sum (each taken from its cold
    value, so a resource nobody partnered with is unaffected): a prior cannot learn how far history
    can be trusted, so one served alone is given :func:`history_scale` of the catalogue's history. A
    learned ranker decides that from labels; the prior it is fused with keeps scale 1, as trained."""

    weights: dict[str, float] = field(default_factory=lambda: dict(PRIOR_WEIGHTS))
    kind: str = "prior"
    history_scale: float = 1.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(FEATURES))
        if unknown:
            raise ValueError(f"weights name unknown features {unknown}; known: {', '.join(FEATURES)}")
        scale = self.history_scale
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0.0 <= float(scale) <= 1.0:
            raise ValueError(f"history_scale must be a number in [0, 1], got {scale!r}")
        history = np.array([n in HISTORY_FEATURES for n in FEATURES])
        coef = np.array([self.weights.get(n, 0.0) for n in FEATURES], dtype=np.float32)
        self.coef_ = coef
        self.content_coef_ = np.where(history, 0.0, coef).astype(np.float32)
        self.history_coef_ = np.where(history, coef, 0.0).astype(np.float32)
        self.history_offset_ = float(sum(self.weights.get(n, 0.0) * COLD_VALUES.get(n, 0.0) for n in HISTORY_FEATURES))

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> PriorRanker:
        return self  # nothing to learn: the prior is the fallback when there are no labels

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if self.history_scale == 1.0:
            return X @ self.coef_
        history = (X @ self.history_coef_).astype(np.float64) - self.history_offset_
        content = (X @ self.content_coef_).astype(np.float64)
        return (content + self.history_offset_ + float(self.history_scale) * history).astype(np.float32)

    def content_scores(self, X: np.ndarray) -> np.ndarray:
        """What :meth:`predict` gives each row with its history features at their cold values: the
        score of the texts and rules alone."""
        X = np.asarray(X, dtype=np.float32)
        return ((X @ self.content_coef_).astype(np.float64) + self.history_offset_).astype(np.float32)

    def save(self, folder: Path) -> list[Path]:
        path = folder / "ranker.json"
        params = {"weights": self.weights, "history_scale": self.history_scale}
        path.write_text(json.dumps(_header(self.kind, params), indent=2), encoding="utf-8")
        return [path]


@dataclass
class LearnedRanker:
    """LightGBM LambdaRank over :data:`FEATURES`; ``groups`` are the sizes of consecutive query lists."""

    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 7
    """Small trees generalise better here (``docs/decisions.md``, "7 leaves")."""
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    random_state: int = 0
    n_models: int = 5
    """Bagging: this many models, seeded ``random_state``, ``random_state + 1``…, their scores averaged
    (each sees its own row and feature subsamples, so together they vary less from seed to seed;
    ``docs/decisions.md``, "a bag of 5")."""
    content_share: float = 0.0
    """Weight of the content order of every candidate in the served fusion
    (:func:`matcher.fusion.fuse_with_prior`): how far this ranker's history is trusted against the
    texts and rules, chosen on held-out labelled lists (:func:`training.flow.choose_content_share`:
    the validation lists, or hand judgments of the queries to come where a deployment or a judged
    evaluation has them) and stored with the model; 0 (a model saved before it existed) leaves it out."""
    kind: str = "lambdarank"

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> LearnedRanker:
        import lightgbm as lgb

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(FEATURES):
            raise ValueError(f"X must have shape (n, {len(FEATURES)}), got {X.shape}")
        if int(np.sum(groups)) != X.shape[0]:
            raise ValueError(f"groups sum to {int(np.sum(groups))} but X has {X.shape[0]} rows")
        if self.n_models < 1:
            raise ValueError(f"n_models must be at least 1, got {self.n_models}")
        self.boosters_ = []
        for i in range(self.n_models):
            model = lgb.LGBMRanker(
                objective="lambdarank",
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples,
                subsample=self.subsample,
                subsample_freq=1,
                colsample_bytree=self.colsample_bytree,
                random_state=self.random_state + i,
                n_jobs=2,
                verbose=-1,
            )
            model.fit(X, np.asarray(y, dtype=np.int32), group=np.asarray(groups), feature_name=list(FEATURES))
            self.boosters_.append(model.booster_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "boosters_"):
            raise RankerError("this LearnedRanker is not fitted yet: call fit() or load a trained one")
        X = np.asarray(X, dtype=np.float32)
        scores = np.mean([b.predict(X) for b in self.boosters_], axis=0)
        return np.asarray(scores, dtype=np.float32)

    def feature_importances(self) -> dict[str, float]:
        gains = np.sum([b.feature_importance(importance_type="gain") for b in self.boosters_], axis=0)
        total = float(np.sum(gains)) or 1.0
        return {n: float(g) / total for n, g in zip(FEATURES, gains, strict=True)}

    def save(self, folder: Path) -> list[Path]:
        params = {k: v for k, v in asdict(self).items() if k != "kind"}
        head = folder / "ranker.json"
        head.write_text(json.dumps(_header(self.kind, params), indent=2), encoding="utf-8")
        models = [folder / _model_file(i) for i in range(len(self.boosters_))]
        for booster, path in zip(self.boosters_, models, strict=True):
            booster.save_model(str(path))
        return [head, *models]


def _model_file(i: int) -> str:
    """The file of bagged model ``i`` (the first keeps the name a single model always had)."""
    return "lightgbm.txt" if i == 0 else f"lightgbm_{i}.txt"


def _header(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "feature_version": FEATURE_VERSION, "features": list(FEATURES), "schema_hash": SCHEMA_HASH,
            "params": params}


def load_ranker(folder: Path) -> PriorRanker | LearnedRanker:
    """Load a saved ranker, refusing one trained on another feature schema."""
    path = folder / "ranker.json"
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RankerError(f"no ranker.json in {folder}") from exc
    except json.JSONDecodeError as exc:
        raise RankerError(f"{path} is not valid JSON: {exc}") from exc
    if (head.get("features") != list(FEATURES) or head.get("feature_version") != FEATURE_VERSION
            or head.get("schema_hash", SCHEMA_HASH) != SCHEMA_HASH):
        raise RankerError(
            f"ranker in {folder} was trained on features {head.get('features')} (version "
            f"{head.get('feature_version')}), this Maillage computes {list(FEATURES)} (version "
            f"{FEATURE_VERSION}): it must be trained again on this schema"
        )
    kind = head.get("kind")
    if kind == "prior":
        # A prior saved before history_scale existed trusted history fully.
        return PriorRanker(weights=head["params"]["weights"], history_scale=head["params"].get("history_scale", 1.0))
    if kind == "lambdarank":
        import lightgbm as lgb

        ranker = LearnedRanker(**head["params"])
        weight = ranker.content_share
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight < math.inf:
            raise RankerError(f"{path}: content_share must be a finite non-negative number, got {weight!r}")
        ranker.boosters_ = []
        for i in range(ranker.n_models):
            path = folder / _model_file(i)
            try:
                ranker.boosters_.append(lgb.Booster(model_file=str(path)))
            except Exception as exc:
                raise RankerError(f"cannot read {path}: {exc}") from exc
        return ranker
    raise RankerError(f"unknown ranker kind {kind!r} in {path}: expected 'prior' or 'lambdarank'")


@dataclass(frozen=True)
class ServedRanker:
    """The ranking stage as served, and as every gate judges a ranker.

    ``ranker`` None orders by the fusion of the searches alone (retrieval only). A prior orders the
    whole pool. A learned ranker reorders the prior's best ``depth`` (the only part of a pool it was
    trained on: it has never seen the tail, so it must not judge it), its order fused with the
    prior's at ``share`` (:func:`matcher.fusion.fuse_with_prior`), and the candidates without
    history in it ranked by content again at ``cold_share``; the tail follows in prior order."""

    ranker: PriorRanker | LearnedRanker | None
    prior: PriorRanker = field(default_factory=PriorRanker)
    share: float = PRIOR_SHARE
    depth: int = 50
    cold_share: float = COLD_SHARE

    def fuse(self, learned: np.ndarray, prior: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The served scores of one list whose learned and prior scores are given (rows of ``X``)."""
        content_share = float(getattr(self.ranker, "content_share", 0.0))
        if self.cold_share <= 0 and content_share <= 0:
            return fuse_with_prior(learned, prior, share=self.share)
        return fuse_with_prior(learned, prior, share=self.share, content=self.prior.content_scores(X),
                               cold=X[:, COLUMN["has_history"]] == 0, cold_share=self.cold_share,
                               content_share=content_share)

    def rank(self, pool: Pool) -> None:
        """Score and order the retrieved rows of ``pool``, best first."""
        n = pool.retrieved
        if len(pool):
            pool.prior_scores = self.prior.predict(pool.X.astype(np.float32)).astype(np.float64)
        if n == 0:
            return
        if self.ranker is None:
            pool.scores[:n] = pool.column("rrf")[:n]
            pool.sort()
            return
        assert pool.prior_scores is not None
        pool.scores[:n] = pool.prior_scores[:n]
        pool.sort()
        if isinstance(self.ranker, PriorRanker):
            return
        depth = min(self.depth, n)
        learned = self.ranker.predict(pool.X[:depth].astype(np.float32))
        served = self.fuse(learned, pool.scores[:depth], pool.X[:depth])
        floor = float(np.min(served)) if depth else 0.0
        pool.scores[:depth] = served.astype(np.float64)
        pool.scores[depth:n] = floor - np.arange(1, n - depth + 1, dtype=np.float64)  # below the head, prior order
        pool.sort(0, depth)

    def score_lists(self, X: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Scores of consecutive candidate lists (sizes ``groups``) in the order this ranker serves them.
        Each list is taken as a whole head (training cuts its lists at the rerank depth,
        :func:`training.pairs.build_pairs`), so this is :meth:`rank` without a tail."""
        X = np.asarray(X, dtype=np.float32)
        if self.ranker is None:
            return X[:, COLUMN["rrf"]].copy()
        if isinstance(self.ranker, PriorRanker):
            return self.ranker.predict(X)
        sizes = np.asarray(groups, dtype=np.int64)
        if int(sizes.sum()) != len(X):
            raise ValueError(f"groups sum to {int(sizes.sum())} but X has {len(X)} rows")
        learned, prior = self.ranker.predict(X), self.prior.predict(X)
        out = np.empty(len(X), dtype=np.float32)
        start = 0
        for g in sizes.tolist():
            rows = slice(start, start + g)
            out[rows] = self.fuse(learned[rows], prior[rows], X[rows])
            start += g
        return out


def served_scores(ranker: PriorRanker | LearnedRanker, X: np.ndarray, groups: np.ndarray, *,
                  share: float = PRIOR_SHARE, cold_share: float = COLD_SHARE) -> np.ndarray:
    """:meth:`ServedRanker.score_lists` of ``ranker`` fused with the default prior at ``share`` (and
    ``cold_share``): what the gates compare."""
    return ServedRanker(ranker, share=share, cold_share=cold_share).score_lists(X, groups)
