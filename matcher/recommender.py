"""The one pipeline that makes a ranked list: ``Recommender.recommend``.

The service, the widget, batch matching, training and evaluation all call it:

1. hard filters that an index can apply (open on the day, territory covered) give the allowed set;
2. candidates: dense search, BM25 search and a kNN vote over similar past initiatives, each
   restricted to the allowed set, fused into one pool with every score kept;
3. eligibility checks per criterion; hard failures leave the list (kept aside for staff);
4. features per pair and a ranker score (hand-weighted prior, or a learned model);
5. diversity: a cap per provider, so ten variants of one programme do not bury the rest;
6. explanations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np

from indexes import Encoder
from matcher import territory
from matcher.eligibility import Check, check_all, is_eligible
from matcher.explain import reasons_for
from matcher.features import FEATURES, RETRIEVAL_FEATURES, pair_features, pair_only_features
from matcher.indexing import InitiativeIndex, ResourceIndex, resource_document
from matcher.names import NameMatcher
from matcher.ranker import PRIOR_SHARE, LearnedRanker, PriorRanker, fuse_with_prior
from matcher.schemas import (
    Decision,
    Initiative,
    InitiativeMatch,
    Match,
    MatchQuery,
    Outcome,
    Resource,
)
from matcher.store import NotFoundError

__all__ = ["Candidate", "Recommendation", "Recommender", "RecommenderConfig"]


@dataclass(frozen=True)
class RecommenderConfig:
    """Knobs of the pipeline; saved with evaluation reports so a figure names its configuration."""

    dense_candidates: int = 200
    """How many resources the dense search hands to the candidate pool."""
    sparse_candidates: int = 200
    """How many resources the BM25 search hands to the candidate pool."""
    knn_neighbours: int = 30
    """How many similar past initiatives vote for the resources they obtained."""
    rrf_k: int = 60
    """Reciprocal-rank fusion constant: ``rrf = Σ 1 / (rrf_k + rank)`` over the two searches."""
    use_dense: bool = True
    use_sparse: bool = True
    use_history: bool = True
    use_ranker: bool = True
    """False orders by the fusion score alone (retrieval only)."""
    rerank_depth: int = 50
    """A learned ranker reorders this many of the prior's best candidates (and is trained on them)."""
    prior_share: float = PRIOR_SHARE
    """A learned ranker's order is fused with the prior's, the prior weighing this much against 1
    (:func:`matcher.ranker.fuse_with_prior`); 0 serves the learned order alone."""
    max_per_provider: int = 3
    """Diversity: at most this many resources of one provider in a list (0 = no cap)."""
    max_k: int = 100


@dataclass
class Candidate:
    """One resource considered for a query, with everything computed about it."""

    resource: Resource
    features: dict[str, float]
    checks: list[Check]
    score: float = 0.0

    @property
    def eligible(self) -> bool:
        return is_eligible(self.checks)


@dataclass(frozen=True)
class Recommendation:
    """A ranked list and the hard failures kept aside (shown to staff on request)."""

    matches: list[Match]
    excluded: list[Match]


@dataclass(frozen=True, slots=True)
class _Checked:
    """What the pipeline keeps per (resource, query facts, day): see ``Recommender._checked``."""

    resource: Resource
    checks: list[Check]
    eligible: bool
    features: tuple[float, ...]
    """:data:`PAIR_FEATURES` values, in that order."""


class _Ranked:
    """A pool entry before it becomes a :class:`Candidate`: its feature values as a row (FEATURES
    order) and its cached checks. Only the candidates a caller reads get a feature dict and a copy of
    the checks, which a pool of a few hundred would otherwise build for nothing."""

    __slots__ = ("checked", "resource", "row", "score")

    def __init__(self, resource: Resource, row: list[float], checked: _Checked) -> None:
        self.resource, self.row, self.checked, self.score = resource, row, checked, 0.0

    @property
    def eligible(self) -> bool:
        return self.checked.eligible

    def sort_key(self) -> tuple[float, float, str]:
        return -self.score, -self.row[0], self.resource.id  # row[0] is FEATURES[0], "dense"

    def candidate(self) -> Candidate:
        return Candidate(self.resource, dict(zip(FEATURES, self.row, strict=True)), list(self.checked.checks),
                         self.score)


_C = TypeVar("_C", Candidate, _Ranked)


class Recommender:
    """Matches initiatives (or free-text projects) to resources."""

    def __init__(
        self,
        index: ResourceIndex,
        encoder: Encoder,
        config: RecommenderConfig | None = None,
        ranker: PriorRanker | LearnedRanker | None = None,
        *,
        model_version: str | None = None,
    ) -> None:
        if index.manifest.encoder_id != encoder.model_id:
            raise ValueError(
                f"index {index.version} was built with {index.manifest.encoder_id!r}, "
                f"encoder is {encoder.model_id!r}"
            )
        self.index = index
        self.encoder = encoder
        self.config = config or RecommenderConfig()
        self.ranker = ranker or PriorRanker()
        self._prior = ranker if isinstance(ranker, PriorRanker) else PriorRanker()
        self.model_version = model_version or f"{self.ranker.kind}@{encoder.model_id}"
        self._check_cache: dict[tuple[Any, ...], dict[str, _Checked]] = {}
        self._check_cache_size = 0
        self._open_by_coverage: tuple[dict[str, Resource], date, dict[tuple[str, ...], list[str]]] | None = None
        self._names: tuple[object, object, NameMatcher] | None = None

    # --- public --------------------------------------------------------------------------------

    def recommend(
        self,
        query: MatchQuery | Initiative,
        k: int = 10,
        *,
        today: date | None = None,
        with_excluded: bool = False,
        exclude_history_of: str | None = None,
        history_before: datetime | None = None,
        overrides: Mapping[str, Outcome] | None = None,
        explain: bool = True,
    ) -> Recommendation:
        """Top ``k`` eligible resources for ``query``, best first, each explained.

        ``today`` fixes the date that decides what is open (defaults to the current date).
        ``exclude_history_of`` leaves that initiative out of the kNN vote (used when scoring a past
        initiative for training, so it does not vote for itself) and ``history_before`` counts only
        partnerships decided before that time (scoring as of a past date). ``overrides`` are staff decisions
        for this initiative (``Catalogue.overrides_for``): pinned resources come first whatever
        their score, excluded ones never appear; both say so in their reasons. Raises
        ``ValueError`` when ``k`` is outside ``1..config.max_k``. ``explain=False`` leaves out the checks and
        reasons of each match (same ranking; offline evaluation reads only ids and scores).
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be between 1 and {self.config.max_k}, got {k}")
        q = MatchQuery.from_initiative(query) if isinstance(query, Initiative) else query
        day = today or date.today()
        candidates = self._ranked(q, k, day, exclude_history_of, history_before)
        overrides = overrides or {}
        staff_out = {rid for rid, o in overrides.items() if o.decision is Decision.excluded}
        pinned = [
            self._pinned(q, rid, day) for rid, o in overrides.items()
            if o.decision is Decision.pinned and rid in self.index.resources
        ]
        left_out = staff_out | {c.resource.id for c in pinned}
        eligible = [c for c in candidates if c.eligible and c.resource.id not in left_out]
        chosen = pinned[:k] + [c.candidate() for c in self._diversify(eligible, k - len(pinned[:k]))]
        matches = []
        for rank, shown in enumerate(chosen, start=1):
            m = self._match(q, shown, rank, explain)
            note = overrides.get(shown.resource.id)
            if note is not None:
                m.reasons.insert(0, "Épinglé par l'équipe" + (f" : {note.reason}" if note.reason else "."))
            matches.append(m)
        excluded: list[Match] = []
        if with_excluded:
            for r in candidates:
                if not r.eligible or r.resource.id in staff_out:
                    m = self._match(q, r.candidate(), 1)
                    note = overrides.get(r.resource.id)
                    if note is not None and note.decision is Decision.excluded:
                        m.reasons.insert(0, "Exclu par l'équipe" + (f" : {note.reason}" if note.reason else "."))
                    excluded.append(m)
        return Recommendation(matches, excluded)

    def _pinned(self, q: MatchQuery, resource_id: str, today: date) -> Candidate:
        """A pinned resource with its features and checks computed as for any candidate."""
        resource = self.index.resources[resource_id]
        checks = check_all(resource, q, today)
        scores = {"dense": 0.0}
        if self.config.use_dense:
            vector = self.encoder.encode_queries([q.text])[0]
            scores["dense"] = float(self.index.dense.reconstruct(resource_id) @ vector)
        return Candidate(resource, pair_features(q, resource, scores, checks, today), checks, score=float("inf"))

    def candidates(
        self, q: MatchQuery, k: int, *, today: date, exclude_history_of: str | None = None,
        history_before: datetime | None = None,
    ) -> list[Candidate]:
        """The scored candidate pool for ``q``, best first (eligible or not). Training reads this to
        build labelled pairs with hard negatives, so it sees exactly what serving sees."""
        return [c.candidate() for c in self._ranked(q, k, today, exclude_history_of, history_before)]

    def _ranked(
        self, q: MatchQuery, k: int, today: date, exclude_history_of: str | None, history_before: datetime | None,
    ) -> list[_Ranked]:
        """:meth:`candidates` before they are materialised: ``recommend`` turns only the ones it shows
        into :class:`Candidate`."""
        allowed = self._allowed(q, today)
        if not allowed:
            return []
        before = history_before.timestamp() if history_before is not None else None
        ids, retrieval = self._retrieve(q, allowed, k, exclude_history_of, before)
        if not ids:
            return []
        # The feature matrix is filled column-wise: retrieval scores as computed, the rest from the
        # check cache. ``float64`` holds every value exactly as a per-pair dict of floats would.
        resources = [self.index.resources[rid] for rid in ids]
        checked = self._checked(resources, q, today)
        n_retrieval = len(RETRIEVAL_FEATURES)
        X = np.empty((len(ids), len(FEATURES)), dtype=np.float64)
        X[:, :n_retrieval] = retrieval
        X[:, n_retrieval:] = [c.features for c in checked]
        pool = [_Ranked(r, row, c) for r, row, c in zip(resources, X.tolist(), checked, strict=True)]
        if not self.config.use_ranker:
            for c in pool:
                c.score = c.row[2]  # FEATURES[2], "rrf"
            pool.sort(key=_Ranked.sort_key)
            return pool
        prior = self._prior.predict(X.astype(np.float32))  # what ``to_matrix`` of the feature dicts gives
        for c, s in zip(pool, prior.tolist(), strict=True):
            c.score = s
        pool.sort(key=_Ranked.sort_key)
        if isinstance(self.ranker, PriorRanker):
            return pool
        # Two stages: the learned ranker reorders the prior's top ``rerank_depth``, the only part of
        # the pool it was trained on (it has never seen the tail, so it must not judge it).
        head, tail = pool[: self.config.rerank_depth], pool[self.config.rerank_depth :]
        head_X = np.asarray([c.row for c in head], dtype=np.float32).reshape(len(head), len(FEATURES))
        learned = self.ranker.predict(head_X)  # the same matrix as ``to_matrix`` of their feature dicts
        # The head holds the prior's scores: the served order fuses the two orders.
        served = fuse_with_prior(learned, np.asarray([c.score for c in head]), share=self.config.prior_share)
        floor = float(np.min(served)) if len(head) else 0.0
        for c, s in zip(head, served, strict=True):
            c.score = float(s)
        head.sort(key=_Ranked.sort_key)
        for rank, c in enumerate(tail, start=1):
            c.score = floor - rank  # below every reranked candidate, in prior order
        return head + tail

    # --- stages --------------------------------------------------------------------------------

    def _checked(self, resources: list[Resource], q: MatchQuery, today: date) -> list[_Checked]:
        """:func:`check_all`, :func:`is_eligible` and :func:`pair_only_features` of each resource,
        memoised: they depend only on the resource, the date and the few facts a query states
        (territory, legal form, stage, amount, needs), which repeat across queries. A hit must hold the
        very same resource object, so an edited resource is checked afresh. Cached checks are shared:
        :meth:`_Ranked.candidate` hands out copies."""
        facts = (q.territory, q.legal_form, q.stage, q.amount_sought, tuple(q.needs), today)
        cache = self._check_cache.get(facts)
        if cache is None:
            if self._check_cache_size >= 200_000:
                self._check_cache, self._check_cache_size = {}, 0
            cache = self._check_cache[facts] = {}
        out = []
        for resource in resources:
            hit = cache.get(resource.id)
            if hit is None or hit.resource is not resource:
                checks = check_all(resource, q, today)
                hit = _Checked(resource, checks, is_eligible(checks), pair_only_features(q, resource, checks, today))
                cache[resource.id] = hit
                self._check_cache_size += 1
            out.append(hit)
        return out

    def _allowed(self, query: MatchQuery, today: date) -> list[str]:
        """Open resources whose coverage includes the query's territory (and of the kinds it asks for).

        The open resources are grouped by coverage once per (resource dict, date) — the index replaces
        its dict on every write — so a query tests each distinct coverage once instead of every resource.
        """
        resources = self.index.resources
        cached = self._open_by_coverage
        if cached is None or cached[0] is not resources or cached[1] != today:
            groups: dict[tuple[str, ...], list[str]] = {}
            for rid, res in resources.items():
                if res.is_open(today):
                    groups.setdefault(tuple(res.coverage), []).append(rid)
            cached = (resources, today, groups)
            self._open_by_coverage = cached
        groups = cached[2]
        where = query.territory
        out = [rid for cov, rids in groups.items() if where is None or territory.covers(cov, where) for rid in rids]
        if query.kinds:
            kinds = set(query.kinds)
            out = [rid for rid in out if resources[rid].kind in kinds]
        return out

    def _retrieve(
        self, q: MatchQuery, allowed: list[str], k: int, exclude_history_of: str | None, before: float | None
    ) -> tuple[list[str], np.ndarray]:
        """Candidate ids from the three sources, and their ``(n, len(RETRIEVAL_FEATURES)) float64``
        retrieval scores (columns in :data:`RETRIEVAL_FEATURES` order)."""
        cfg = self.config
        allowed_set = set(allowed)
        vector = self.encoder.encode_queries([q.text])[0] if (cfg.use_dense or cfg.use_history) else None
        dense_ids: list[str] = []
        if cfg.use_dense and vector is not None:
            n = min(len(allowed), max(cfg.dense_candidates, k))
            _, found = self.index.dense.search(vector[None, :], n, allowed=allowed)
            dense_ids = [i for i in found[0] if i is not None]
        sparse_ids: list[str] = []
        if cfg.use_sparse:
            n = min(len(allowed), max(cfg.sparse_candidates, k))
            _, found_sparse = self.index.sparse.search(q.text, n, allowed=allowed)
            sparse_ids = [i for i in found_sparse if i is not None]
        votes: dict[str, float] = {}
        best: dict[str, float] = {}
        lexical: dict[str, float] = {}
        history = self.index.history
        if cfg.use_history and vector is not None and len(history):
            votes, best = history.knn_votes(vector, k=cfg.knn_neighbours, exclude=exclude_history_of,
                                            before=before)
            votes = {r: v for r, v in votes.items() if r in allowed_set}
            lexical = history.lexical_votes(q.text, k=cfg.knn_neighbours, exclude=exclude_history_of,
                                            before=before)
            lexical = {r: v for r, v in lexical.items() if r in allowed_set}
        dense_rank = {rid: r for r, rid in enumerate(dense_ids, start=1)}
        sparse_rank = {rid: r for r, rid in enumerate(sparse_ids, start=1)}
        pool = list(dict.fromkeys(
            dense_ids + sparse_ids + sorted(votes, key=lambda r: -votes[r]) + sorted(lexical, key=lambda r: -lexical[r])
        ))
        if not pool:
            return [], np.zeros((0, len(RETRIEVAL_FEATURES)))
        # Every candidate gets every score, whichever source found it: the ranker needs them all.
        if vector is not None:
            dense_scores = self.index.dense.reconstruct_many(pool) @ vector
            profile = history.profile_similarity(vector, pool, exclude=exclude_history_of, before=before)
        else:
            dense_scores = profile = np.zeros(len(pool), dtype=np.float32)
        if cfg.use_history:
            text_clf = history.classifier_scores(q.text, pool, where=q.territory, exclude=exclude_history_of)
            vector_clf = (history.vector_classifier_scores(vector, pool, exclude=exclude_history_of)
                          if vector is not None else np.zeros(len(pool), dtype=np.float32))
            local = history.local_share(q.territory, pool, exclude=exclude_history_of, before=before)
            typical = history.amount_typicality(q.amount_sought, pool, exclude=exclude_history_of, before=before)
        else:
            text_clf = vector_clf = local = typical = np.zeros(len(pool), dtype=np.float32)
        bm25 = self.index.sparse.score_of(q.text, pool) if cfg.use_sparse else np.zeros(len(pool))
        named = self._name_matcher().scores(q.text, pool)
        past = history.positive_counts(pool, exclude=exclude_history_of, before=before)
        n = len(pool)
        warm = past > 0

        def column(values: Any) -> np.ndarray:
            return np.fromiter(values, dtype=np.float64, count=n)

        rd = column(dense_rank.get(rid, 0) for rid in pool)
        rs = column(sparse_rank.get(rid, 0) for rid in pool)
        # Computed in float64 exactly as the scalar formula ``1 / (rrf_k + rank)`` (0 when unranked).
        with np.errstate(divide="ignore"):
            rrf = (np.where(rd > 0, 1.0 / (cfg.rrf_k + rd), 0.0)
                   + np.where(rs > 0, 1.0 / (cfg.rrf_k + rs), 0.0))
        columns = {
            "dense": dense_scores,
            "bm25": bm25,
            "rrf": rrf,
            "knn_vote": column(votes.get(rid, 0.0) for rid in pool),
            "knn_best": column(best.get(rid, 0.0) if rid in votes else 0.0 for rid in pool),
            "lex_vote": column(lexical.get(rid, 0.0) for rid in pool),
            "profile": profile,
            "name_match": named,
            # The models of past partnerships ignore dates (cross-fitted over the whole history):
            # a resource with no partnership before ``before`` is cold then, and gets their 0.
            "text_clf": np.where(warm, text_clf, 0.0),
            "vector_clf": np.where(warm, vector_clf, 0.0),
            "local_share": local,
            "amount_typicality": typical,
            "has_history": warm.astype(np.float64),
            "popularity": column(math.log1p(p) for p in past.tolist()),
            "acceptance": history.acceptances(pool, exclude=exclude_history_of, before=before, counts=past),
        }
        out = np.empty((n, len(RETRIEVAL_FEATURES)), dtype=np.float64)
        for j, name in enumerate(RETRIEVAL_FEATURES):
            out[:, j] = columns[name]
        return pool, out

    def _name_matcher(self) -> NameMatcher:
        """The names of the indexed resources, rebuilt when the index replaces its dicts (on a write)."""
        resources, providers = self.index.resources, self.index.providers
        cached = self._names
        if cached is None or cached[0] is not resources or cached[1] is not providers:
            previous = cached[2] if cached is not None else None
            cached = self._names = (resources, providers, NameMatcher(resources, providers, previous=previous))
        return cached[2]

    def _diversify(self, ranked: list[_C], k: int) -> list[_C]:
        """Best first, at most ``max_per_provider`` per provider while others remain; the capped ones
        come back at the end only if the list would otherwise be short."""
        cap = self.config.max_per_provider
        if cap <= 0:
            return ranked[:k]
        chosen: list[_C] = []
        deferred: list[_C] = []
        per: dict[str, int] = {}
        for c in ranked:
            pid = c.resource.provider_id
            if per.get(pid, 0) < cap:
                chosen.append(c)
                per[pid] = per.get(pid, 0) + 1
            else:
                deferred.append(c)
            if len(chosen) >= k:
                break
        return (chosen + deferred)[:k]

    # --- the reverse direction -----------------------------------------------------------------

    def recommend_initiatives(
        self, resource_id: str, initiatives: InitiativeIndex, k: int = 10, *, today: date | None = None
    ) -> list[InitiativeMatch]:
        """For one resource (a call, a public-service need…), the initiatives that fit it best.

        Same machinery the other way round: dense and BM25 search of the resource's text over the
        initiatives, the same eligibility checks per criterion (an initiative failing a hard
        criterion is left out), fused order, and the same explanations.
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be between 1 and {self.config.max_k}, got {k}")
        if resource_id not in self.index.resources:
            raise NotFoundError("resource", resource_id)
        resource = self.index.resources[resource_id]
        day = today or date.today()
        provider = self.index.providers.get(resource.provider_id)
        text = resource_document(resource, provider)
        allowed = [i for i, ini in initiatives.initiatives.items()
                   if territory.covers(resource.coverage, ini.territory)]
        if not allowed:
            return []
        n = min(len(allowed), max(self.config.dense_candidates, k))
        vector = self.encoder.encode_queries([text])
        _, dense_found = initiatives.dense.search(vector, n, allowed=allowed)
        _, sparse_found = initiatives.sparse.search(text, n, allowed=allowed)
        fused: dict[str, float] = {}
        for found in (dense_found[0], sparse_found):
            for rank, iid in enumerate((i for i in found if i is not None), start=1):
                fused[iid] = fused.get(iid, 0.0) + 1.0 / (self.config.rrf_k + rank)
        out: list[InitiativeMatch] = []
        for iid in sorted(fused, key=lambda i: (-fused[i], i)):
            ini = initiatives.initiatives[iid]
            q = MatchQuery.from_initiative(ini)
            checks = check_all(resource, q, day)
            if not is_eligible(checks):
                continue
            dense = float(initiatives.dense.reconstruct(iid) @ vector[0])
            out.append(InitiativeMatch(
                initiative_id=iid, title=ini.title, territory=ini.territory, score=round(fused[iid], 6),
                rank=len(out) + 1, checks=[x.model() for x in checks],
                reasons=reasons_for(q, resource, checks, {"dense": dense}),
            ))
            if len(out) >= k:
                break
        return out

    def _match(self, q: MatchQuery, c: Candidate, rank: int, explain: bool = True) -> Match:
        resource = c.resource
        if not explain:  # the same ranking, without the checks and reasons (offline evaluation)
            return Match(initiative_id=q.initiative_id, resource_id=resource.id, title=resource.title,
                         kind=resource.kind.value, score=round(c.score, 6), rank=rank,
                         index_version=self.index.version, model_version=self.model_version)
        provider = self.index.providers.get(resource.provider_id)
        return Match(
            initiative_id=q.initiative_id,
            resource_id=resource.id,
            title=resource.title,
            provider=provider.name if provider else resource.provider_id,
            kind=resource.kind.value,
            score=round(c.score, 6),
            rank=rank,
            features={name: round(value, 6) for name, value in c.features.items()},
            checks=[x.model() for x in c.checks],
            reasons=reasons_for(q, resource, c.checks, c.features),
            near_misses=[x.near_miss for x in c.checks if x.near_miss],
            closes_at=resource.closes_at,
            url=resource.url,
            index_version=self.index.version,
            model_version=self.model_version,
        )
