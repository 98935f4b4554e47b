"""``maillage plan``: a stored initiative or a free text, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()
GARDEN = "jardin partagé compost potager"


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    prov = _write(tmp_path / "p.jsonl", [{"id": "prov-93", "name": "Département de la Seine-Saint-Denis",
                                          "kind": "departement", "territory": "93"}])
    res = _write(tmp_path / "r.jsonl", [
        {"id": "res-fonds", "kind": "financement", "provider_id": "prov-93", "title": "Fonds jardins",
         "description": GARDEN, "coverage": ["93"], "amount_max": 8000, "closes_at": "2027-06-30",
         "non_cumulable_with": ["res-fonds-bis"]},
        {"id": "res-fonds-bis", "kind": "financement", "provider_id": "prov-93", "title": "Fonds jardins bis",
         "description": GARDEN, "coverage": ["93"], "amount_max": 8000, "recurrence": "permanent"},
        {"id": "res-lieu", "kind": "lieu", "provider_id": "prov-93", "title": "Friche à jardiner",
         "description": GARDEN, "coverage": ["93"], "closes_at": "2027-01-31"},
    ])
    ini = _write(tmp_path / "i.jsonl", [{"id": "ini-1", "title": "Jardin partagé", "territory": "93066",
                                         "description": "un " + GARDEN, "needs": ["financement", "lieu"],
                                         "amount_sought": 15000}])
    for what, path in (("providers", prov), ("resources", res), ("initiatives", ini)):
        result = runner.invoke(app, ["import", what, str(path)])
        assert result.exit_code == 0, result.output
    return tmp_path


def test_plan_of_a_stored_initiative_as_json(loaded: Path) -> None:
    result = runner.invoke(app, ["plan", "--initiative", "ini-1", "--on", "2026-12-01", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    ids = [s["resource_id"] for s in body["steps"]]
    assert "res-lieu" in ids and len({"res-fonds", "res-fonds-bis"} & set(ids)) == 1  # never both
    assert ids[0] == "res-lieu"  # the soonest deadline first
    assert body["uncovered"] == [] and body["amount_covered"] == 8000
    assert [x["reason"] for x in body["left_out"]] and "n'est pas cumulable" in body["left_out"][0]["reason"]


def test_plan_of_a_free_text_prints_the_steps_in_french(loaded: Path) -> None:
    result = runner.invoke(app, ["plan", "--text", "Un jardin partagé, il nous manque 10 000 euros",
                                 "--territory", "93066", "--need", "financement", "--on", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "Couvre le besoin « financement »." in result.output and "Laissées de côté" in result.output


def test_plan_needs_one_source_and_says_so(loaded: Path) -> None:
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2 and "--initiative" in result.output and "Traceback" not in result.output
    unknown = runner.invoke(app, ["plan", "--initiative", "nope"])
    assert unknown.exit_code == 2 and "'nope'" in unknown.output
