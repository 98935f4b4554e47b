"""``maillage observatory`` and the console's observatory page: the same figures, suppressed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.observatory import published_path
from service.cli import app
from tests.service.conftest import Api
from tests.service.test_web import _sign_in

runner = CliRunner()


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    prov = _write(tmp_path / "p.jsonl", [{"id": "prov-1", "name": "Fondation des jardins", "kind": "fondation"}])
    res = _write(tmp_path / "r.jsonl", [
        {"id": f"res-{i}", "kind": "financement", "provider_id": "prov-1", "title": f"Aide aux jardins {i}",
         "description": "jardin partagé compost", "eligible_stages": ["deploiement"], "recurrence": "permanent"}
        for i in range(3)])
    ini = _write(tmp_path / "i.jsonl", [
        {"id": f"ini-{i}", "title": f"Jardin {i}", "territory": "93066", "description": "un jardin partagé",
         "stage": "idee", "created_at": "2026-01-05T00:00:00Z"} for i in range(7)])
    for what, path in (("providers", prov), ("resources", res), ("initiatives", ini)):
        result = runner.invoke(app, ["import", what, str(path)])
        assert result.exit_code == 0, result.output
    return tmp_path


def test_cli_writes_the_report_and_publishes_it(home: Path) -> None:
    out = home / "rapport"
    result = runner.invoke(app, ["observatory", "--out", str(out), "--min-cell", "5", "--on", "2026-03-15"])
    assert result.exit_code == 0, result.output
    assert "Bloquées par un critère" in result.output and "7 (100.0 %)" in result.output
    with (out / "blocages_clauses.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["Clause"] == "Stades acceptés : déploiement" and rows[0]["Écarte"] == "pas « idée »"
    assert rows[0]["Initiatives écartées"] == "7"
    assert rows[0]["Initiatives concernées"] == " | ".join(f"ini-{i}" for i in range(7))
    timeline = list(csv.DictReader((out / "evolution_mensuelle.csv").open(encoding="utf-8")))
    assert [r["Mois"] for r in timeline] == ["2026-01", "2026-02", "2026-03"]
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert published_path(home / "home").is_file()


def test_cli_refuses_bad_options(home: Path) -> None:
    result = runner.invoke(app, ["observatory", "--out", str(home / "x"), "--min-cell", "0"])
    assert result.exit_code == 2 and "--min-cell" in result.output
    result = runner.invoke(app, ["observatory", "--out", str(home / "x"), "--dataset", "nope"])
    assert result.exit_code == 2 and "jeu inconnu" in result.output
    result = runner.invoke(app, ["observatory", "--out", str(home / "x"), "--on", "31/12/2026"])
    assert result.exit_code == 2 and "AAAA-MM-JJ" in result.output
    assert not (home / "x").exists()  # nothing written on bad input


def test_console_page_shows_the_published_figures(api: Api) -> None:
    _sign_in(api.client, api.tokens["staff"])
    empty = api.client.get("/console/observatoire")
    assert empty.status_code == 200 and "maillage observatory" in empty.text
    env = {"MAILLAGE_HOME": str(api.settings.home), "MAILLAGE_MODEL": api.settings.model}
    result = runner.invoke(app, ["observatory", "--out", str(api.settings.home / "rapport")], env=env)
    assert result.exit_code == 0, result.output
    assert published_path(api.settings.home).is_file()
    page = api.client.get("/console/observatoire")
    assert page.status_code == 200
    assert "Clauses qui écartent le plus" in page.text and "Offre et demande par département" in page.text
    assert "&lt; 5" in page.text  # one initiative: its cells are suppressed on the page as in the report
