"""The judged set: its loader's validation, the "nothing fits" accounting, and a small end-to-end run
(BM25 and fake systems, the hashing encoder: no model is loaded)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from eval.datasets import EvalQuery, EvalSet
from eval.harness import evaluate
from eval.judged import REFERENCE_DATE, judged_path, load_judged_set, spread_tables
from eval.judged_metrics import judged_figures
from eval.report import format_table, write_report
from eval.systems import MaillageSystem, NothingFits, make_systems
from indexes import Encoder, HashingEncoder
from tests.eval.test_harness import synthetic_set


def _project(**changes: Any) -> dict[str, Any]:
    base = {"id": "jt-001", "text": "Notre association répare des vélos à Marseille. Nous cherchons 25 000 €.",
            "territory": "13055", "legal_form": "association", "judgments": {"res-0001": 3, "res-0054": 1},
            "fits": True, "note": "Re-use investment."}
    return base | changes


def _write(path: Path, *records: dict[str, Any] | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- loader ------------------------------------------------------------------------------------


def test_loader_builds_queries_over_the_demo_catalogue(tmp_path: Path) -> None:
    none = _project(id="jt-002", text="Collectif de musiciens à Strasbourg. On cherche une salle de répétition.",
                    territory=None, legal_form=None, judgments={}, fits=False)
    ev = load_judged_set("test", path=_write(tmp_path / "t.jsonl", _project(), none))
    assert ev.name == "judged" and ev.today == REFERENCE_DATE == date(2026, 11, 28)
    assert len(ev.resources) == 159 and len(ev.providers) == 69
    # Train: demo initiatives with an obtained outcome; history: exactly those outcomes.
    assert ev.train and all(q.relevant for q in ev.train)
    assert {o.decision.value for o in ev.history} == {"obtained"}
    assert {o.initiative_id for o in ev.history} == {q.id for q in ev.train}
    first, second = ev.test
    assert first.initiative.title == "Notre association répare des vélos à Marseille."
    assert first.initiative.description.endswith("25 000 €.")
    assert (first.initiative.territory, first.initiative.legal_form) == ("13055", "association")
    assert first.initiative.stage is None and first.initiative.needs == [] and first.initiative.amount_sought is None
    assert first.relevant == {"res-0001"} and first.grades == {"res-0001": 3, "res-0054": 1}
    assert second.relevant == frozenset() and second.grades == {}
    assert second.initiative.territory == "FR"  # no commune picked: national


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_project(judgments={"res-9999": 2}), "unknown resource id 'res-9999'"),
        (_project(judgments={"res-0001": 4}), "grade of res-0001 must be an integer 0–3, got 4"),
        (_project(judgments={"res-0001": -1}), "grade of res-0001 must be an integer 0–3, got -1"),
        (_project(judgments={"res-0001": "3"}), "grade of res-0001 must be an integer 0–3, got '3'"),
        (_project(judgments={"res-0001": True}), "grade of res-0001 must be an integer 0–3"),
        (_project(fits=False), "fits is false but the highest grade is 3"),
        (_project(judgments={"res-0054": 1}), "fits is true but the highest grade is 1"),
        (_project(territory="75999"), "code commune inconnu « 75999 »"),  # well-formed, not a listed commune
        (_project(territory="99"), "unknown territory"),
        (_project(territory="R93"), "unknown territory 'R93'"),  # a région is not what the widget offers
        (_project(territory=13055), "territory must be a string or null"),
        (_project(legal_form="sarl"), "legal_form must be one of collectif, association"),
        (_project(id="jd-001"), "id must be jt-NNN in the test split"),
        (_project(text="court"), "text must be a French description"),
        (_project(fits="yes"), "fits must be true or false"),
        ({k: v for k, v in _project().items() if k != "note"}, "missing ['note']"),
        (_project(stage="idee"), "unexpected ['stage']"),
    ],
)
def test_loader_refuses_a_bad_project_naming_line_and_id(tmp_path: Path, record: dict[str, Any],
                                                         message: str) -> None:
    path = _write(tmp_path / "t.jsonl", _project(id="jt-007"), record | {"id": record.get("id", "jt-001")})
    with pytest.raises(ValueError, match="line 2") as info:
        load_judged_set("test", path=path)
    assert message in str(info.value)
    if "id must be" not in message:
        assert "'jt-001'" in str(info.value) or "'jd-001'" in str(info.value)


def test_loader_refuses_duplicates_bad_json_and_missing_files(tmp_path: Path) -> None:
    dup = _write(tmp_path / "dup.jsonl", _project(), _project(id="jt-002"), _project())
    with pytest.raises(ValueError, match=r"line 3 \('jt-001'\): duplicate id, first on line 1"):
        load_judged_set("test", path=dup)
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_judged_set("test", path=_write(tmp_path / "bad.jsonl", _project(), "{nope"))
    with pytest.raises(ValueError, match=r"line 1 .*expected a JSON object, got list"):
        load_judged_set("test", path=_write(tmp_path / "list.jsonl", "[1, 2]"))
    with pytest.raises(FileNotFoundError, match="jeu jugé « test » indisponible : fichier absent"):
        load_judged_set("test", path=tmp_path / "absent.jsonl")
    with pytest.raises(ValueError, match="partie du jeu jugé inconnue 'train' : attendu l'une de dev, test"):
        load_judged_set("train")
    with pytest.raises(ValueError, match="partie du jeu jugé inconnue 'train' : attendu l'une de dev, test"):
        judged_path("train")


def test_the_shipped_test_split_meets_the_format() -> None:
    ev = load_judged_set("test")
    fits = [q for q in ev.test if q.relevant]
    assert len(ev.test) >= 64 and len(fits) >= 52 and len(ev.test) - len(fits) >= 12
    assert all(q.id.startswith("jt-") for q in ev.test)


# --- nothing-fits accounting -------------------------------------------------------------------


def _judged_queries() -> list[EvalQuery]:
    base = synthetic_set().test[0].initiative

    def q(qid: str, grades: dict[str, int]) -> EvalQuery:
        return EvalQuery(qid, base.model_copy(update={"id": qid}), frozenset(r for r, g in grades.items() if g >= 2),
                         grades=grades)

    return [q("f1", {"a": 3, "b": 1}), q("f2", {"b": 2}), q("n1", {"c": 1}), q("n2", {}), q("n3", {})]


def test_nothing_fits_shares_are_counted_on_their_own_projects() -> None:
    queries = _judged_queries()
    rankings = [["a", "b"], ["x", "b", "c"], ["c"], [], ["a"]]
    said = [False, True, True, True, False]  # wrong once on a fit, right twice out of three nones
    j = judged_figures(queries, rankings, said, resamples=50)
    assert (j["n_fits"], j["n_none"]) == (2, 3)
    assert j["nothing_fits_none"].value == pytest.approx(2 / 3)
    assert j["nothing_fits_fits"].value == pytest.approx(1 / 2)
    # nDCG@5 on the fits only: f1 is ideal (1.0); f2 has b at rank 2 → (1/log2 3) / 1 = 0.630930.
    assert j["ndcg@5"].value == pytest.approx((1.0 + 0.630930) / 2, abs=1e-6)
    assert j["p@5"].value == pytest.approx((1 / 5 + 1 / 5) / 2)
    # Grade-0 slots over every list: f2's x and c, n3's a (n1's c is graded 1).
    assert (j["grade0@5"], j["slots@5"]) == (3, 7)
    assert (j["hub_share@5"], j["hub_resource"]) == (pytest.approx(2 / 5), "a")  # a, b and c in 2 lists: a first
    with pytest.raises(ValueError, match="differ in length"):
        judged_figures(queries, rankings[:2], said, resamples=10)
    with pytest.raises(ValueError, match="need graded queries"):
        judged_figures([replace(queries[0], grades=None)], [["a"]], [False], resamples=10)


class GradeOracle:
    """A fake system that knows the grades: best grades first, and says nothing fits exactly when
    no resource is graded 2 or more."""

    name = "oracle"

    def fit(self, evalset: EvalSet, encoder: Encoder) -> GradeOracle:
        self.ids = evalset.resource_ids
        self.seen: dict[str, bool] = {}
        return self

    def rank(self, queries: Sequence[EvalQuery], k: int) -> list[list[tuple[str, float]]]:
        out = []
        for q in queries:
            grades = q.grades or {}
            order = sorted(self.ids, key=lambda r: (-grades.get(r, 0), r))[:k]
            out.append([(r, float(k - n)) for n, r in enumerate(order)])
            self.seen[q.id] = not q.relevant
        return out

    def nothing_fits(self, queries: Sequence[EvalQuery]) -> list[bool]:
        return [self.seen[q.id] for q in queries]


def test_maillage_records_nothing_fits_while_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    ev = synthetic_set()
    system = MaillageSystem(learn=False).fit(ev, HashingEncoder(64))
    assert isinstance(system, NothingFits)
    rec = system.recommender_
    assert rec is not None
    real = rec.recommend
    flagged = ev.test[1].id

    def recommend(initiative: Any, k: int, **kw: Any) -> Any:  # as if the threshold had spoken
        result = real(initiative, k, **kw)
        return replace(result, nothing_fits=initiative.id == flagged)

    monkeypatch.setattr(rec, "recommend", recommend)
    try:
        system.rank(ev.test[:3], 5)
        system.close()
        assert system.nothing_fits(ev.test[:3]) == [False, True, False]  # kept after close, no second pass
        with pytest.raises(ValueError, match=f"has not ranked {ev.test[3].id}"):
            system.nothing_fits(ev.test[3:4])
    finally:
        system.close()


# --- end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, EvalSet]:
    ev = load_judged_set("test")
    result = evaluate(ev, [*make_systems(["bm25"]), GradeOracle()], encoder=HashingEncoder(64), seed=0,
                      resamples=100, significance="scipy", progress=False)
    out = tmp_path_factory.mktemp("judged")
    write_report(result, out)
    return result, out, ev


def test_judged_run_scores_fits_only_and_counts_nothing_fits(judged_run: tuple[Any, Path, EvalSet]) -> None:
    result, _, ev = judged_run
    n_fits = sum(1 for q in ev.test if q.relevant)
    oracle, bm25 = result.systems["oracle"], result.systems["bm25"]
    # Per-query metrics hold the fits projects only; every project is ranked.
    assert len(oracle.per_query["ndcg@10"]) == n_fits and len(oracle.rankings) == len(ev.test)
    assert oracle.summary["ndcg@10"].value == pytest.approx(1.0)
    j = oracle.judged
    assert j["ndcg@5"].value == pytest.approx(1.0)
    assert (j["nothing_fits_none"].value, j["nothing_fits_fits"].value) == (1.0, 0.0)
    expected_p5 = sum(min(5, len(q.relevant)) / 5 for q in ev.test if q.relevant) / n_fits
    assert j["p@5"].value == pytest.approx(expected_p5)
    expected_grade0 = sum(max(0, 5 - sum(1 for g in (q.grades or {}).values() if g > 0)) for q in ev.test)
    assert j["grade0@5"] == expected_grade0
    # BM25 cannot say nothing fits: both shares are 0.
    b = bm25.judged
    assert (b["nothing_fits_none"].value, b["nothing_fits_fits"].value) == (0.0, 0.0)
    assert 0.0 < b["ndcg@5"].value < 1.0 and 0.0 < b["p@5"].value < 1.0
    assert 0.0 < b["hub_share@5"] <= 1.0 and b["hub_resource"] in set(ev.resource_ids)


def test_judged_report_has_its_table_and_plot(judged_run: tuple[Any, Path, EvalSet]) -> None:
    result, out, _ = judged_run
    md = (out / "report.md").read_text()
    assert "## Judged set" in md and "nothing-fits said wrongly (fits)" in md
    assert "grade-0 results in top 5" in md and "share of lists holding the most frequent resource in top 5" in md
    assert "| `oracle` | 1.000 [1.000, 1.000] |" in md
    assert (out / "judged.png").stat().st_size > 0
    data = json.loads((out / "results.json").read_text())
    assert data["systems"]["oracle"]["judged"]["nothing_fits_none"]["value"] == 1.0
    assert data["systems"]["bm25"]["judged"]["hub_resource"] == result.systems["bm25"].judged["hub_resource"]
    assert "judged set:" in format_table(result)


def test_cli_runs_the_judged_set(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["eval", "--dataset", "judged", "--split", "test", "--systems", "bm25",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "judged set:" in res.stdout
    assert json.loads((out / "results.json").read_text())["dataset"]["name"] == "judged"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "judged", "--split", "train"],
         "partie du jeu jugé inconnue 'train' : attendu l'une de dev, test"),
        (["--dataset", "judged", "--data", "/tmp"],
         "--data, --train et --test ne s'appliquent pas à --dataset judged"),
    ],
)
def test_cli_judged_flags_are_checked(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["eval", *args, "--systems", "bm25", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_spread_tables_count_every_project_once() -> None:
    ev = load_judged_set("test")
    tables = spread_tables("test")
    n_fit = sum(1 for q in ev.test if q.relevant)
    assert tables.startswith(f"{len(ev.test)} projects: {n_fit} fit, {len(ev.test) - n_fit} none.")
    for key in ("legal_form", "territory"):
        block = tables.split(f"| {key} | fits | none |")[1].split("\n\n")[0]
        rows = [r.strip("|").split("|") for r in block.strip().splitlines()[1:]]
        assert sum(int(r[1]) for r in rows) == n_fit and sum(int(r[2]) for r in rows) == len(ev.test) - n_fit
    assert {q.slices["territory"] for q in ev.test} <= {"national", "overseas", "corsica", "urban-commune",
                                                        "rural-commune", "departement"}


def test_the_judged_test_split_is_calibrated_on_the_dev_projects() -> None:
    from indexes import HashingEncoder

    evalset = load_judged_set("test")
    assert {q.id[:3] for q in evalset.calibration} == {"jd-"}  # dev projects, never test ones
    system = MaillageSystem(learn=False).fit(evalset, HashingEncoder(64))
    try:
        assert system.calibration_ is not None and "calibration queries" in system.calibration_.fitted_on
        assert system.recommender_ is not None and system.recommender_.calibration == system.calibration_
        queries = evalset.test[:4]
        ranked = system.rank(queries, 10)
        probabilities = system.relevances(queries)
        assert all(p is not None and len(p) == len(r) for p, r in zip(probabilities, ranked, strict=True))
    finally:
        system.close()


def test_a_deployment_s_own_judged_file_reads_over_its_catalogue(tmp_path: Path) -> None:
    from eval.judged import read_judged

    row = {"id": "mes-projets.1", "text": "Un jardin partagé avec compost pour le quartier.", "territory": "93066",
           "legal_form": "association", "judgments": {"res-1": 3, "res-2": 1}, "fits": True, "note": "jardin"}
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (got,) = read_judged(path, {"res-1", "res-2"})
    assert got.id == "mes-projets.1" and got.relevant == frozenset({"res-1"}) and got.grades == {"res-1": 3, "res-2": 1}
    path.write_text(json.dumps({**row, "id": "a b"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1.*id must be 1 to 64"):
        read_judged(path, {"res-1", "res-2"})
    with pytest.raises(FileNotFoundError, match="absent"):
        read_judged(tmp_path / "none.jsonl", set())
