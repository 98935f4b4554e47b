"""``maillage eval``: a thin face; bad input and missing data give one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.eval.test_datasets import _rp_data


def test_eval_writes_the_report(app: typer.Typer, tmp_path: Path) -> None:
    data = _rp_data(tmp_path / "data")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["eval", "--dataset", "reserve-parlementaire", "--data", str(data),
                                   "--systems", "random,popularity,maillage", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "maillage" in res.stdout and "nDCG@10" in res.stdout
    results = json.loads((out / "results.json").read_text())
    assert list(results["systems"]) == ["random", "popularity", "maillage"]
    assert results["encoder"] == "hashing:64"
    assert (tmp_path / "home" / "cache" / "embeddings.sqlite").is_file()  # encodings go through the cache


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "jeu de données inconnu 'nope'"),
        (["--dataset", "betagouv", "--systems", "bm25,magic"], "unknown system 'magic'"),
        (["--dataset", "betagouv", "--limit", "0"], "--limit must be >= 1"),
        (["--dataset", "betagouv", "--data", "/nonexistent"],
         "absent de /nonexistent : il manque"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["eval", *args, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output
