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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from matcher.features import FEATURE_VERSION, FEATURES

__all__ = [
    "FUSION_K", "PRIOR_SHARE", "LearnedRanker", "PriorRanker", "Ranker", "RankerError", "fuse_with_prior",
    "load_ranker", "served_scores",
]


class RankerError(RuntimeError):
    """A saved ranker that cannot be used with this code (message says why and what to do)."""


class Ranker(Protocol):
    kind: str

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, folder: Path) -> list[Path]: ...


# Hand weights on roughly standardised features: what staff would weigh without any labels.
_PRIOR_WEIGHTS: dict[str, float] = {
    "dense": 4.0,
    "bm25": 0.05,
    "rrf": 20.0,
    "name_match": 1.0,
    "knn_vote": 2.0,
    "knn_best": 0.3,
    "lex_vote": 1.5,
    "profile": 0.5,
    "text_clf": 2.0,
    "vector_clf": 2.0,
    "local_share": 1.0,
    "amount_typicality": 0.05,
    "popularity": 0.05,
    "acceptance": 0.3,
    "territory_level": -0.05,
    "stage_fit": 0.2,
    "legal_form_fit": 0.2,
    "amount_fit": 0.2,
    "needs_overlap": 0.4,
    "unknown_checks": -0.02,
}


@dataclass
class PriorRanker:
    """A weighted sum of features; the weights are readable and stored with the ranker."""

    weights: dict[str, float] = field(default_factory=lambda: dict(_PRIOR_WEIGHTS))
    kind: str = "prior"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(FEATURES))
        if unknown:
            raise ValueError(f"weights name unknown features {unknown}; known: {', '.join(FEATURES)}")
        self.coef_ = np.array([self.weights.get(n, 0.0) for n in FEATURES], dtype=np.float32)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> PriorRanker:
        return self  # nothing to learn: the prior is the fallback when there are no labels

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.coef_

    def save(self, folder: Path) -> list[Path]:
        path = folder / "ranker.json"
        path.write_text(json.dumps(_header(self.kind, {"weights": self.weights}), indent=2), encoding="utf-8")
        return [path]


@dataclass
class LearnedRanker:
    """LightGBM LambdaRank over :data:`FEATURES`; ``groups`` are the sizes of consecutive query lists."""

    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 7
    """Small trees generalise better here: on dev splits inside the train years, 7 leaves gave nDCG@10
    0.749 against 0.737 for 15 (réserve parlementaire, dev 2015) and 0.720 against 0.666 (beta.gouv,
    dev 2021); 100 samples per leaf or a slower rate with more trees did not help."""
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    random_state: int = 0
    n_models: int = 5
    """Bagging: this many models, seeded ``random_state``, ``random_state + 1``…, their scores averaged
    (each sees its own row and feature subsamples, so together they vary less from seed to seed).
    On the dev splits, 5 against 1: réserve parlementaire (dev 2015) 0.7404 and 0.7407 for two seeds
    against 0.7415 for one model; beta.gouv 0.635 against 0.636 (dev 2020) and 0.751 against 0.729
    (dev 2021), two seeds each."""
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
    return {"kind": kind, "feature_version": FEATURE_VERSION, "features": list(FEATURES), "params": params}


def load_ranker(folder: Path) -> PriorRanker | LearnedRanker:
    """Load a saved ranker, refusing one trained on another feature schema."""
    path = folder / "ranker.json"
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RankerError(f"no ranker.json in {folder}") from exc
    except json.JSONDecodeError as exc:
        raise RankerError(f"{path} is not valid JSON: {exc}") from exc
    if head.get("features") != list(FEATURES) or head.get("feature_version") != FEATURE_VERSION:
        raise RankerError(
            f"ranker in {folder} was trained on features {head.get('features')} (version "
            f"{head.get('feature_version')}), this Maillage computes {list(FEATURES)} (version "
            f"{FEATURE_VERSION}): retrain it with maillage train"
        )
    kind = head.get("kind")
    if kind == "prior":
        return PriorRanker(weights=head["params"]["weights"])
    if kind == "lambdarank":
        import lightgbm as lgb

        ranker = LearnedRanker(**head["params"])
        ranker.boosters_ = []
        for i in range(ranker.n_models):
            path = folder / _model_file(i)
            try:
                ranker.boosters_.append(lgb.Booster(model_file=str(path)))
            except Exception as exc:
                raise RankerError(f"cannot read {path}: {exc}") from exc
        return ranker
    raise RankerError(f"unknown ranker kind {kind!r} in {path}: expected 'prior' or 'lambdarank'")


FUSION_K = 5
"""Rank offset of :func:`fuse_with_prior`: small, so the first places of each order weigh most."""
PRIOR_SHARE = 0.5
"""Weight of the prior's order against the learned ranker's (1) in :func:`fuse_with_prior`.

Chosen on dev splits inside the train years (nDCG@10, learned alone → fused): beta.gouv 0.637 →
0.676 (dev 2020) and 0.745 → 0.788 (dev 2021), réserve parlementaire 0.749 → 0.751 (dev 2015). A
weight of 1 did slightly better on average over the three (0.744 against 0.738) but lost more on
startups whose sponsor was new (dev 2020 cold slice: learned alone 0.617, 0.583 at 0.5, 0.540 at 1)."""


def fuse_with_prior(
    learned: np.ndarray, prior: np.ndarray, *, share: float = PRIOR_SHARE, k: float = FUSION_K
) -> np.ndarray:
    """Scores of one candidate list that order it by reciprocal-rank fusion of two orders:
    ``1 / (k + rank by learned) + share / (k + rank by prior)``, ranks from 0, ties broken by list order.

    With a few hundred labelled lists (a new deployment, beta.gouv) a learned ranker is as noisy as
    it is sharp, and the transparent prior it replaces was often right where it went wrong: fusing
    the two orders keeps most of what was learned and damps what was learned by chance. Ranks,
    not scores, so neither scale needs calibrating. ``share`` 0 gives the learned order alone."""
    if not share >= 0:
        raise ValueError(f"share must be a non-negative weight, got {share!r}")
    learned = np.asarray(learned, dtype=np.float64)
    if share == 0 or len(learned) == 0:
        return learned.astype(np.float32)
    rank_learned = np.argsort(np.argsort(-learned, kind="stable"), kind="stable")
    rank_prior = np.argsort(np.argsort(-np.asarray(prior, dtype=np.float64), kind="stable"), kind="stable")
    return (1.0 / (k + rank_learned) + share / (k + rank_prior)).astype(np.float32)


def served_scores(ranker: PriorRanker | LearnedRanker, X: np.ndarray, groups: np.ndarray, *,
                  share: float = PRIOR_SHARE) -> np.ndarray:
    """Scores of consecutive candidate lists (sizes ``groups``) in the order the recommender serves
    them: the prior's own, or a learned ranker's fused with the prior's (:func:`fuse_with_prior`)."""
    X = np.asarray(X, dtype=np.float32)
    if isinstance(ranker, PriorRanker):
        return ranker.predict(X)
    sizes = np.asarray(groups, dtype=np.int64)
    if int(sizes.sum()) != len(X):
        raise ValueError(f"groups sum to {int(sizes.sum())} but X has {len(X)} rows")
    learned, prior = ranker.predict(X), PriorRanker().predict(X)
    out = np.empty(len(X), dtype=np.float32)
    start = 0
    for g in sizes.tolist():
        out[start : start + g] = fuse_with_prior(learned[start : start + g], prior[start : start + g], share=share)
        start += g
    return out
