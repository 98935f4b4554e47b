from __future__ import annotations

import pytest
from pydantic import ValidationError

from matcher.schemas import (
    MAX_DESCRIPTION_CHARS,
    MAX_TITLE_CHARS,
    Initiative,
    MatchQuery,
    Outcome,
    Resource,
    describe_validation_error,
)


def errors_of(model: type, **fields: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model(**fields)
    return describe_validation_error(info.value)


def resource(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "res-1", "kind": "financement", "provider_id": "p", "title": "Aide"}
    base.update(over)
    return base


def test_enum_error_names_field_allowed_values_and_given_value() -> None:
    [line] = errors_of(Initiative, id="i", title="t", legal_form="sarl")
    assert line.startswith("legal_form :")
    assert "'association'" in line and "'collectif'" in line
    assert "reçu 'sarl'" in line


def test_negative_amount_rejected_with_field_and_value() -> None:
    [line] = errors_of(Initiative, id="i", title="t", amount_sought=-5)
    assert line.startswith("amount_sought :") and "supérieur ou égal à 0," in line and "-5" in line


def test_closing_before_opening_is_rejected() -> None:
    lines = errors_of(Resource, **resource(opens_at="2027-03-01", closes_at="2027-01-01"))
    assert any("closes_at (2027-01-01) doit être le même jour que opens_at (2027-03-01) ou après" in x for x in lines)


def test_amount_range_must_be_ordered() -> None:
    lines = errors_of(Resource, **resource(amount_min=5000, amount_max=1000))
    assert any("amount_min (5000) doit être inférieur ou égal à amount_max (1000)" in x for x in lines)


def test_huge_description_is_rejected_without_echoing_it() -> None:
    text = "x" * 10_000_000
    [line] = errors_of(Initiative, id="i", title="t", description=text)
    assert line.startswith("description :") and "20000" in line
    assert len(line) < 300  # the 10 MB value is shortened, never echoed


def test_unknown_territory_is_an_error_naming_the_code() -> None:
    [line] = errors_of(Initiative, id="i", title="t", territory="99")
    assert line.startswith("territory :") and "'99'" in line


def test_territory_is_canonicalised() -> None:
    assert Initiative(id="i", title="t", territory=" 2a004 ").territory == "2A004"
    assert Resource(**resource(coverage=["r11", "93", "93"])).coverage == ["R11", "93"]


def test_siren_luhn_check() -> None:
    assert Initiative(id="i", title="t", siren="732 829 320").siren == "732829320"
    [line] = errors_of(Initiative, id="i", title="t", siren="732829321")
    assert line.startswith("siren :") and "clé de contrôle" in line


def test_rna_format() -> None:
    assert Initiative(id="i", title="t", rna="w931234567").rna == "W931234567"
    [line] = errors_of(Initiative, id="i", title="t", rna="12345")
    assert line.startswith("rna :")


def test_bad_id_message_says_what_is_allowed() -> None:
    [line] = errors_of(Initiative, id="bad id!", title="t")
    assert line.startswith("id :") and "lettres, les chiffres" in line and "'bad id!'" in line


def test_unknown_field_is_refused() -> None:
    [line] = errors_of(Initiative, id="i", title="t", colour="blue")
    assert line.startswith("colour :")


def test_outcome_decision_vocabulary() -> None:
    [line] = errors_of(Outcome, initiative_id="i", resource_id="r", decision="maybe")
    assert line.startswith("decision :") and "'obtained'" in line


def test_match_query_from_initiative_keeps_context() -> None:
    ini = Initiative(id="i", title="Ressourcerie", description="Réemploi d'objets", territory="48",
                     legal_form="association", stage="idee", needs=["lieu"])
    q = MatchQuery.from_initiative(ini)
    assert q.territory == "48" and q.legal_form == ini.legal_form and q.initiative_id == "i"
    assert "Réemploi" in q.text


def test_match_query_from_a_long_initiative_is_cut_not_refused() -> None:
    ini = Initiative(id="i", title="T" * MAX_TITLE_CHARS, description="d" * MAX_DESCRIPTION_CHARS, themes=["jardin"])
    q = MatchQuery.from_initiative(ini)
    assert len(q.text) == MAX_DESCRIPTION_CHARS and q.text.startswith("T" * MAX_TITLE_CHARS + "\nd")
