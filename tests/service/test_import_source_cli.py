"""``maillage import-source`` and ``maillage demo --catalogue aides-territoires`` on small fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues"
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_import_source_prints_a_french_summary_with_line_numbers(env: Path) -> None:
    result = runner.invoke(app, ["import-source", "aides-territoires", str(FIXTURES / "at_export.csv")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ajoutées : 4 · mises à jour : 0 · inchangées : 0 · expirées (désactivées) : 0 · rejetées : 2" in out
    assert "périmètres rattachés à des codes INSEE : 3 / 4 (75,0 %)" in out
    assert "ligne 5 : Date Clôture" in out and "ligne 6 : colonne Nom vide" in out
    assert "ligne 4 : périmètre non reconnu" in out
    again = runner.invoke(app, ["import-source", "aides-territoires", str(FIXTURES / "at_export.csv")])
    assert "ajoutées : 0 · mises à jour : 0 · inchangées : 4" in again.output


def test_import_source_of_each_format(env: Path) -> None:
    for fmt, path in (("aides-territoires-api", FIXTURES / "at_api"), ("dispositif-aide", FIXTURES / "dispositifs.csv"),
                      ("tee", FIXTURES / "tee")):
        result = runner.invoke(app, ["import-source", fmt, str(path)])
        assert result.exit_code == 0 and f"Import de la source {fmt}" in result.output, result.output


def test_import_source_refuses_an_unknown_format_or_path(env: Path) -> None:
    result = runner.invoke(app, ["import-source", "excel", "x.xlsx"])
    assert result.exit_code == 2 and "format inconnu 'excel'" in result.output
    missing = runner.invoke(app, ["import-source", "tee", str(env / "nulle-part")])
    assert missing.exit_code == 2 and "introuvable" in missing.output


def test_demo_on_a_missing_real_catalogue_says_so(env: Path) -> None:
    result = runner.invoke(app, ["demo", "--catalogue", "aides-territoires", "--data", str(env / "absent")])
    assert result.exit_code == 2
    assert "catalogue aides-territoires introuvable" in result.output and "--data" in result.output
    unknown = runner.invoke(app, ["demo", "--catalogue", "inventé"])
    assert unknown.exit_code == 2 and "catalogue inconnu" in unknown.output


def test_demo_matches_demo_initiatives_against_a_real_catalogue_file(env: Path) -> None:
    result = runner.invoke(app, ["demo", "--catalogue", "aides-territoires", "--data",
                                 str(FIXTURES / "at_export.csv"), "-i", "ini-0008", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "Import de la source aides-territoires" in result.output and "ini-0008" in result.output
    assert "Catalogue : 4 ressources" in result.output
    assert "Conditions de la source, à vérifier : Bénéficiaires selon la source" in result.output
    assert "Périmètre non rattaché à un territoire connu" in result.output  # Hellio: never a silent France


def test_a_path_or_source_that_looks_like_markup_is_printed_as_is(env: Path) -> None:
    odd = env / "[red]aides.csv"  # rich would read it as a style and drop it from the line
    odd.write_text((FIXTURES / "at_export.csv").read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["import-source", "aides-territoires", str(odd), "--source", "at[/x]"])
    assert result.exit_code == 0, result.output  # "[/x]": a closing tag that closes nothing (MarkupError)
    assert "[red]aides.csv" in result.output and "Import de la source at[/x]" in result.output
    missing = runner.invoke(app, ["import-source", "aides-territoires", str(env / "[" / "x]")])
    assert missing.exit_code == 2 and "fichier introuvable" in missing.output  # said, not a MarkupError
