"""Sharded, resumable batch matching (eval.shards): shards, manifest, resume after a SIGKILL, refusals."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from eval.batch import COLUMNS, count_rows, iter_cohort, read_cohort
from eval.shards import (
    MANIFEST,
    BatchError,
    Fingerprint,
    file_sha256,
    local_executor,
    match_shard,
    run_sharded,
    shard_name,
)
from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.schemas import Initiative
from matcher.store import Catalogue, sqlite_url
from tests.conftest import TODAY

ROOT = Path(__file__).resolve().parents[2]


def cohort_file(path: Path, n: int, *, bad: bool = True) -> Path:
    lines = [json.dumps({"id": f"c{i:03d}", "title": f"Jardin partagé numéro {i}", "territory": "93066",
                         "description": "jardin partagé compost potager" + " mobilité" * (i % 3)}) for i in range(n)]
    if bad:
        lines.insert(3, '{"id": "bad", "title": "x", "territory": "99"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_rec(db: Path, idx: Path) -> Recommender:
    """The recommender of a published snapshot, as loaded from disk (what a resumed run sees)."""
    encoder = HashingEncoder(256)
    return Recommender(ResourceIndex.load(Catalogue.open(sqlite_url(db)), encoder, idx), encoder)


def fingerprint(rec: Recommender, cohort: Path, *, k: int = 3, shard_size: int = 10, fmt: str = "parquet"
                ) -> Fingerprint:
    return Fingerprint(input_sha256=file_sha256(cohort), index_version=rec.index.version,
                       model_version=rec.model_version, encoder_id=rec.encoder.model_id, k=k, on=TODAY.isoformat(),
                       shard_size=shard_size, format=fmt)


def run(rec: Recommender, cohort: Path, out: Path, *, k: int = 3, shard_size: int = 10, fmt: str = "parquet",
        overwrite: bool = False):  # type: ignore[no-untyped-def]
    initiatives, _ = read_cohort(cohort)
    return run_sharded(initiatives, out, fingerprint(rec, cohort, k=k, shard_size=shard_size, fmt=fmt),
                       local_executor(rec, k=k, today=TODAY, fmt=fmt), overwrite=overwrite)


@pytest.fixture
def home(filled_store: Catalogue, tmp_path: Path) -> Path:
    ResourceIndex.build(filled_store, HashingEncoder(256), tmp_path / "idx")
    return tmp_path


@pytest.fixture
def rec(home: Path) -> Recommender:
    return load_rec(home / "maillage.db", home / "idx")


def shard_rows(folder: Path) -> list[dict[str, object]]:
    files = sorted(folder.glob("shard-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_cohort_reading_reports_bad_lines(tmp_path: Path) -> None:
    good, errors = read_cohort(cohort_file(tmp_path / "c.jsonl", 5))
    assert len(good) == 5 and len(errors) == 1 and errors[0].startswith("ligne 4 : territory")


def test_the_cohort_is_streamed(tmp_path: Path) -> None:
    errors: list[str] = []
    rejected: list[int] = []
    stream = iter_cohort(cohort_file(tmp_path / "c.jsonl", 5), errors, on_rejected=lambda: rejected.append(1))
    assert [next(stream).id, next(stream).id] == ["c000", "c001"] and errors == []  # read as consumed
    assert [i.id for i in stream] == ["c002", "c003", "c004"] and len(errors) == len(rejected) == 1
    assert count_rows(tmp_path / "c.jsonl") == 6


def test_shards_cut_by_position_with_a_manifest_of_checksums(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 25)
    report = run(rec, cohort, tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, *(shard_name(n, "parquet") for n in range(3))]
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["complete"] and manifest["total_shards"] == 3
    assert [s["initiatives"] for s in manifest["shards"]] == [10, 10, 5]
    assert [(s["first_id"], s["last_id"]) for s in manifest["shards"]] == [("c000", "c009"), ("c010", "c019"),
                                                                          ("c020", "c024")]
    for s in manifest["shards"]:
        assert file_sha256(out / s["file"]) == s["sha256"]
        assert pq.read_table(out / s["file"]).num_rows == s["rows"]
    rows = shard_rows(out)
    assert report.done == 3 and report.initiatives == 25 and len(rows) == report.rows == manifest["rows"] == 75
    assert [r["initiative_id"] for r in rows[::3]] == [f"c{i:03d}" for i in range(25)]
    assert [r["rank"] for r in rows[:3]] == [1, 2, 3] and all(r["reasons"] for r in rows)


def test_shard_rows_are_the_recommenders_lists(rec: Recommender, tmp_path: Path) -> None:
    initiatives, _ = read_cohort(cohort_file(tmp_path / "c.jsonl", 7))
    cols = match_shard(rec, initiatives, k=4, today=TODAY)
    expected = [(ini.id, m.rank, m.resource_id, m.score) for ini in initiatives
                for m in rec.recommend(ini, 4, today=TODAY).matches]
    assert list(zip(cols["initiative_id"], cols["rank"], cols["resource_id"], cols["score"], strict=True)) == expected


def test_csv_shards_hold_the_same_rows_as_parquet(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 12)
    run(rec, cohort, tmp_path / "pq")
    run(rec, cohort, tmp_path / "csv", fmt="csv")
    got = [r for f in sorted((tmp_path / "csv").glob("shard-*.csv"))
           for r in csv.DictReader(io.StringIO(f.read_text(encoding="utf-8")))]
    ref = shard_rows(tmp_path / "pq")
    assert list(got[0]) == list(COLUMNS) and len(got) == len(ref) == 36
    assert [(r["initiative_id"], int(r["rank"]), r["resource_id"], float(r["score"])) for r in got] == \
        [(r["initiative_id"], r["rank"], r["resource_id"], pytest.approx(r["score"], abs=1e-6)) for r in ref]


KILLED_RUN = """
import sys, time
from pathlib import Path
from eval.batch import read_cohort
from eval.shards import local_executor, run_sharded
from tests.conftest import TODAY
from tests.eval.test_batch import fingerprint, load_rec

home, cohort, out = map(Path, sys.argv[1:4])
rec = load_rec(home / "maillage.db", home / "idx")
inner = local_executor(rec, k=3, today=TODAY, fmt="parquet")

def slow(shards):
    for item in inner(shards):
        yield item
        time.sleep(0.25)  # room for the test's SIGKILL between shards, or in the middle of one

run_sharded(read_cohort(cohort)[0], out, fingerprint(rec, cohort), slow)
"""


def test_a_run_killed_with_sigkill_resumes_without_loss_or_duplicates(home: Path, rec: Recommender,
                                                                      tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 120)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(home), str(cohort), str(out)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            manifest = out / MANIFEST
            if manifest.is_file() and len(json.loads(manifest.read_text(encoding="utf-8"))["shards"]) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert not written["complete"] and 3 <= len(written["shards"]) < 12

    report = run(rec, cohort, out)
    assert report.skipped == len(written["shards"]) and report.done == 12 - report.skipped and report.rewritten == 0
    reference = tmp_path / "ref"
    run(rec, cohort, reference)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in reference.iterdir())  # every shard once, no temporary file left
    for name in names:
        if name != MANIFEST:
            assert (out / name).read_bytes() == (reference / name).read_bytes()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["complete"] and [s["shard"] for s in manifest["shards"]] == list(range(12))
    assert manifest["shards"] == json.loads((reference / MANIFEST).read_text(encoding="utf-8"))["shards"]
    assert len(shard_rows(out)) == 360


def test_a_run_that_stops_before_its_first_shard_is_resumed(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 12)
    out = tmp_path / "out"

    def dies(shards):  # type: ignore[no-untyped-def]
        for _ in shards:
            raise KeyboardInterrupt
        yield  # pragma: no cover

    with pytest.raises(KeyboardInterrupt):
        run_sharded(read_cohort(cohort)[0], out, fingerprint(rec, cohort), dies)
    assert json.loads((out / MANIFEST).read_text(encoding="utf-8"))["shards"] == []
    report = run(rec, cohort, out)
    assert report.done == 2 and report.skipped == 0 and len(shard_rows(out)) == 36


def test_a_manifest_of_other_settings_is_refused_with_what_differs(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 15)
    out = tmp_path / "out"
    run(rec, cohort, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(BatchError, match=r"k diffère \(manifeste : 3, cette exécution : 5\)"):
        run(rec, cohort, out, k=5)
    cohort_file(cohort, 16)
    with pytest.raises(BatchError, match=r"le fichier d'entrée a changé .*--overwrite"):
        run(rec, cohort, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    report = run(rec, cohort, out, overwrite=True)
    assert report.done == 2 and report.skipped == 0 and report.initiatives == 16


def test_a_corrupted_or_deleted_shard_is_written_again(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 30)
    out, reference = tmp_path / "out", tmp_path / "ref"
    run(rec, cohort, out)
    run(rec, cohort, reference)
    damaged = out / shard_name(1, "parquet")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    (out / shard_name(2, "parquet")).unlink()
    report = run(rec, cohort, out)
    assert (report.skipped, report.rewritten, report.done) == (1, 2, 2)
    for n in range(3):
        assert (out / shard_name(n, "parquet")).read_bytes() == (reference / shard_name(n, "parquet")).read_bytes()


def test_a_folder_that_holds_no_batch_is_refused(rec: Recommender, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("à garder\n", encoding="utf-8")
    with pytest.raises(BatchError, match=r"n'est pas vide et ne contient pas de manifest\.json"):
        run(rec, cohort_file(tmp_path / "c.jsonl", 3), out)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "à garder\n"


def test_bad_settings_are_refused_in_french(rec: Recommender, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 3)
    with pytest.raises(BatchError, match="--shard-size doit être un entier ≥ 1, reçu 0"):
        run(rec, cohort, tmp_path / "a", shard_size=0)
    with pytest.raises(BatchError, match="format inconnu 'xlsx'"):
        run(rec, cohort, tmp_path / "b", fmt="xlsx")


def test_initiatives_cross_the_wire_unchanged() -> None:
    """The Ray executor sends a shard's initiatives as JSON; they must come back equal."""
    ini = Initiative(id="x", title="Ressourcerie", territory="93066", description="réemploi", themes=["déchets"],
                     legal_form="association", needs=["financement"], amount_sought=12000)
    assert Initiative.model_validate(json.loads(json.dumps(ini.model_dump(mode="json")))) == ini


def test_a_second_run_on_a_folder_in_use_is_refused_and_a_resume_keeps_the_runs_date(
        rec: Recommender, tmp_path: Path) -> None:
    import fcntl
    import os

    from eval.shards import resumed_day

    cohort = cohort_file(tmp_path / "c.jsonl", 12)
    out = tmp_path / "out"
    assert resumed_day(out) is None
    run(rec, cohort, out)
    assert resumed_day(out) == TODAY.isoformat()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / f".{MANIFEST}.tmp-99999").write_bytes(b"{")  # left by a kill: cleaned by the next run
    held = os.open(out, os.O_RDONLY)  # another process's run holds the folder
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with pytest.raises(BatchError, match=r"un autre lot écrit déjà dans"):
            run(rec, cohort, out)
    finally:
        os.close(held)
    report = run(rec, cohort, out)
    assert report.skipped == 2 and report.done == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
