"""``maillage export-set``: a named set written as import files gives the named set's figures exactly
when evaluated as a folder with its ids files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from eval.datasets import EvalSet, load_eval_set
from eval.export_set import export_eval_set
from eval.folder_set import load_folder_set
from eval.harness import evaluate
from eval.systems import make_systems
from indexes import HashingEncoder
from tests.conftest import SHARED_DATA
from tests.eval.test_datasets import _grant, _rp_data

_TEXTS = {"163": ["Accueil de jeunes bénévoles", "Colonie de vacances", "Maison des jeunes"],
          "219": ["Matériel pour le club de football", "Tournoi de judo", "Piscine associative"],
          "224": ["Festival de danse", "Atelier de théâtre", "Chorale du village"],
          "122": ["Voirie communale"]}
_PLACES = ["1 rue de la Paix 86000 POITIERS", "Place du marché 97400 SAINT-DENIS", "2 rue Haute 23200 AUBUSSON"]


def _grants() -> list[dict[str, Any]]:
    """Thirty-odd grants over 2013–2016 on three programmes (and a few on the excluded 122)."""
    out = []
    for n in range(34):
        year = 2013 + n % 4
        code = ["163", "219", "224", "224", "122"][n % 5]
        texts = _TEXTS[code]
        out.append(_grant(f"rp{year}-{n:05d}", year, code, texts[n % len(texts)], _PLACES[n % 3]))
    return out


def _figures(result: Any) -> dict[str, Any]:
    d = result.to_dict()
    for s in d["systems"].values():
        s.pop("fit_seconds"), s.pop("rank_seconds")
    return {k: d[k] for k in ("systems", "comparisons", "slices", "calibration", "reference", "best_baseline")}


def _same_set(a: EvalSet, b: EvalSet) -> None:
    assert [p.model_dump() for p in a.providers] == [p.model_dump() for p in b.providers]
    strip = {"created_at", "updated_at"}  # when the set was loaded, not data
    assert [r.model_dump(exclude=strip) for r in a.resources] == [r.model_dump(exclude=strip) for r in b.resources]
    assert a.train == b.train and a.test == b.test and a.today == b.today
    assert [o.model_dump() for o in a.history] == [o.model_dump() for o in b.history]


def _folder_args(out: Path, split: str) -> dict[str, Path]:
    if split == "dev":
        return {"test_ids": out / "dev_ids.txt", "train_ids": out / "dev_train_ids.txt"}
    return {"test_ids": out / "test_ids.txt"}


@pytest.mark.parametrize("split", ["test", "dev"])
def test_the_exported_folder_gives_the_named_sets_figures(tmp_path: Path, split: str) -> None:
    data = _rp_data(tmp_path / "data", _grants())
    out = tmp_path / "rp"
    manifest = export_eval_set("reserve-parlementaire", data, out)
    assert {p.name for p in out.iterdir()} >= {"providers.jsonl", "resources.jsonl", "initiatives.jsonl",
                                               "outcomes.jsonl", "test_ids.txt", "dev_ids.txt", "set.json"}
    assert manifest["splits"]["test"]["test"] == len((out / "test_ids.txt").read_text().split())
    named = load_eval_set("reserve-parlementaire", data, split=split)
    folder = load_folder_set(out, **_folder_args(out, split))
    _same_set(named, folder)
    systems = "random,popularity,bm25,dense,tfidf-lr,maillage-zero,maillage"
    kw: dict[str, Any] = {"encoder": HashingEncoder(64), "resamples": 100, "progress": False}
    a = evaluate(named, make_systems(systems.split(",")), **kw)
    b = evaluate(folder, make_systems(systems.split(",")), **kw)
    assert _figures(a) == _figures(b)
    assert a.systems["popularity"].summary["ndcg@10"].value > 0  # a set with something to find


def test_export_set_then_eval_dataset_dir_through_the_cli(app: typer.Typer, tmp_path: Path) -> None:
    data = _rp_data(tmp_path / "data", _grants())
    out = tmp_path / "rp"
    runner = CliRunner()
    res = runner.invoke(app, ["export-set", "reserve-parlementaire", str(out), "--data", str(data)])
    assert res.exit_code == 0, res.output
    assert "test_ids.txt" in res.stdout
    common = ["--systems", "random,popularity,bm25,maillage-zero"]
    res = runner.invoke(app, ["eval", "--dataset", "reserve-parlementaire", "--data", str(data), *common,
                              "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", "--dataset", str(out), "--test-ids", str(out / "test_ids.txt"), *common,
                              "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("a", "b"))
    assert {n: s["metrics"] for n, s in a["systems"].items()} == {n: s["metrics"] for n, s in b["systems"].items()}
    res = runner.invoke(app, ["eval", "--dataset", str(out), *common, "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output  # the default split: time
    assert "time: the latest 20%" in (tmp_path / "c" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test-ids", "x.txt"], "--test-ids et --train-ids ne s'appliquent qu'à un dossier"),
        (["--split", "dev"], "--split ne s'appliquent pas à un dossier"),
    ],
)
def test_folder_options_are_checked(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "rp"
    export_eval_set("reserve-parlementaire", _rp_data(tmp_path / "data", _grants()), out)
    dataset = "betagouv" if args[0] == "--test-ids" else str(out)
    res = CliRunner().invoke(app, ["eval", "--dataset", dataset, *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "outcomes.jsonl").write_text("{oops\n")
    for name in ("providers", "resources", "initiatives"):
        (bad / f"{name}.jsonl").write_text("")
    res = CliRunner().invoke(app, ["eval", "--dataset", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "outcomes.jsonl:1 : JSON mal formé" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.realdata
def test_betagouv_and_its_exported_folder_give_the_same_figures(tmp_path: Path) -> None:
    if not (SHARED_DATA / "betagouv-startups" / "startups.jsonl").is_file():
        pytest.skip("shared data absent")
    out = tmp_path / "betagouv"
    export_eval_set("betagouv", SHARED_DATA, out)
    named = load_eval_set("betagouv", SHARED_DATA)
    folder = load_folder_set(out, test_ids=out / "test_ids.txt")
    _same_set(named, folder)
    systems = "random,popularity,bm25,dense,tfidf-lr,maillage-zero"
    kw: dict[str, Any] = {"encoder": HashingEncoder(256), "resamples": 200, "progress": False}
    a = evaluate(named, make_systems(systems.split(",")), **kw)
    b = evaluate(folder, make_systems(systems.split(",")), **kw)
    assert _figures(a) == _figures(b)
