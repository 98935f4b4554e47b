from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    return tmp_path


def write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def loaded(env: Path) -> Path:
    prov = write(env / "p.jsonl", [{"id": "prov-93", "name": "Département de la Seine-Saint-Denis",
                                    "kind": "departement", "territory": "93"}])
    res = write(env / "r.jsonl", [
        {"id": "res-1", "kind": "financement", "provider_id": "prov-93", "title": "Aide aux jardins partagés",
         "description": "jardin partagé compost", "coverage": ["93"], "recurrence": "permanent"},
        {"id": "res-2", "kind": "financement", "provider_id": "prov-93", "title": "Aide au sport",
         "description": "club de football", "coverage": ["93"], "recurrence": "permanent"},
    ])
    ini = write(env / "i.jsonl", [{"id": "ini-1", "title": "Jardin partagé", "territory": "93066",
                                   "description": "un jardin partagé avec compost"}])
    for what, path in (("providers", prov), ("resources", res), ("initiatives", ini)):
        result = runner.invoke(app, ["import", what, str(path)])
        assert result.exit_code == 0, result.output
    return env


def test_match_stored_initiative_prints_ranked_table(loaded: Path) -> None:
    result = runner.invoke(app, ["match", "--initiative", "ini-1", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.index("jardins") < result.output.index("sport"), result.output


def test_match_free_text_json(loaded: Path) -> None:
    result = runner.invoke(app, ["match", "--text", "jardin partagé", "--territory", "93066", "--json"])
    assert result.exit_code == 0, result.output
    matches = json.loads(result.stdout)
    assert matches[0]["resource_id"] == "res-1" and matches[0]["rank"] == 1 and matches[0]["reasons"]


def test_outside_territory_gets_nothing(loaded: Path) -> None:
    result = runner.invoke(app, ["match", "--text", "jardin partagé", "--territory", "48", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_unknown_initiative_is_a_one_line_error(loaded: Path) -> None:
    result = runner.invoke(app, ["match", "--initiative", "nope"])
    assert result.exit_code == 2
    assert "aucune initiative n'a l'identifiant 'nope'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("code", ["99999", "93999"])  # an unknown département; a commune the COG does not have
def test_unknown_territory_is_a_one_line_error(loaded: Path, code: str) -> None:
    result = runner.invoke(app, ["match", "--text", "jardin partagé", "--territory", code])
    assert result.exit_code == 2 and "territory" in result.output and code in result.output
    assert "Traceback" not in result.output


def test_import_unknown_target_and_missing_file(env: Path) -> None:
    result = runner.invoke(app, ["import", "widgets", "x.jsonl"])
    assert result.exit_code == 2 and "unknown import target 'widgets'" in result.output
    result = runner.invoke(app, ["import", "initiatives", str(env / "absent.jsonl")])
    assert result.exit_code == 2 and "fichier introuvable" in result.output


def test_import_reports_rejected_lines(env: Path) -> None:
    path = env / "i.jsonl"
    path.write_text('{"id": "a", "title": "ok"}\n{"id": "b", "title": ""}\n', encoding="utf-8")
    result = runner.invoke(app, ["import", "initiatives", str(path)])
    assert result.exit_code == 0
    assert "ligne 2 (initiative) : title" in result.output


def test_missing_dataset_folder_is_explained(env: Path) -> None:
    result = runner.invoke(app, ["import", "betagouv", "--data", str(env / "nowhere")])
    assert result.exit_code == 2 and "startups.jsonl" in result.output


def test_index_build_status_verify_and_corruption(loaded: Path) -> None:
    assert runner.invoke(app, ["index", "build"]).exit_code == 0
    status = runner.invoke(app, ["index", "status"])
    assert status.exit_code == 0 and "2 ressources" in status.output
    assert "périmé" not in status.output  # just built from this catalogue
    assert runner.invoke(app, ["index", "verify"]).exit_code == 0
    home = loaded / "home" / "indexes"
    version = (home / "CURRENT").read_text().strip()
    (home / version / "dense.faiss").write_bytes(b"garbage")
    bad = runner.invoke(app, ["index", "verify"])
    assert bad.exit_code == 1 and "corrupt or truncated" in bad.output


def test_override_and_reverse_from_the_cli(loaded: Path) -> None:
    result = runner.invoke(app, ["override", "-i", "ini-1", "-r", "res-2", "--pin", "--reason", "comité du 3 mars"])
    assert result.exit_code == 0, result.output
    top = json.loads(runner.invoke(app, ["match", "-i", "ini-1", "--json"]).stdout)[0]
    assert top["resource_id"] == "res-2" and "comité du 3 mars" in top["reasons"][0]
    bad = runner.invoke(app, ["override", "-i", "ini-1", "-r", "ghost", "--exclude", "--reason", "x"])
    assert bad.exit_code == 2 and "aucune ressource n'a l'identifiant 'ghost'" in bad.output
    reverse = runner.invoke(app, ["match", "--resource", "res-1", "--json"])
    assert reverse.exit_code == 0, reverse.output
    assert json.loads(reverse.stdout)[0]["initiative_id"] == "ini-1"


def test_a_core_error_gets_the_command_to_type_from_the_cli(env: Path) -> None:
    """The core says what is wrong (no index); the CLI adds what to run, in French."""
    result = runner.invoke(app, ["index", "verify"])
    assert result.exit_code == 1
    assert "no index published" in result.output and "pour (re)construire l'index : maillage index build" in (
        result.output)


def test_match_free_text_prints_what_it_understood_and_uses_it(loaded: Path) -> None:
    text = "Notre association anime un jardin partagé à Brest ; il nous manque 18 000 euros [pour le compost]."
    result = runner.invoke(app, ["match", "--text", text, "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "Nous avons compris :" in result.output
    assert "montant recherché : 18\u202f000 € (« il nous manque 18 000 euros »)" in result.output
    assert "territoire : Brest (29019)" in result.output
    # The territory read (Brest) is a real filter: the resources cover the 93 only.
    assert json.loads(runner.invoke(app, ["match", "--text", text, "--json"]).stdout) == []
    explicit = runner.invoke(app, ["match", "--text", text, "--territory", "93066", "--amount", "12 500", "--json"])
    assert explicit.exit_code == 0, explicit.output
    assert json.loads(explicit.stdout)[0]["resource_id"] == "res-1"  # stdout stays JSON; the lines go to stderr
    assert "(non retenu" in explicit.stderr and "Nous avons compris" not in explicit.stdout


@pytest.mark.parametrize(("given", "expected"), [
    ("abc", "un montant en euros est attendu"), ("-5", "compris entre 0 et"), ("1e15", "compris entre 0 et"),
    ("nan", "un montant en euros est attendu"), ("inf", "un montant en euros est attendu"),
])
def test_bad_amounts_are_one_line_errors(loaded: Path, given: str, expected: str) -> None:
    result = runner.invoke(app, ["match", "--text", "jardin partagé", "--amount", given])
    assert result.exit_code == 2 and expected in result.output and repr(given) in result.output, result.output
    assert "Traceback" not in result.output


def test_amount_formats_and_ignored_readings_on_the_command_line(loaded: Path) -> None:
    for given in ("18000", "18 000", "18 000 €", "18000,50"):
        assert runner.invoke(app, ["match", "--text", "jardin partagé", "--amount", given, "--json"]).exit_code == 0
    text = "jardin partagé à Brest"
    dropped = runner.invoke(app, ["match", "--text", text, "--ignore-understood", "territory", "--json"])
    assert dropped.exit_code == 0 and json.loads(dropped.stdout)[0]["resource_id"] == "res-1"
    bad = runner.invoke(app, ["match", "--text", text, "--ignore-understood", "themes"])
    assert bad.exit_code == 2 and "themes" in bad.output
    assert runner.invoke(app, ["match", "-i", "ini-1", "--amount", "5"]).exit_code == 2


def test_train_names_the_bad_line_of_a_judged_file(loaded: Path) -> None:
    bad = write(loaded / "judged.jsonl", [{
        "id": "mes-projets.1", "text": "Un jardin partagé avec compost pour le quartier.", "territory": "93066",
        "legal_form": "association", "judgments": {"res-404": 3}, "fits": True, "note": "jardin"}])
    result = runner.invoke(app, ["train", "--judged", str(bad)])
    assert result.exit_code != 0
    assert "judged.jsonl line 1" in result.output and "unknown resource id 'res-404'" in result.output, result.output
    result = runner.invoke(app, ["train", "--judged", str(loaded / "absent.jsonl")])
    assert result.exit_code != 0 and "fichier de projets jugés absent" in result.output, result.output


def test_train_on_hand_judged_projects_says_where_its_weight_was_chosen(env: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    dev = root / "eval" / "judged" / "dev.jsonl"
    assert runner.invoke(app, ["demo"]).exit_code == 0  # the demo catalogue the dev projects are graded over
    result = runner.invoke(app, ["train", "--judged", str(dev)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "nDCG@10 des projets jugés" in flat and "choisi sur les 35 projets jugés de dev.jsonl" in flat, flat
    models = " ".join(runner.invoke(app, ["models"]).output.split())
    assert "nDCG@10 projets jugés" in models, models
    # projects that nothing fits give no list to choose on: the validation lists stay in charge, and it is said
    none = write(env / "none.jsonl", [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines()
                                      if line.strip() and not json.loads(line)["fits"]])
    result = runner.invoke(app, ["train", "--judged", str(none)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "Attention : aucun des 7 projets jugés de none.jsonl" in flat
    assert "choisi sur les listes de validation" in flat
