"""Calibration figures of the systems that give a probability of relevance (``relevances``).

Over the top ``k`` of every test query: the expected calibration error (10 equal-width bins), the
reliability table behind it, the share of top-5 matches labelled "forte" that are relevant, and the
share of queries for which the system said nothing fits (every query of a labelled set has a
relevant resource, so that share should be 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.datasets import EvalQuery
from matcher.calibration import expected_calibration_error, label_of, reliability

__all__ = ["calibration_figures"]

_TOP = 5


def calibration_figures(queries: Sequence[EvalQuery], rankings: Sequence[Sequence[str]],
                        probs: Sequence[Sequence[float] | None] | None, said: Sequence[bool],
                        k: int, *, labels: Sequence[Sequence[str] | None] | None = None) -> dict[str, Any] | None:
    """The figures of one system's ranking of ``queries``, from the probability of each ranked match
    (``probs``, None when the system gives none: then None) and its "nothing fits" flags ``said``.
    "forte" is the label each match was shown with (``labels``), or the fixed bounds' without them."""
    if probs is None:
        return None
    p: list[float] = []
    y: list[int] = []
    forte: list[int] = []
    shown = labels if labels is not None else [None] * len(queries)
    for q, ranked, ps, ls in zip(queries, rankings, probs, shown, strict=True):
        if ps is None:
            continue
        for i, (rid, pi) in enumerate(zip(ranked[:k], ps[:k], strict=False)):
            p.append(pi)
            y.append(int(rid in q.relevant))
            label = ls[i] if ls is not None and i < len(ls) else label_of(pi)
            if i < _TOP and label == "forte":
                forte.append(int(rid in q.relevant))
    if not p:
        return None
    # Only queries with a relevant resource: there, saying nothing fits is always wrong (the judged
    # set's projects without one are counted by its own table).
    nothing = [bool(x) for q, x in zip(queries, said, strict=True) if q.relevant]
    return {
        "k": k, "pairs": len(p), "ece": expected_calibration_error(p, y),
        "mean_probability": sum(p) / len(p), "share_relevant": sum(y) / len(y),
        "forte_top5_relevant": (sum(forte) / len(forte)) if forte else None, "forte_top5": len(forte),
        "nothing_fits_said": (sum(nothing) / len(nothing)) if nothing else None,
        "reliability": [{"mean_probability": a, "share_relevant": b, "n": n} for a, b, n in reliability(p, y)],
    }
