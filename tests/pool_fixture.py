"""What the pool fixture records (``tests/fixtures/pool/``) and how it is computed, shared by the
script that writes it (``scripts/make_pool_fixture.py``) and the test that reads it.

Only public calls of the pipeline are recorded: ``Recommender.candidates`` (ids, scores, feature
values, checks), ``Recommender.recommend`` (matches with reasons, the excluded list, overrides),
the retrieval-only order and the reverse direction, with the prior and with a saved learned ranker.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexes import HashingEncoder
from matcher.demo_catalogue import load_demo
from matcher.history import History
from matcher.indexing import InitiativeIndex, ResourceIndex
from matcher.ranker import load_ranker
from matcher.recommender import Recommender, RecommenderConfig
from matcher.schemas import Decision, MatchQuery, Outcome
from matcher.store import Catalogue, sqlite_url
from tests.conftest import TODAY

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pool"
DEPTH = 15
"""Feature values and checks are recorded for the first ``DEPTH`` candidates of each pool."""


def build_demo(root: Path) -> tuple[Recommender, Catalogue, list[MatchQuery]]:
    store = Catalogue.open(sqlite_url(root / "m.db"))
    load_demo(store, today=TODAY)
    encoder = HashingEncoder(256)
    index = ResourceIndex.build(store, encoder, root / "idx")
    queries = [MatchQuery.from_initiative(i) for i in store.initiatives()][:30]
    queries += [MatchQuery(text=q.text) for q in queries[:10]]
    return Recommender(index, encoder), store, queries


def _dump(match: Any) -> dict[str, Any]:
    """A match as JSON, without the index version (a build time, different at every build)."""
    out = dict(match.model_dump(mode="json"))
    out.pop("index_version", None)
    return out


def _pool(rec: Recommender, q: MatchQuery, **kw: Any) -> dict[str, Any]:
    pool = rec.candidates(q, 10, today=TODAY, **kw)
    return {
        "ids": [c.resource.id for c in pool],
        "scores": [c.score for c in pool],
        "eligible": [c.eligible for c in pool],
        "features": [c.features for c in pool[:DEPTH]],
        "checks": [[x.model().model_dump(mode="json") for x in c.checks] for c in pool[:DEPTH]],
    }


def _recommend(rec: Recommender, q: MatchQuery, with_excluded: bool = True, **kw: Any) -> dict[str, Any]:
    got = rec.recommend(q, 10, today=TODAY, with_excluded=with_excluded, **kw)
    return {"matches": [_dump(m) for m in got.matches],
            "excluded": [_dump(m) for m in got.excluded]}


def snapshot(rec: Recommender, store: Catalogue, queries: list[MatchQuery], ranker_folder: Path) -> dict[str, Any]:
    """Every recorded case, keyed by a readable name."""
    cases: dict[str, Any] = {}
    history = rec.index.history
    middle = datetime.fromtimestamp(float(np.median(history.dates)))
    learned = Recommender(rec.index, rec.encoder, ranker=load_ranker(ranker_folder), model_version="fixture")
    fused_only = Recommender(rec.index, rec.encoder, RecommenderConfig(use_ranker=False))
    for n, q in enumerate(queries):
        cases[f"prior/{n}/pool"] = _pool(rec, q)
        cases[f"prior/{n}/recommend"] = _recommend(rec, q, with_excluded=n % 4 == 0)
        cases[f"learned/{n}/pool"] = _pool(learned, q)
        cases[f"learned/{n}/recommend"] = _recommend(learned, q, with_excluded=n % 4 == 1)
        cases[f"rrf/{n}/pool"] = _pool(fused_only, q)
    for n, (q, iid) in enumerate(zip(queries[:12], history.initiative_ids, strict=False)):
        for name, exclude, before in (("exclude", iid, None), ("before", None, middle), ("both", iid, middle)):
            cases[f"prior/{n}/{name}"] = _pool(rec, q, exclude_history_of=exclude, history_before=before)
            cases[f"learned/{n}/{name}"] = _pool(learned, q, exclude_history_of=exclude, history_before=before)
    for n, q in enumerate(queries[:8]):
        pool = rec.candidates(q, 10, today=TODAY)
        out, pin, pin2 = pool[0].resource.id, pool[5].resource.id, pool[-1].resource.id
        overrides = {
            out: Outcome(initiative_id="x", resource_id=out, decision=Decision.excluded, reason="déjà vu"),
            pin: Outcome(initiative_id="x", resource_id=pin, decision=Decision.pinned, reason="vu en comité"),
            pin2: Outcome(initiative_id="x", resource_id=pin2, decision=Decision.pinned),
        }
        cases[f"prior/{n}/overrides"] = _recommend(rec, q, overrides=overrides)
        cases[f"learned/{n}/overrides"] = _recommend(learned, q, overrides=overrides)
        cases[f"prior/{n}/noexplain"] = [_dump(m) for m in
                                         rec.recommend(q, 5, today=TODAY, explain=False).matches]
    cases.update(_configs(rec, learned, queries[:6]))
    cases.update(_high_vote_pins(rec, queries[:6]))
    initiatives = InitiativeIndex.build(store, rec.encoder)
    for rid in sorted(rec.index.resources)[::8]:
        cases[f"reverse/{rid}"] = [_dump(m) for m in
                                   rec.recommend_initiatives(rid, initiatives, 10, today=TODAY)]
    return {"today": TODAY.isoformat(), "depth": DEPTH, "cases": cases}


def write(data: dict[str, Any]) -> None:
    with gzip.open(FIXTURE / "lists.json.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(data, f, ensure_ascii=False, sort_keys=True)


def read() -> dict[str, Any]:
    with gzip.open(FIXTURE / "lists.json.gz", "rt", encoding="utf-8") as f:
        return dict(json.load(f))


CONFIGS: dict[str, dict[str, Any]] = {
    "no-dense": {"use_dense": False}, "no-sparse": {"use_sparse": False}, "no-history": {"use_history": False},
    "no-dense-no-history": {"use_dense": False, "use_history": False}, "no-cap": {"max_per_provider": 0},
    "deep-rerank": {"rerank_depth": 1000}, "rerank-1": {"rerank_depth": 1}, "learned-alone": {"prior_share": 0.0},
}


def _configs(rec: Recommender, learned: Recommender, queries: list[MatchQuery]) -> dict[str, Any]:
    """Pools and lists under the configurations the default cases do not reach, with the prior and
    the learned ranker; an empty history; and a filter on kinds."""
    out: dict[str, Any] = {}
    empty = replace(rec.index, history=History.empty(rec.encoder.dim))
    for name, knobs in CONFIGS.items():
        for who, ranker in (("prior", None), ("learned", learned.ranker)):
            r = Recommender(rec.index, rec.encoder, RecommenderConfig(**knobs), ranker, model_version="fixture")
            for n, q in enumerate(queries):
                out[f"config/{name}/{who}/{n}/pool"] = _pool(r, q)
                out[f"config/{name}/{who}/{n}/recommend"] = _recommend(r, q, with_excluded=n == 0)
    for who, ranker in (("prior", None), ("learned", learned.ranker)):
        r = Recommender(empty, rec.encoder, ranker=ranker, model_version="fixture")
        for n, q in enumerate(queries):
            out[f"config/empty-history/{who}/{n}/pool"] = _pool(r, q)
            kinds = q.model_copy(update={"kinds": ["financement", "appel_a_projets"]})
            out[f"config/kinds/{who}/{n}/pool"] = _pool(learned if ranker else rec, kinds)
    return out


def _high_vote_pins(rec: Recommender, queries: list[MatchQuery]) -> dict[str, Any]:
    """A pin on the candidate with the strongest vote of similar past projects beyond the first five,
    whose reasons depend on it; and a pin when nothing is open for the query's territory."""
    out: dict[str, Any] = {}
    for n, q in enumerate(queries):
        pool = rec.candidates(q, 10, today=TODAY)
        pin = max(pool[5:], key=lambda c: (c.features["knn_vote"], c.resource.id)).resource.id
        overrides = {pin: Outcome(initiative_id="x", resource_id=pin, decision=Decision.pinned)}
        out[f"prior/{n}/voted-pin/overrides"] = _recommend(rec, q, overrides=overrides)
    q = queries[0].model_copy(update={"kinds": ["lieu"], "territory": "2A004"})
    rid = sorted(rec.index.resources)[0]
    lone = {rid: Outcome(initiative_id="x", resource_id=rid, decision=Decision.pinned, reason="hors périmètre")}
    out["prior/lone-pin/overrides"] = _recommend(rec, q, overrides=lone)
    return out
