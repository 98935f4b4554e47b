"""Hubness of served lists: how often one resource sits in the top ``k`` of a whole cohort.

``scripts/demo_hubness.py`` builds the demo catalogue as ``maillage demo`` serves it and prints, from
:func:`occupancy`, the resources found in the largest shares of the demo initiatives' top-5 lists
(the target is no resource in more than :data:`HUB_TARGET` of them).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date

from tqdm import tqdm

from matcher.recommender import Recommender
from matcher.schemas import Initiative

__all__ = ["HUB_TARGET", "occupancy"]

HUB_TARGET = 0.10
"""No resource should sit in more of the top-5 lists than this share."""
SNAPSHOT = date(2026, 11, 28)


def occupancy(rec: Recommender, initiatives: Sequence[Initiative], *, k: int = 5, today: date,
              progress: bool = False) -> list[tuple[str, float]]:
    """``(resource id, share of the initiatives' top-k lists holding it)``, largest share first."""
    counts: Counter[str] = Counter()
    for ini in tqdm(initiatives, desc="Listes", unit="initiative", file=sys.stderr, disable=not progress):
        counts.update({m.resource_id for m in rec.recommend(ini, k, today=today, explain=False).matches})
    n = max(1, len(initiatives))
    return sorted(((rid, c / n) for rid, c in counts.items()), key=lambda t: (-t[1], t[0]))
