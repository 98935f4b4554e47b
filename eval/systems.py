"""The systems compared by the harness: baselines and the product pipeline, behind one interface.

Each system is fitted on an :class:`~eval.datasets.EvalSet` (candidates, train queries and the
train-only history) and ranks test queries: ``rank(queries, k)`` returns, per query, up to ``k``
``(resource_id, score)`` pairs, best first. Systems never see test labels.

``maillage`` is the product: a temporary catalogue loaded with the set, a published resource index,
and :class:`matcher.recommender.Recommender` — a configuration of the one pipeline, never a copy.
Baselines share its resource text (:func:`matcher.indexing.resource_document`) and query text
(:meth:`matcher.schemas.MatchQuery.from_initiative`), so differences come from the method only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from eval.datasets import EvalQuery, EvalSet
from eval.maillage_system import MaillageSystem, Ranking, not_fitted
from indexes import DenseIndex, Encoder
from indexes.sparse import SparseIndex
from matcher.indexing import resource_document
from matcher.schemas import MatchQuery

__all__ = [
    "SYSTEMS",
    "BM25System",
    "DenseSystem",
    "MaillageSystem",
    "NothingFits",
    "PopularitySystem",
    "RandomSystem",
    "Ranking",
    "System",
    "TfidfLRSystem",
    "make_systems",
    "query_text",
]



@runtime_checkable
class System(Protocol):
    """What the harness needs from a system.

    Optionally a system also has ``nothing_fits(queries) -> list[bool]`` (:class:`NothingFits`): for
    queries it has ranked, whether it told the person that nothing fits. The harness asks it after
    ranking; a system without it never says so (the BM25 and dense baselines always show a list).
    """

    name: str

    def fit(self, evalset: EvalSet, encoder: Encoder) -> System:
        """Learn from ``evalset`` (candidates, train queries, train history); returns ``self``."""
        ...

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        """Up to ``k`` ``(resource_id, score)`` per query, best first."""
        ...


@runtime_checkable
class NothingFits(Protocol):
    """The optional part of :class:`System`: a system that can say "nothing fits this project"."""

    def nothing_fits(self, queries: Sequence[EvalQuery]) -> list[bool]:
        """Per query (each already ranked by ``rank``), True when the system said nothing fits."""
        ...


def query_text(query: EvalQuery) -> str:
    """The text every system sees for a query: what the recommender would encode."""
    return MatchQuery.from_initiative(query.initiative).text


def _documents(evalset: EvalSet) -> tuple[list[str], list[str]]:
    providers = {p.id: p for p in evalset.providers}
    ids = [r.id for r in evalset.resources]
    docs = [resource_document(r, providers.get(r.provider_id)) for r in evalset.resources]
    return ids, docs


class RandomSystem:
    """A uniform random order of the candidates; seeded per query id, so order-independent."""

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self.ids_: list[str] | None = None

    def fit(self, evalset: EvalSet, encoder: Encoder) -> RandomSystem:
        self.ids_ = list(evalset.resource_ids)
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        if self.ids_ is None:
            raise not_fitted(self.name)
        out = []
        for q in queries:
            digest = hashlib.blake2b(f"{self.seed}:{q.id}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            order = rng.permutation(len(self.ids_))[:k]
            out.append([(self.ids_[i], float(k - n)) for n, i in enumerate(order)])
        return out


class PopularitySystem:
    """Candidates by number of positive outcomes in the train history (ties: id order)."""

    name = "popularity"

    def __init__(self) -> None:
        self.order_: list[tuple[str, float]] | None = None

    def fit(self, evalset: EvalSet, encoder: Encoder) -> PopularitySystem:
        counts = Counter(o.resource_id for o in evalset.history)
        self.order_ = sorted(((r, float(counts[r])) for r in evalset.resource_ids), key=lambda t: (-t[1], t[0]))
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        if self.order_ is None:
            raise not_fitted(self.name)
        return [list(self.order_[:k]) for _ in queries]


class BM25System:
    """BM25 over the resource documents (:class:`indexes.sparse.SparseIndex`, French analyser).

    Only resources sharing a term with the query are returned, so lists can be shorter than ``k``.
    """

    name = "bm25"

    def __init__(self) -> None:
        self.index_: SparseIndex | None = None

    def fit(self, evalset: EvalSet, encoder: Encoder) -> BM25System:
        ids, docs = _documents(evalset)
        self.index_ = SparseIndex().build(ids, docs)
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        if self.index_ is None:
            raise not_fitted(self.name)
        out = []
        for q in queries:
            scores, ids = self.index_.search(query_text(q), k)
            out.append([(i, float(s)) for s, i in zip(scores, ids, strict=True) if i is not None])
        return out


class DenseSystem:
    """Zero-shot cosine between the encoded query and resource documents; no filter, no learning."""

    name = "dense"

    def __init__(self) -> None:
        self.index_: DenseIndex | None = None
        self.encoder_: Encoder | None = None

    def fit(self, evalset: EvalSet, encoder: Encoder) -> DenseSystem:
        ids, docs = _documents(evalset)
        self.index_ = DenseIndex(encoder.dim)
        if ids:
            self.index_.upsert(ids, encoder.encode_documents(docs))
        self.encoder_ = encoder
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        if self.index_ is None or self.encoder_ is None:
            raise not_fitted(self.name)
        if not queries or len(self.index_) == 0:
            return [[] for _ in queries]
        vectors = self.encoder_.encode_queries([query_text(q) for q in queries])
        scores, ids = self.index_.search(vectors, min(k, len(self.index_)))
        return [[(i, float(s)) for s, i in zip(row_s, row_i, strict=True) if i is not None]
                for row_s, row_i in zip(scores, ids, strict=True)]


class TfidfLRSystem:
    """TF-IDF (words, 1–2 grams) + one-vs-rest logistic regression, classes = resources seen in train.

    Candidates never seen in train cannot be predicted; they follow, in id order, with score 0 (all of
    them when the train split is empty).
    """

    name = "tfidf-lr"

    def __init__(self, *, C: float = 4.0, max_features: int = 200_000, seed: int = 0) -> None:
        self.C = C
        self.max_features = max_features
        self.seed = seed
        self.model_ = None
        self.classes_: list[str] = []
        self.rest_: list[str] = []
        self.fitted_ = False

    def fit(self, evalset: EvalSet, encoder: Encoder) -> TfidfLRSystem:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import MultiLabelBinarizer

        candidates = set(evalset.resource_ids)
        if not evalset.train:  # nothing to learn from: every candidate follows, in id order, with score 0
            self.model_, self.classes_, self.rest_ = None, [], sorted(candidates)
            self.fitted_ = True
            return self
        labels = [sorted(q.relevant & candidates) for q in evalset.train]
        self.fitted_ = True
        binarizer = MultiLabelBinarizer()
        y = binarizer.fit_transform(labels)
        self.classes_ = list(binarizer.classes_)
        self.rest_ = sorted(candidates - set(self.classes_))
        texts = [query_text(q) for q in evalset.train]
        vectorizer = TfidfVectorizer(
            strip_accents="unicode", lowercase=True, ngram_range=(1, 2), sublinear_tf=True,
            min_df=1, max_features=self.max_features,
        )
        # Dual liblinear: far faster than the primal when features outnumber train queries.
        clf = OneVsRestClassifier(LogisticRegression(
            C=self.C, solver="liblinear", dual=True, max_iter=1000, random_state=self.seed
        ))
        if y.shape[1] == 1:  # a single class: every query gets it first
            self.model_ = None
            return self
        self.model_ = make_pipeline(vectorizer, clf).fit(texts, y)
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[Ranking]:
        if not self.fitted_:
            raise not_fitted(self.name)
        if not queries:
            return []
        if not self.classes_:
            return [[(r, 0.0) for r in self.rest_[:k]] for _ in queries]
        if self.model_ is None:
            probs = np.ones((len(queries), 1))
        else:
            probs = self.model_.predict_proba([query_text(q) for q in queries])
        out = []
        for row in np.atleast_2d(probs):
            order = np.argsort(-row, kind="stable")[:k]
            ranked = [(self.classes_[i], float(row[i])) for i in order]
            out.append((ranked + [(r, 0.0) for r in self.rest_])[:k])
        return out


SYSTEMS: dict[str, Callable[[int], System]] = {
    "random": lambda seed: RandomSystem(seed=seed),
    "popularity": lambda seed: PopularitySystem(),
    "bm25": lambda seed: BM25System(),
    "dense": lambda seed: DenseSystem(),
    "tfidf-lr": lambda seed: TfidfLRSystem(seed=seed),
    "maillage": lambda seed: MaillageSystem(),
    "maillage-prior": lambda seed: MaillageSystem(learn=False),
    "maillage-zero": lambda seed: MaillageSystem(learn=False, zero_history=True),
}


def make_systems(names: Sequence[str], *, seed: int = 0) -> list[System]:
    """Systems by name, in the order given; raises ``ValueError`` naming an unknown or repeated name."""
    seen: set[str] = set()
    out = []
    for raw in names:
        name = raw.strip()
        if name not in SYSTEMS:
            raise ValueError(f"unknown system {name!r}: expected some of {', '.join(SYSTEMS)}")
        if name in seen:
            raise ValueError(f"system {name!r} given twice")
        seen.add(name)
        out.append(SYSTEMS[name](seed))
    return out
