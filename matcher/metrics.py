"""The ranking metric that training's gates and the evaluation both use: nDCG@k with binary gains.

One pure implementation, so a gate's figure and an evaluation's figure are the same quantity computed
the same way: :mod:`eval.metrics` re-exports :func:`ndcg_at_k`, and :func:`training.fit.ndcg_of_lists`
applies it to each candidate list of a pair set.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import TypeVar

import numpy as np

__all__ = ["ndcg_at_k"]

_Item = TypeVar("_Item")


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def ndcg_at_k(ranked: Sequence[_Item], relevant: Collection[_Item], k: int) -> float:
    """Binary-gain nDCG@k: ``Σ_{i≤k, rel} 1/log2(i+1)`` over the ideal DCG of ``min(|rel|, k)`` hits.

    ``ranked``: item ids, best first (resource ids, or positions in a candidate list); ``relevant``:
    the relevant ids, which need not all be in ``ranked``. 0.0 when nothing is relevant. The sums
    run in rank order, so the value is the same to the last bit wherever it is computed.
    """
    k = _check_k(k)
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal
