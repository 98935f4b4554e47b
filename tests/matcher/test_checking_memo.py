"""The eligibility memo shares the verdicts of resources that state no amount across amounts sought,
and that sharing changes no value."""

from __future__ import annotations

from datetime import date

import numpy as np

from matcher.checking import Checker
from matcher.features import RETRIEVAL_FEATURES
from matcher.pool import Pool
from matcher.schemas import MatchQuery, Resource

TODAY = date(2026, 12, 1)
RESOURCES = [
    Resource(id="sans-montant", kind="financement", provider_id="p", title="Aide sans montant", coverage=["FR"]),
    Resource(id="avec-montant", kind="financement", provider_id="p", title="Aide de 5 000 à 9 000 €",
             coverage=["FR"], amount_min=5000, amount_max=9000),
]


def _pool(checker: Checker, amount: float | None) -> Pool:
    q = MatchQuery(text="un projet de jardin", territory="93066", legal_form="association", amount_sought=amount)
    return checker.pool(q, TODAY, RESOURCES, np.zeros((2, len(RETRIEVAL_FEATURES))), 2)


def test_memo_gives_what_a_fresh_check_gives() -> None:
    shared = Checker()
    for amount in (1000.0, 7000.0, 20000.0, None, 3000.0):
        memo, fresh = _pool(shared, amount), _pool(Checker(), amount)
        assert np.array_equal(memo.X, fresh.X) and memo.checks == fresh.checks, amount
        assert list(memo.eligible) == list(fresh.eligible)
    # The resource without an amount was checked once for the four amounts given; the other, each time.
    assert sum(1 for bucket in shared._cache.values() if "sans-montant" in bucket) == 2  # given / not given
    below, inside = _pool(Checker(), 1000.0), _pool(Checker(), 7000.0)
    assert below.checks[0] == inside.checks[0] and np.array_equal(below.X[0], inside.X[0])
    assert not below.eligible[1] and inside.eligible[1]
