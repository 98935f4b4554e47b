"""Calibrated relevance: the probability that a shown match is relevant, and the "nothing fits" threshold.

A served model's scores mean nothing to a reader (6.68 in one list, 0.03 in another). A
:class:`Calibration` maps what the pipeline measured for a shown match — the prior's score (an
absolute sum of features, comparable across queries), its rank in the list and the dense cosine —
to a probability by logistic regression (Platt scaling over three inputs), fitted on labelled lists
(the validation lists of training, or a judged dev set), never on the lists it is judged on.

The probability is shown as a label (:data:`LABELS`: "forte", "moyenne", "faible"); "forte" starts
at the calibration's :attr:`Calibration.strong`, fitted so that at least :data:`STRONG_PRECISION` of
the top-5 matches it labels so were relevant on the lists it was fitted on (:func:`strong_bound`). A
list whose best match is below :attr:`Calibration.threshold` says that nothing fits well. A calibration is
stored as ``calibration.json`` beside the ranker it was fitted for, with the encoder it assumes: it
is refused for another encoder or a damaged file (:class:`CalibrationError`), never silently used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "CALIBRATION_FILE", "FORMAT_VERSION", "LABELS", "STRONG_PRECISION", "Calibration", "CalibrationError",
    "RelevanceLabel", "calibration_inputs", "expected_calibration_error", "fit_calibration", "label_of",
    "load_calibration", "packaged_prior_calibration", "reliability", "strong_bound",
]

CALIBRATION_FILE = "calibration.json"
FORMAT_VERSION = 1
LABELS: tuple[tuple[str, float], ...] = (("forte", 0.6), ("moyenne", 0.3))
"""A probability at or above the bound gets the label, first match wins; below the last: "faible".
The "forte" bound is the least a calibration's :attr:`Calibration.strong` can be."""
INPUTS = ("prior", "log_rank", "dense")
STRONG_PRECISION = 0.7
""""Pertinence forte" promises this: at least 7 of 10 such top-5 matches relevant (issue 16)."""
STRONG_MIN_PAIRS = 20
"""Fewer top-5 pairs above a bound than this and it is not trusted to keep the promise."""
NEVER = 1.0
""":attr:`Calibration.strong` when no bound kept the promise on the fitted lists: nothing is "forte"."""
_TOP = 5
_Z = 1.96


class CalibrationError(ValueError):
    """A calibration file that cannot be used here (message says why)."""


RelevanceLabel = Literal["forte", "moyenne", "faible"]


def label_of(p: float, strong: float = LABELS[0][1]) -> RelevanceLabel:
    """``"forte"`` (from ``strong``; never when it is :data:`NEVER`), ``"moyenne"`` or ``"faible"``
    for a probability."""
    if p >= strong and strong < NEVER:
        return "forte"
    if p >= LABELS[1][1]:
        return "moyenne"
    return "faible"


def calibration_inputs(prior: Sequence[float] | np.ndarray, ranks: Sequence[int] | np.ndarray,
                       dense: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(n, 3) float64``: the prior's score, log of the 1-based rank, the dense cosine."""
    p = np.asarray(prior, dtype=np.float64).reshape(-1)
    r = np.asarray(ranks, dtype=np.float64).reshape(-1)
    d = np.asarray(dense, dtype=np.float64).reshape(-1)
    if not (len(p) == len(r) == len(d)):
        raise ValueError(f"inputs of different lengths: {len(p)}, {len(r)}, {len(d)}")
    if len(r) and r.min() < 1:
        raise ValueError("ranks are 1-based")
    return np.column_stack([p, np.log(r), d]) if len(p) else np.zeros((0, 3))


@dataclass(frozen=True)
class Calibration:
    """``p = σ(coef · inputs + intercept)``; ``threshold``: below it, the best match of a list does not
    fit well; ``strong``: from it, a match is "forte" (:func:`strong_bound`; a file written before it
    existed reads as the fixed bound of :data:`LABELS`). ``encoder`` is the model the dense input
    comes from; ``fitted_on`` says on what."""

    coef: tuple[float, float, float]
    intercept: float
    threshold: float
    encoder: str
    fitted_on: str
    pairs: int
    positives: int
    strong: float = LABELS[0][1]

    def __post_init__(self) -> None:
        values = [*self.coef, self.intercept, self.threshold, self.strong]
        if len(self.coef) != len(INPUTS) or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise CalibrationError(f"calibration coefficients must be {len(INPUTS)} finite numbers, got {self.coef!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise CalibrationError(f"threshold must be a probability, got {self.threshold!r}")
        if not LABELS[0][1] <= self.strong <= NEVER:
            raise CalibrationError(f"strong must be in [{LABELS[0][1]}, {NEVER}], got {self.strong!r}")

    def label(self, p: float) -> RelevanceLabel:
        """The label shown for probability ``p`` with this calibration's "forte" bound."""
        return label_of(p, self.strong)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """``(n,) float64`` in (0, 1) from :func:`calibration_inputs`."""
        z: np.ndarray = np.asarray(inputs, dtype=np.float64) @ np.asarray(self.coef) + self.intercept
        out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))
        return out

    def save(self, folder: Path) -> Path:
        path = folder / CALIBRATION_FILE
        path.write_text(json.dumps({"format_version": FORMAT_VERSION, "inputs": list(INPUTS), **asdict(self)},
                                   indent=2, ensure_ascii=False), encoding="utf-8")
        return path


def load_calibration(folder: Path, *, encoder: str, refuse_other_encoder: bool = True) -> Calibration | None:
    """The calibration saved in ``folder``; None when there is none (or, with ``refuse_other_encoder``
    False, when it was fitted for another encoder). Raises :class:`CalibrationError` for a damaged
    file, another format or inputs, or a calibration fitted with another encoder."""
    path = folder / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        head: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read {path}: {exc}") from exc
    if not isinstance(head, dict) or head.get("format_version") != FORMAT_VERSION or head.get("inputs") != list(INPUTS):
        raise CalibrationError(f"{path} is not a calibration of format {FORMAT_VERSION} over {', '.join(INPUTS)}")
    if head.get("encoder") != encoder:
        if not refuse_other_encoder:
            return None
        raise CalibrationError(f"{path} was fitted with the encoder {head.get('encoder')!r}, this index uses "
                               f"{encoder!r}: fit it again (maillage train)")
    try:
        return Calibration(tuple(float(c) for c in head["coef"]), float(head["intercept"]),  # type: ignore[arg-type]
                           float(head["threshold"]), str(head["encoder"]), str(head["fitted_on"]),
                           int(head["pairs"]), int(head["positives"]), float(head.get("strong", LABELS[0][1])))
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{path} is incomplete or malformed: {exc}") from exc


PACKAGED = "prior"
"""Folder under ``matcher/data/calibration/`` of the prior's packaged calibration."""


def packaged_prior_calibration(encoder: str) -> Calibration | None:
    """The prior's calibration shipped with Maillage (fitted on the judged set's dev split over the
    demo catalogue by ``scripts/fit_prior_calibration.py``), for ``encoder``; None when none is
    shipped for that encoder. Raises :class:`CalibrationError` for a damaged file."""
    folder = Path(str(files("matcher").joinpath("data", "calibration", PACKAGED)))
    return load_calibration(folder, encoder=encoder, refuse_other_encoder=False)


def fit_calibration(inputs: np.ndarray, labels: Sequence[int] | np.ndarray, *, encoder: str, fitted_on: str,
                    threshold: float | None = None, best_inputs: np.ndarray | None = None,
                    list_fits: Sequence[bool] | np.ndarray | None = None) -> Calibration:
    """Fit the logistic map on labelled pairs (``labels`` 1 relevant, 0 not).

    The threshold is ``threshold`` when given; otherwise, with ``best_inputs`` (the inputs of each
    list's best match) and ``list_fits`` (whether the list has a relevant resource at all), the
    largest probability that never says "nothing fits" for a list that has one; else 0 (never).
    The "forte" bound is :func:`strong_bound` of the top-5 pairs (rank read from the inputs)."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(inputs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if X.ndim != 2 or X.shape[1] != len(INPUTS) or len(X) != len(y):
        raise ValueError(f"inputs must be (n, {len(INPUTS)}) with one label each, got {X.shape} and {y.shape}")
    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs relevant and irrelevant pairs; got one class only")
    model = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    coef = tuple(float(c) for c in model.coef_[0])
    cal = Calibration(coef, float(model.intercept_[0]), 0.0, encoder, fitted_on, len(y), int(y.sum()))  # type: ignore[arg-type]
    if threshold is None and best_inputs is not None and list_fits is not None:
        best = cal.probabilities(best_inputs)
        fits = np.asarray(list_fits, dtype=bool)
        threshold = float(best[fits].min()) if fits.any() else 0.0
        threshold = max(0.0, math.nextafter(threshold, 0.0))  # a list with a fit stays at or above it
    top = X[:, 1] <= math.log(_TOP) + 1e-9
    strong = strong_bound(cal.probabilities(X[top]), y[top])
    return Calibration(cal.coef, cal.intercept, float(threshold or 0.0), encoder, fitted_on, cal.pairs, cal.positives,
                       strong)


def strong_bound(p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray, *,
                 precision: float = STRONG_PRECISION, min_pairs: int = STRONG_MIN_PAIRS) -> float:
    """The least probability ``t`` (at least the "forte" bound of :data:`LABELS`) such that the pairs
    with ``p ≥ t`` are at least ``min_pairs`` and relevant at ``precision`` or more by the lower end
    of their 95 % Wilson interval: a bound that keeps its promise on new lists, not only on these.
    :data:`NEVER` when no bound does."""
    p_arr, y_arr = np.asarray(p, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    if len(p_arr) != len(y_arr):
        raise ValueError(f"{len(p_arr)} probabilities for {len(y_arr)} labels")
    order = np.argsort(-p_arr, kind="stable")
    p_sorted, hits = p_arr[order], np.cumsum(y_arr[order])
    n = np.arange(1, len(p_sorted) + 1, dtype=np.float64)
    share = hits / n if len(n) else n
    low = (share + _Z**2 / (2 * n) - _Z * np.sqrt(share * (1 - share) / n + _Z**2 / (4 * n**2))) / (1 + _Z**2 / n)
    # a bound takes every pair at its probability: only the last of equal probabilities ends a prefix
    ends = np.r_[p_sorted[1:] < p_sorted[:-1], True] if len(p_sorted) else np.zeros(0, dtype=bool)
    ok = ends & (n >= min_pairs) & (low >= precision) & (p_sorted >= LABELS[0][1]) & (p_sorted < NEVER)
    return float(p_sorted[np.flatnonzero(ok)[-1]]) if ok.any() else NEVER


def reliability(p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray, bins: int = 10
                ) -> list[tuple[float, float, int]]:
    """``(mean probability, share relevant, count)`` per equal-width bin of ``p`` (empty bins left out)."""
    p_arr, y_arr = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_arr, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(p_arr[mask].mean()), float(y_arr[mask].mean()), int(mask.sum())))
    return out


def expected_calibration_error(p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray, bins: int = 10) -> float:
    """Σ over bins of (count / n) · |mean probability − share relevant|."""
    n = len(np.asarray(p))
    if n == 0:
        return 0.0
    return float(sum(c / n * abs(mp - sr) for mp, sr, c in reliability(p, y, bins)))
