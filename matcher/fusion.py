"""Fusing orders: reciprocal-rank fusion of the searches, and of a learned ranker with the prior.

Ranks, not scores, so no two scales need calibrating against each other. Both are written once,
here: retrieval (:mod:`matcher.retrieval`), the reverse direction (:mod:`matcher.reverse`) and the
served ranker (:class:`matcher.ranker.ServedRanker`) call them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["COLD_SHARE", "FUSION_K", "PRIOR_SHARE", "RRF_K", "fuse_with_prior", "reciprocal_rank_fusion"]

RRF_K = 60
"""Reciprocal-rank fusion constant of the searches: ``Σ 1 / (RRF_K + rank)``, the customary 60."""
FUSION_K = 5
"""Rank offset of :func:`fuse_with_prior`: small, so the first places of each order weigh most."""
PRIOR_SHARE = 0.5
"""Weight of the prior's order against the learned ranker's (1) in :func:`fuse_with_prior`
(chosen on dev splits: ``docs/decisions.md``, 2026-11-30, "fused with the prior")."""
COLD_SHARE = 0.0
"""Weight of the content order of the candidates without history in :func:`fuse_with_prior`."""


def reciprocal_rank_fusion(rankings: Iterable[Mapping[str, int]], *, k: int = RRF_K) -> dict[str, float]:
    """``Σ_lists 1 / (k + rank)`` per id over lists given as ``{id: 1-based rank}``, summed in list
    order; an id absent from a list gets nothing from it."""
    fused: dict[str, float] = {}
    for ranks in rankings:
        for item, rank in ranks.items():
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def fuse_with_prior(
    learned: np.ndarray, prior: np.ndarray, *, share: float = PRIOR_SHARE, k: float = FUSION_K,
    content: np.ndarray | None = None, cold: np.ndarray | None = None, cold_share: float = COLD_SHARE,
    content_share: float = 0.0,
) -> np.ndarray:
    """Scores of one candidate list that order it by reciprocal-rank fusion of two orders:
    ``1 / (k + rank by learned) + share / (k + rank by prior)``, ranks from 0, ties broken by list order.

    With a few hundred labelled lists (a new deployment, beta.gouv) a learned ranker is as noisy as
    it is sharp, and the transparent prior it replaces was often right where it went wrong: fusing
    the two orders keeps most of what was learned and damps what was learned by chance.
    ``share`` 0 gives the learned order alone.

    ``cold`` (bool mask) marks the candidates without history and ``content`` scores them on their
    texts and rules alone: those candidates get a third term ``cold_share / (k + rank among them by
    content)``. Both rankers learned from history and prefer what has some; this order is where a
    resource nobody has obtained yet competes on what it says (0 leaves it out).

    ``content_share`` adds ``content_share / (k + rank by content)`` over every candidate: how far a
    deployment trusts the texts and rules against what history taught the two rankers, chosen on
    held-out labelled lists (:func:`training.flow.choose_content_share`; 0 leaves it out)."""
    if not share >= 0:
        raise ValueError(f"share must be a non-negative weight, got {share!r}")
    if not cold_share >= 0:
        raise ValueError(f"cold_share must be a non-negative weight, got {cold_share!r}")
    if not (content_share >= 0 and math.isfinite(content_share)):
        raise ValueError(f"content_share must be a finite non-negative weight, got {content_share!r}")
    learned = np.asarray(learned, dtype=np.float64)
    with_cold = cold_share > 0 and content is not None and cold is not None and bool(np.any(cold))
    with_content = content_share > 0 and content is not None
    if (share == 0 and not with_cold and not with_content) or len(learned) == 0:
        return learned.astype(np.float32)
    fused = 1.0 / (k + _ranks(learned))
    if share > 0:
        fused += share / (k + _ranks(np.asarray(prior, dtype=np.float64)))
    if with_cold:
        assert content is not None and cold is not None
        mask = np.asarray(cold, dtype=bool)
        fused[mask] += cold_share / (k + _ranks(np.asarray(content, dtype=np.float64)[mask]))
    if with_content:
        assert content is not None
        fused += content_share / (k + _ranks(np.asarray(content, dtype=np.float64)))
    return fused.astype(np.float32)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """0-based rank of each score, best first, ties broken by position."""
    return np.argsort(np.argsort(-scores, kind="stable"), kind="stable")
