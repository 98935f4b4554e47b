"""The harness on a tiny synthetic set with the hashing encoder: figures, systems, report files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from eval import metrics as M
from eval.datasets import EvalQuery, EvalSet
from eval.harness import EvalResult, evaluate
from eval.report import format_table, write_report
from eval.systems import MaillageSystem, RandomSystem, make_systems
from indexes import Encoder, HashingEncoder
from matcher.schemas import Initiative, Outcome, Provider, ProviderKind, Resource

TOPICS = {
    "res-danse": ("p-culture", "danse théâtre spectacle vivant chorégraphie scène"),
    "res-musique": ("p-culture", "musique concert orchestre chorale instruments"),
    "res-lecture": ("p-culture", "bibliothèque lecture livres médiathèque écriture"),
    "res-foot": ("p-sport", "football club sportif stade ballon équipe"),
    "res-velo": ("p-sport", "cyclisme vélo piste course randonnée"),
    "res-jeunes": ("p-jeunesse", "jeunesse bénévolat colonie séjours éducation populaire"),
}


def synthetic_set(n_per_topic: int = 4) -> EvalSet:
    providers = [Provider(id=p, name=f"Ministère {p[2:]}", kind=ProviderKind.ministere)
                 for p in ("p-culture", "p-sport", "p-jeunesse")]
    resources = [Resource(id=rid, kind="financement", provider_id=pid, title=f"Programme {rid[4:]}",
                          description=f"Soutien aux projets : {words}.", recurrence="permanent")
                 for rid, (pid, words) in TOPICS.items()]
    train, test, history = [], [], []
    for rid, (_, words) in TOPICS.items():
        w = words.split()
        for n in range(2 * n_per_topic):
            year = 2015 if n < n_per_topic else 2016
            iid = f"ini-{rid[4:]}-{n}"
            ini = Initiative(id=iid, title=f"Association {w[n % len(w)]}", territory="93066",
                             description=f"Projet associatif autour de {w[(n + 1) % len(w)]} et {w[(n + 2) % len(w)]}",
                             legal_form="association", created_at=datetime(year, 3, 1, tzinfo=UTC))
            q = EvalQuery(iid, ini, frozenset({rid}), date(year, 3, 1), {"territory": "urban", "popularity": "seen"})
            if year == 2015:
                train.append(q)
                history.append(Outcome(id=f"o-{iid}", initiative_id=iid, resource_id=rid, decision="obtained"))
            else:
                test.append(q)
    # One more popular resource in train, so popularity has a clear order.
    history.append(Outcome(id="o-extra", initiative_id=train[0].id, resource_id="res-foot", decision="obtained"))
    return EvalSet("synthetic", providers, resources, train, test, history, "2015 / 2016", date(2017, 1, 1))


class OracleSystem:
    """Ranks the relevant resources first: the ceiling every metric must reach."""

    name = "oracle"

    def fit(self, evalset: EvalSet, encoder: Encoder) -> OracleSystem:
        self.ids = evalset.resource_ids
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[list[tuple[str, float]]]:
        out = []
        for q in queries:
            order = sorted(q.relevant) + [r for r in self.ids if r not in q.relevant]
            out.append([(r, float(k - n)) for n, r in enumerate(order[:k])])
        return out


@pytest.fixture(scope="module")
def result() -> EvalResult:
    systems = [OracleSystem(), *make_systems(["random", "popularity", "bm25", "dense", "tfidf-lr", "maillage"])]
    return evaluate(synthetic_set(), systems, encoder=HashingEncoder(256), seed=0, resamples=200,
                    significance="scipy", progress=False)


def test_oracle_is_perfect_and_random_is_not(result: EvalResult) -> None:
    oracle = result.systems["oracle"].summary
    for m in ("ndcg@10", "ndcg@1", "recall@10", "mrr", "map", "hit@1"):
        assert oracle[m].value == pytest.approx(1.0), m
    assert result.systems["random"].summary["ndcg@10"].value < 0.9
    assert result.systems["random"].summary["mrr"].value < oracle["mrr"].value


def test_text_systems_beat_random_on_an_easy_set(result: EvalResult) -> None:
    random_mrr = result.systems["random"].summary["mrr"].value
    for name in ("bm25", "dense", "tfidf-lr", "maillage"):
        assert result.systems[name].summary["mrr"].value > random_mrr, name
    # Popularity ranks the same list for every query: res-foot (5 train positives) first.
    assert all(r[0] == "res-foot" for r in result.systems["popularity"].rankings)
    assert result.systems["popularity"].summary["coverage@10"].value == 1.0  # 6 candidates, k = 10


def test_catalogue_metrics_match_the_list_functions(result: EvalResult) -> None:
    es = synthetic_set()
    for name, s in result.systems.items():
        top3 = [r[:3] for r in s.rankings]
        share, g = M.provider_concentration(top3, es.provider_of(), 3)
        assert M.coverage(s.rankings, es.resource_ids, 10) == pytest.approx(s.summary["coverage@10"].value), name
        # The harness reports catalogue metrics at main_k = 10; check the k = 3 list version is a share too.
        assert 0 <= share <= 1 and 0 <= g <= 1
        ci = s.summary["gini@10"]
        assert ci.low <= ci.value <= ci.high
    assert result.main_k == 10 and result.depth == 20  # max(max k, min(100, 6 candidates))


def test_significance_compares_maillage_with_the_best_baseline(result: EvalResult) -> None:
    assert result.reference == "maillage"
    assert result.best_baseline == "oracle"  # the best other system by nDCG@10
    vs_oracle = {c.metric: c for c in result.comparisons if c.baseline == "oracle"}
    assert set(vs_oracle) == {"ndcg@10", "recall@10", "mrr", "map"}
    c = vs_oracle["map"]
    assert c.delta <= 0 and c.low <= c.delta <= c.high and 0 <= c.p_value <= 1 and 0 < c.p_bootstrap <= 1
    assert c.test == "paired t-test (scipy)"
    assert set(result.slices) == {"popularity", "territory"}
    assert result.slices["territory"]["urban"]["n"] == len(result.query_ids)


def test_maillage_catalogue_holds_train_only(tmp_path: Path) -> None:
    es = synthetic_set()
    system = MaillageSystem().fit(es, HashingEncoder(64))
    try:
        assert system.store_ is not None
        stored = {o.initiative_id for o in system.store_.outcomes()}
        assert stored == {q.id for q in es.train}
        assert {i.id for i in system.store_.initiatives()} == {q.id for q in es.train}
        ranked = system.rank(es.test[:2], 5)
        assert all(1 <= len(r) <= 5 for r in ranked)
        assert len(system.rank(es.test[:1], 6)[0]) == 6  # deeper than needed: every candidate
    finally:
        system.close()
    assert system.store_ is None


def test_limit_is_a_seeded_sample_and_arguments_are_checked() -> None:
    es = synthetic_set()
    run = lambda: evaluate(es, [RandomSystem(seed=1)], encoder=HashingEncoder(32), limit=5, resamples=50,  # noqa: E731
                           significance="scipy", progress=False)
    a, b = run(), run()
    assert len(a.query_ids) == 5 and a.query_ids == b.query_ids
    assert a.systems["random"].rankings == b.systems["random"].rankings
    with pytest.raises(ValueError, match="distinct names"):
        evaluate(es, [RandomSystem(), RandomSystem()], encoder=HashingEncoder(32), progress=False)
    with pytest.raises(ValueError, match="k_values must be positive ints"):
        evaluate(es, [RandomSystem()], k_values=(0, 5), encoder=HashingEncoder(32), progress=False)
    with pytest.raises(ValueError, match="unknown system 'bm26'"):
        make_systems(["bm26"])


def test_report_files(result: EvalResult, tmp_path: Path) -> None:
    paths = write_report(result, tmp_path / "out")
    names = {p.name for p in paths}
    assert {"report.md", "results.json", "metrics.png", "recall_at_k.png", "slice_territory.png",
            "slice_popularity.png"} <= names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(data["systems"]) == {"oracle", "random", "popularity", "bm25", "dense", "tfidf-lr", "maillage"}
    for s in data["systems"].values():
        assert {"ndcg@10", "recall@10", "mrr", "map", "coverage@10", "top10%_share@10", "gini@10"} <= set(s["metrics"])
        assert set(s["recall_curve"]) == {"1", "3", "5", "10", "20"}
    assert data["systems"]["oracle"]["metrics"]["ndcg@10"] == {"value": 1.0, "low": 1.0, "high": 1.0}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| `maillage` |" in md and "## Significance" in md and "### territory" in md
    assert not list((tmp_path / "out").glob(".*.tmp"))  # temporary files renamed away
    table = format_table(result)
    assert all(name in table for name in data["systems"]) and "nDCG@10" in table


def test_ranx_significance_matches_scipy() -> None:
    pytest.importorskip("ranx")
    es = synthetic_set()
    systems = lambda: make_systems(["random", "bm25", "maillage"])  # noqa: E731
    kw = dict(encoder=HashingEncoder(64), resamples=50, progress=False)
    with_ranx = evaluate(es, systems(), significance="ranx", **kw)
    with_scipy = evaluate(es, systems(), significance="scipy", **kw)
    assert with_ranx.significance == "ranx"
    assert not [n for n in with_ranx.notes if "ranx disagrees" in n]
    for a, b in zip(with_ranx.comparisons, with_scipy.comparisons, strict=True):
        assert (a.baseline, a.metric) == (b.baseline, b.metric)
        assert a.test in {"paired t-test (ranx.compare)", "paired t-test (scipy)"}  # scipy when ranx gives NaN
        assert a.p_value == pytest.approx(b.p_value, abs=1e-3)
    assert any(a.test == "paired t-test (ranx.compare)" for a in with_ranx.comparisons)
