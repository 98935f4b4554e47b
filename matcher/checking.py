"""The eligibility stage: one check per criterion for every row of the pool, and the pair features.

Checks and pair features depend only on the resource, the day and the few facts a query states
(territory, legal form, stage, amount, needs), which repeat across queries, so they are memoised
per (query facts, day) and resource id. The cache keys on those values; a hit must also hold the
very same resource object, because the index replaces a resource's object when it is edited, so an
edited resource is checked afresh without any invalidation call.

A query whose facts are new in that combination (a territory seen with another legal form) still
shares most of its checks with earlier ones: each check depends on one fact only, so each is also
memoised per (criterion, that fact) and resource id. A new combination then costs the pair features
alone (about a third of a full check, measured at 10k resources).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from matcher.eligibility import CHECKS, Check, is_eligible
from matcher.features import FEATURES, RETRIEVAL_FEATURES, pair_values
from matcher.pool import Pool
from matcher.schemas import MatchQuery, Resource

__all__ = ["CHECK_CACHE_ENTRIES", "Checker"]

CHECK_CACHE_ENTRIES = 200_000
"""Memoised (query facts, resource) entries kept before the cache starts afresh (a few hundred MB at most)."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    resource: Resource
    checks: list[Check]
    eligible: bool
    pair: tuple[float, ...]
    """:data:`matcher.features.PAIR_FEATURES` values, in that order."""


class Checker:
    """Makes the pool from retrieval's rows: checks, verdicts and pair features, memoised."""

    def __init__(self, max_entries: int = CHECK_CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._cache: dict[tuple[Any, ...], dict[str, _Verdict]] = {}
        self._size = 0
        self._checks: dict[tuple[Any, ...], tuple[Resource, Check | None]] = {}

    def pool(self, q: MatchQuery, today: date, resources: list[Resource], retrieval: np.ndarray,
             retrieved: int) -> Pool:
        """The pool of ``resources`` (rows in that order), ``retrieval`` being their
        ``(n, len(RETRIEVAL_FEATURES))`` columns and the first ``retrieved`` rows the retrieved ones."""
        verdicts = self._verdicts(resources, q, today)
        n = len(resources)
        X = np.empty((n, len(FEATURES)), dtype=np.float64)
        X[:, : len(RETRIEVAL_FEATURES)] = retrieval
        if n:
            X[:, len(RETRIEVAL_FEATURES) :] = [v.pair for v in verdicts]
        eligible = np.fromiter((v.eligible for v in verdicts), dtype=bool, count=n)
        return Pool(q, resources, X, [v.checks for v in verdicts], eligible, np.zeros(n), retrieved)

    def _bucket(self, facts: tuple[Any, ...]) -> dict[str, _Verdict]:
        cache = self._cache.get(facts)
        if cache is None:
            if self._size >= self.max_entries:
                self._cache, self._size = {}, 0
            cache = self._cache[facts] = {}
        return cache

    def _verdicts(self, resources: list[Resource], q: MatchQuery, today: date) -> list[_Verdict]:
        # The amount sought decides only the amount check and the amount fit, and neither of a resource
        # that states no amount (its check is "Montant non précisé" whatever is sought): such resources
        # are memoised without it, so initiatives that each seek their own amount (a grant file) share
        # their verdicts. tests/matcher/test_checking_memo.py holds that to the values.
        facts = (q.territory, q.legal_form, q.stage, tuple(q.needs), today)
        with_amount = self._bucket((*facts, q.amount_sought))
        without = self._bucket((*facts, "no amount")) if q.amount_sought is not None else with_amount
        out = []
        for resource in resources:
            cache = with_amount if resource.amount_min is not None or resource.amount_max is not None else without
            hit = cache.get(resource.id)
            if hit is None or hit.resource is not resource:
                checks = self._checks_of(resource, q, today)
                hit = _Verdict(resource, checks, is_eligible(checks), pair_values(q, resource, checks, today))
                cache[resource.id] = hit
                self._size += 1
            out.append(hit)
        return out

    def _checks_of(self, resource: Resource, q: MatchQuery, today: date) -> list[Check]:
        """:func:`matcher.eligibility.check_all`, each check memoised on the one fact it reads."""
        out = []
        for name, fact, check in CHECKS:
            key = (name, fact(q, today), resource.id)
            hit = self._checks.get(key)
            if hit is None or hit[0] is not resource:
                if len(self._checks) >= self.max_entries:  # its own bound: filling it must not empty the verdicts
                    self._checks = {}
                hit = self._checks[key] = (resource, check(resource, q, today))
            if hit[1] is not None:
                out.append(hit[1])
        return out
