"""Does a project name the resource? How much of a resource's name its text mentions.

A project that writes "le Défenseur des droits" or "la Direction générale des patrimoines" points at
its partner more surely than any similarity. The signal needs no history, so it is the one that
carries a resource nobody has partnered with yet (cold start). Name terms are weighted by their
rarity among resource names, so boilerplate shared by every name ("programme", "besoins de service
public") counts for nothing, and a rare word ("magistrature") for a lot.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from indexes.sparse import FrenchAnalyzer
from matcher.schemas import Provider, Resource

__all__ = ["NameMatcher"]


class NameMatcher:
    """Name terms (title and provider name, French analysis) of a set of resources with their weights.

    ``scores(text, ids)`` → ``(len(ids),) float32`` in [0, 1]: the weighted share of each resource's
    name terms found in ``text``; 0 for an unknown id or a name made only of common terms.
    """

    def __init__(self, resources: Mapping[str, Resource], providers: Mapping[str, Provider],
                 analyzer: FrenchAnalyzer | None = None, *, previous: NameMatcher | None = None) -> None:
        """``previous``: the matcher of the catalogue before a write; the names it analysed are reused
        for unchanged records, so a write costs one analysis, not one per resource."""
        self.analyzer = analyzer or FrenchAnalyzer()
        self.terms_: dict[str, frozenset[str]] = {}
        self._names: dict[str, str] = {}
        known = previous._names if previous is not None and previous.analyzer == self.analyzer else {}
        old_terms = previous.terms_ if previous is not None else {}
        for rid, r in resources.items():
            provider = providers.get(r.provider_id)
            name = r.title if provider is None else f"{r.title}\n{provider.name}"
            self._names[rid] = name
            self.terms_[rid] = old_terms[rid] if known.get(rid) == name else frozenset(self.analyzer.analyze(name))
        df = Counter(t for terms in self.terms_.values() for t in terms)
        n = len(self.terms_)
        # log(N / df): 0 for a term in every name, growing with rarity.
        self.weights_ = {t: math.log(n / d) for t, d in df.items()}
        self.totals_ = {rid: sum(self.weights_[t] for t in terms) for rid, terms in self.terms_.items()}

    def scores(self, text: str, resource_ids: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(resource_ids), dtype=np.float32)
        said = set(self.analyzer.analyze(text))
        if not said:
            return out
        for i, rid in enumerate(resource_ids):
            terms = self.terms_.get(rid)
            total = self.totals_.get(rid, 0.0)
            if terms and total > 1e-9:
                out[i] = sum(self.weights_[t] for t in terms & said) / total
        return out
