"""Training: labelled pairs from outcomes, the one training flow (thinning, time split, gate, refit),
ranker fitting with grouped CV, registering the fitted ranker.

The registry itself is :mod:`matcher.registry`: the core loads models, training fits and registers them.
"""

from training.fit import FitReport, fit_ranker, ndcg_of_lists
from training.flow import Gate, TooFewExamples, TrainConfig, TrainOutcome, gate_and_fit, thin_evenly, train_ranker
from training.pairs import PairSet, build_pairs
from training.train import TrainResult, examples_from_outcomes, train_from_catalogue

__all__ = [
    "FitReport",
    "Gate",
    "PairSet",
    "TooFewExamples",
    "TrainConfig",
    "TrainOutcome",
    "TrainResult",
    "build_pairs",
    "examples_from_outcomes",
    "fit_ranker",
    "gate_and_fit",
    "ndcg_of_lists",
    "thin_evenly",
    "train_from_catalogue",
    "train_ranker",
]
