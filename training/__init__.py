"""Training: labelled pairs from outcomes, ranker fitting with grouped CV, registering the fitted ranker.

The registry itself is :mod:`matcher.registry`: the core loads models, training fits and registers them.
"""

from training.fit import FitReport, fit_ranker, ndcg_of_lists
from training.pairs import PairSet, build_pairs
from training.train import TrainResult, examples_from_outcomes, train_from_catalogue

__all__ = [
    "FitReport",
    "PairSet",
    "TrainResult",
    "build_pairs",
    "examples_from_outcomes",
    "fit_ranker",
    "ndcg_of_lists",
    "train_from_catalogue",
]
