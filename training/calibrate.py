"""Fit a :class:`matcher.calibration.Calibration` on labelled lists exactly as they are served.

Each labelled example (an initiative, the resources it really obtained, its date) is matched as
serving would match it on that date (only earlier partnerships count, its own left out); the top
``k`` ranked matches with their calibration inputs and labels are the calibration's pairs. The
examples must not be those the calibration will be judged on: training uses its held-out
validation lists, the judged set its dev split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from matcher.calibration import Calibration, fit_calibration
from matcher.recommender import Recommender
from matcher.schemas import Initiative, MatchQuery

__all__ = ["CalibrationLists", "calibrate", "served_lists"]

Labelled = tuple[Initiative | MatchQuery, frozenset[str], datetime | None]


@dataclass(frozen=True)
class CalibrationLists:
    """The served top-``k`` of labelled examples: one row per ranked match, and per list its first row."""

    inputs: np.ndarray
    labels: np.ndarray
    starts: list[int]
    """Index of each non-empty list's first row."""
    lists: int

    def best(self) -> tuple[np.ndarray, np.ndarray]:
        """The inputs of each non-empty list's best match, and whether the list shows a relevant one."""
        ends = [*self.starts[1:], len(self.labels)]
        fits = np.array([bool(self.labels[a:b].any()) for a, b in zip(self.starts, ends, strict=True)])
        return self.inputs[self.starts] if self.starts else np.zeros((0, 3)), fits


def served_lists(recommender: Recommender, examples: Sequence[Labelled], *, today: date, k: int = 10,
                 progress: Callable[[int], None] | None = None) -> CalibrationLists:
    """Match every example as served (``explain=False``) and collect its ranked matches' inputs and labels."""
    inputs: list[np.ndarray] = []
    labels: list[int] = []
    starts: list[int] = []
    for query, relevant, when in examples:
        initiative_id = query.id if isinstance(query, Initiative) else query.initiative_id
        got = recommender.recommend(query, k, today=today, exclude_history_of=initiative_id, history_before=when,
                                    explain=False)
        if progress is not None:
            progress(1)
        if got.ranked_inputs is None or not len(got.matches):
            continue
        starts.append(len(labels))
        inputs.append(got.ranked_inputs)
        labels.extend(int(m.resource_id in relevant) for m in got.matches)
    X = np.concatenate(inputs) if inputs else np.zeros((0, 3))
    return CalibrationLists(X, np.asarray(labels, dtype=np.int64), starts, len(examples))


def calibrate(recommender: Recommender, examples: Sequence[Labelled], *, today: date, fitted_on: str, k: int = 10,
              threshold: float | None = None) -> Calibration | None:
    """The calibration of ``recommender`` fitted on ``examples``' served lists; None when they hold
    only relevant or only irrelevant matches (nothing to fit). The "nothing fits" threshold is
    ``threshold`` when given, else the largest that keeps every list showing a relevant match above it."""
    lists = served_lists(recommender, examples, today=today, k=k)
    if len(set(lists.labels.tolist())) < 2:
        return None
    best, fits = lists.best()
    return fit_calibration(lists.inputs, lists.labels, encoder=recommender.encoder.model_id, fitted_on=fitted_on,
                           threshold=threshold, best_inputs=best, list_fits=fits)
