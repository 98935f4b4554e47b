"""The judged set's figures for one system: graded ranking quality, "nothing fits", exposure.

Computed from the ranked lists and the "nothing fits" flags of every test project (see
:mod:`eval.judged`), at ``k`` = 5 by default:

- ``ndcg@k`` (graded, gain ``2^g − 1``) and ``p@k`` (share of the k slots graded ≥ 2, missing slots
  count as misses), on the projects that have a fitting resource;
- ``nothing_fits_none``: share of the projects *without* a fitting resource for which the system
  said nothing fits (the higher the better); ``nothing_fits_fits``: the same share on the projects
  *with* one (must be 0);
- ``grade0@k``: top-k slots, over every project, holding a resource graded 0. Grades do not tell an
  infeasible resource from an irrelevant one (both are 0), so this counts both;
- ``hub_share@k`` / ``hub_resource``: the resource found in the most top-k lists (every project)
  and the share of lists holding it.

Means carry a percentile-bootstrap 95 % CI over the projects concerned (:func:`eval.metrics.bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval import metrics as M
from eval.datasets import EvalQuery

__all__ = ["JUDGED_K", "is_judged", "judged_figures"]

JUDGED_K = 5


def is_judged(queries: Sequence[EvalQuery]) -> bool:
    """True when every query carries grades (a judged set)."""
    return bool(queries) and all(q.grades is not None for q in queries)


def judged_figures(
    queries: Sequence[EvalQuery],
    rankings: Sequence[Sequence[str]],
    said_nothing_fits: Sequence[bool],
    *,
    k: int = JUDGED_K,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure of the module docstring for one system; CIs as :class:`eval.metrics.CI`.

    ``rankings[i]`` and ``said_nothing_fits[i]`` belong to ``queries[i]``, which must all carry grades.
    Raises ``ValueError`` otherwise."""
    if not (len(queries) == len(rankings) == len(said_nothing_fits)):
        raise ValueError(f"queries, rankings and flags differ in length: "
                         f"{len(queries)}, {len(rankings)}, {len(said_nothing_fits)}")
    if not is_judged(queries):
        raise ValueError("judged figures need graded queries (EvalQuery.grades) for every query")
    fits = [i for i, q in enumerate(queries) if q.relevant]
    none = [i for i, q in enumerate(queries) if not q.relevant]

    def ci(values: list[float]) -> M.CI:
        return M.bootstrap_ci(np.array(values, dtype=np.float64), resamples=resamples, seed=seed)

    grade0 = sum(1 for q, ranked in zip(queries, rankings, strict=True)
                 for rid in ranked[:k] if (q.grades or {}).get(rid, 0) == 0)
    hub_share, hub = M.most_exposed(rankings, k)
    return {
        "k": k,
        "n_fits": len(fits),
        "n_none": len(none),
        f"ndcg@{k}": ci([M.graded_ndcg_at_k(rankings[i], queries[i].grades or {}, k) for i in fits]),
        f"p@{k}": ci([M.precision_at_k(rankings[i], queries[i].relevant, k) for i in fits]),
        "nothing_fits_none": ci([float(said_nothing_fits[i]) for i in none]),
        "nothing_fits_fits": ci([float(said_nothing_fits[i]) for i in fits]),
        f"grade0@{k}": grade0,
        f"slots@{k}": sum(min(k, len(r)) for r in rankings),
        f"hub_share@{k}": hub_share,
        "hub_resource": hub,
    }
