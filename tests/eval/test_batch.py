from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from eval.batch import BatchOutputExists, read_cohort, run_batch
from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.store import Catalogue
from tests.conftest import TODAY


def cohort_file(path: Path, n: int) -> Path:
    lines = [json.dumps({"id": f"c{i}", "title": f"Jardin partagé numéro {i}", "territory": "93066",
                         "description": "jardin partagé compost potager"}) for i in range(n)]
    lines.insert(3, '{"id": "bad", "title": "x", "territory": "99"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Crash(Exception):
    pass


class CrashingRecommender:
    """Delegates to a real recommender, then fails on the n-th initiative (a power cut)."""

    def __init__(self, rec: Recommender, fail_at: int) -> None:
        self.rec, self.fail_at, self.calls = rec, fail_at, 0

    def recommend(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_at:
            raise Crash
        return self.rec.recommend(*args, **kwargs)


@pytest.fixture
def rec(filled_store: Catalogue, encoder: HashingEncoder, tmp_path: Path) -> Recommender:
    return Recommender(ResourceIndex.build(filled_store, encoder, tmp_path / "idx"), encoder)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cohort_reading_reports_bad_lines(tmp_path: Path) -> None:
    good, errors = read_cohort(cohort_file(tmp_path / "c.jsonl", 5))
    assert len(good) == 5 and len(errors) == 1 and errors[0].startswith("line 4: territory")


def test_batch_writes_one_row_per_initiative_and_rank(rec: Recommender, tmp_path: Path) -> None:
    cohort, _ = read_cohort(cohort_file(tmp_path / "c.jsonl", 6))
    report = run_batch(rec, cohort, tmp_path / "out.csv", k=3, today=TODAY)
    got = rows(tmp_path / "out.csv")
    assert report.done == 6 and len(got) == report.rows == 18
    assert [r["rank"] for r in got[:3]] == ["1", "2", "3"] and got[0]["reasons"]


def test_interrupted_batch_resumes_without_loss_or_duplicates(rec: Recommender, tmp_path: Path) -> None:
    cohort, _ = read_cohort(cohort_file(tmp_path / "c.jsonl", 12))
    out = tmp_path / "out.csv"
    with pytest.raises(Crash):
        run_batch(CrashingRecommender(rec, fail_at=8), cohort, out, k=3, today=TODAY)  # type: ignore[arg-type]
    with out.open("a", encoding="utf-8") as fh:  # a half-written row left by the crash
        fh.write("c7,1,res-jardin-93,Appel à proj")
    report = run_batch(rec, cohort, out, k=3, today=TODAY)
    assert report.skipped_already_done == 7 and report.done == 5
    got = rows(out)
    assert len(got) == 36
    pairs = [(r["initiative_id"], r["rank"]) for r in got]
    assert len(set(pairs)) == len(pairs)
    reference = tmp_path / "ref.csv"
    run_batch(rec, cohort, reference, k=3, today=TODAY)
    assert got == rows(reference)


def test_batch_refuses_to_overwrite_a_file_it_did_not_start(rec: Recommender, tmp_path: Path) -> None:
    cohort, _ = read_cohort(cohort_file(tmp_path / "c.jsonl", 3))
    precious = tmp_path / "report.csv"
    precious.write_text("someone's spreadsheet\n", encoding="utf-8")
    with pytest.raises(BatchOutputExists, match=r"report\.csv already exists"):
        run_batch(rec, cohort, precious, k=2, today=TODAY)
    assert precious.read_text(encoding="utf-8") == "someone's spreadsheet\n"
    report = run_batch(rec, cohort, precious, k=2, today=TODAY, overwrite=True)
    assert report.done == 3 and len(rows(precious)) == 6
