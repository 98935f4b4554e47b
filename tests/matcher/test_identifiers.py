"""SIREN, SIRET and RNA numbers: what the schema accepts, what it refuses, and in what words; the same
through a file import. The API's side is in tests/service/test_api_identifiers.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from stdnum.fr import siren as stdnum_siren

from matcher._identifiers import RNA_PATTERN, SIREN_PATTERN, SIRET_PATTERN
from matcher.importers import read_file_rows, run_import
from matcher.schemas import Initiative, describe_validation_error
from tests.conftest import open_store

DINUM_SIREN = "130025265"
"""Direction interministérielle du numérique (a public body), as INSEE lists it."""
DINUM_SIRET = "13002526500013"


def error_of(**fields: object) -> str:
    with pytest.raises(ValidationError) as info:
        Initiative(id="i", title="t", **fields)
    [line] = describe_validation_error(info.value)
    return line


def assert_french_and_no_regex(line: str) -> None:
    assert ", reçu '" in line, line  # French, and the value given said once
    for regex_bit in ("\\d", "[0-9", "{9}", "^", "$", "pattern", "Luhn", "got "):
        assert regex_bit not in line, (regex_bit, line)


def test_a_real_public_bodys_siren_and_siret_are_accepted_compacted() -> None:
    assert stdnum_siren.is_valid(DINUM_SIREN)  # the oracle agrees before the schema is asked
    ini = Initiative(id="i", title="t", siren="130 025 265", siret="130 025 265 00013")
    assert (ini.siren, ini.siret) == (DINUM_SIREN, DINUM_SIRET)
    assert Initiative(id="i", title="t", siren="130.025.265").siren == DINUM_SIREN


@pytest.mark.parametrize(("field", "value"), [("siren", "000000000"), ("siret", "00000000000000"),
                                              ("siret", "000 000 000 12343"), ("rna", "W000000000")])
def test_all_zero_numbers_are_refused(field: str, value: str) -> None:
    line = error_of(**{field: value})
    assert line.startswith(f"{field} :") and "zéros" in line and repr(value) in line
    assert_french_and_no_regex(line)


def test_a_siret_must_extend_the_siren_given_with_it() -> None:
    assert Initiative(id="i", title="t", siren=DINUM_SIREN, siret=DINUM_SIRET).siret == DINUM_SIRET
    line = error_of(siren="732829320", siret=DINUM_SIRET)
    assert line.startswith("siret :") and "732829320" in line and "SIREN" in line
    assert_french_and_no_regex(line)
    assert Initiative(id="i", title="t", siret=DINUM_SIRET).siren is None  # a SIRET alone is fine


@pytest.mark.parametrize("rna", ["W2A1000123", "w2b2001234", "W9R1001234", "W9M1004321", "W9T1000017",
                                 "W9P1002760", "W931234567", "W751 234 567"])
def test_corsican_and_overseas_rna_numbers_are_accepted(rna: str) -> None:
    assert Initiative(id="i", title="t", rna=rna).rna == rna.replace(" ", "").upper()


@pytest.mark.parametrize(("field", "value", "form"), [
    ("siren", "12345", "9 chiffres"),
    ("siren", "130025266", "clé de contrôle"),
    ("siret", "1300252650001", "14 chiffres"),
    ("siret", "13002526500014", "clé de contrôle"),
    ("rna", "W9711234567", "lettre W"),
    ("rna", "W2C1234567", "2A, 2B"),
    ("rna", "A931234567", "7 chiffres"),
])
def test_bad_forms_are_told_in_french_naming_the_field_and_the_form(field: str, value: str, form: str) -> None:
    line = error_of(**{field: value})
    label = "numéro RNA" if field == "rna" else field.upper()
    assert line.startswith(f"{field} : ") and label in line and form in line and repr(value) in line, line
    assert "par exemple" in line or "s'écrit" in line
    assert_french_and_no_regex(line)


@pytest.mark.parametrize("field", ["siren", "siret", "rna"])
def test_an_empty_identifier_means_not_given(field: str) -> None:
    assert getattr(Initiative(id="i", title="t", **{field: "  "}), field) is None


@pytest.mark.parametrize(("pattern", "good", "bad"), [
    (SIREN_PATTERN, ["130025265", " 130 025 265 ", "", "130025266"], ["12345", "1300252651", "13002526a"]),
    (SIRET_PATTERN, ["13002526500013", "130 025 265 00013", ""], ["1300252650001", "130025265000134"]),
    (RNA_PATTERN, ["W2A1000123", "w9r1001234", "W931234567", ""], ["W9711234567", "W2C1234567", "X931234567"]),
])
def test_the_published_form_is_the_form_the_server_checks(pattern: str, good: list[str], bad: list[str]) -> None:
    """The JSON Schema's pattern (check digits aside) says yes exactly where the server's form check does."""
    for value in good:
        assert re.fullmatch(pattern, value), value
    for value in bad:
        assert not re.fullmatch(pattern, value), value


def test_an_import_names_the_line_the_field_and_the_form_in_french(tmp_path: Path) -> None:
    rows = [{"id": "ini-1", "title": "Tiers-lieu", "siren": DINUM_SIREN, "siret": DINUM_SIRET, "rna": "W2A1000123"},
            {"id": "ini-2", "title": "Ressourcerie", "siren": "000000000"},
            {"id": "ini-3", "title": "Jardin", "siren": "732829320", "siret": DINUM_SIRET},
            {"id": "ini-4", "title": "Atelier vélo", "rna": "W97-123"}]
    path = tmp_path / "ini.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with open_store("sqlite", tmp_path) as store:
        report = run_import(store, read_file_rows(path, "initiative"))
        assert report.inserted == {"initiative": 1}
        assert store.get_initiative("ini-1").rna == "W2A1000123"
    by_line = {e.line: e.message for e in report.errors}
    assert set(by_line) == {2, 3, 4}
    assert by_line[2].startswith("siren : SIREN") and "zéros" in by_line[2]
    assert by_line[3].startswith("siret : SIRET") and "732829320" in by_line[3]
    assert by_line[4].startswith("rna : numéro RNA attendu") and "W931234567" in by_line[4]
    for message in by_line.values():
        assert_french_and_no_regex(message)
