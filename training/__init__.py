"""Training: labelled pairs from outcomes, ranker fitting with grouped CV, model registry, promotion gate."""

from training.fit import FitReport, fit_ranker, ndcg_of_lists
from training.pairs import PairSet, build_pairs
from training.registry import ModelRegistry, PromotionRefused
from training.train import TrainResult, examples_from_outcomes, train_from_catalogue

__all__ = [
    "FitReport",
    "ModelRegistry",
    "PairSet",
    "PromotionRefused",
    "TrainResult",
    "build_pairs",
    "examples_from_outcomes",
    "fit_ranker",
    "ndcg_of_lists",
    "train_from_catalogue",
]
