"""Non-cumulation in the schema and as the importers read it from the sources' words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher.importers._cumulation import read_cumulation
from matcher.importers.catalogues import import_catalogue
from matcher.schemas import CumulationScope, Resource
from matcher.store import Catalogue
from tests.conftest import SHARED_DATA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues"
TEE = SHARED_DATA / "tee-programmes" / "programs"
REGIONAL = ("Les aides apportées dans ce cadre sont distinctes et non cumulables avec des subventions régionales "
            "issues des autres dispositifs régionaux.")


def _resource(**fields: object) -> Resource:
    return Resource.model_validate({"id": "res-a", "kind": "financement", "provider_id": "prov-a", "title": "Aide A",
                                    **fields})


def test_a_resource_naming_itself_as_non_cumulable_states_nothing() -> None:
    r = _resource(non_cumulable_with=["res-a", "res-b", "res-b"])
    assert r.non_cumulable_with == ["res-b"]
    assert Resource.model_validate_json(json.dumps({"id": "x", "kind": "lieu", "provider_id": "p", "title": "t",
                                                    "non_cumulable_with": ["x"]})).non_cumulable_with == []


def test_cumulation_fields_are_validated_naming_the_field() -> None:
    with pytest.raises(ValidationError) as bad_scope:
        _resource(cumulation_scope="aucune")
    assert bad_scope.value.errors()[0]["loc"] == ("cumulation_scope",)
    with pytest.raises(ValidationError) as bad_id:
        _resource(non_cumulable_with=["pas un id !"])
    assert bad_id.value.errors()[0]["loc"] == ("non_cumulable_with", 0)


@pytest.mark.parametrize(("text", "scope"), [
    ("L'aide régionale n’est pas cumulable avec une autre aide régionale sur les mêmes dépenses.",
     CumulationScope.aide_regionale),
    (REGIONAL, CumulationScope.aide_regionale),
    ("Cette subvention n'est pas cumulable avec toute autre aide publique portant sur le même projet.",
     CumulationScope.aide_publique),
    ("Cette aide est éligible au régime de minimis (Cumul d’aides publiques inférieur à 300 000 €).", None),
    ("Subvention non remboursable, cumulable avec les aides régionales.", None),
    ("Aide non plafonnée, cumulable avec d'autres aides publiques.", None),
    ("Cette aide régionale n'est pas cumulable avec toute autre aide publique.", CumulationScope.aide_publique),
    ("Cette aide ne peut être cumulée avec une aide régionale portant sur le même objet.",
     CumulationScope.aide_regionale),
])
def test_the_rule_read_from_the_words(text: str, scope: CumulationScope | None) -> None:
    found, words = read_cumulation(["Une première phrase sans rapport. " + text])
    assert found is scope
    assert words is not None and words.startswith(text[:30]) and "sans rapport" not in words


def test_texts_that_say_nothing_of_cumulating_aids_give_nothing() -> None:
    assert read_cumulation(["Une surface installée en cumul de plusieurs petites installations.", ""]) == (None, None)


def test_aides_territoires_api_fills_the_rule_where_the_source_states_it(store: Catalogue, tmp_path: Path) -> None:
    page = json.loads((FIXTURES / "at_api" / "page1.json").read_text(encoding="utf-8"))
    page["results"][0]["description"] += f"<p>{REGIONAL}</p>"
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "page1.json").write_text(json.dumps(page), encoding="utf-8")
    import_catalogue(store, "aides-territoires-api", [tmp_path / "pages"])
    lights = store.get_resource("at-renover-eclairage-public")
    assert lights.cumulation_scope is CumulationScope.aide_regionale and lights.cumulation_text == REGIONAL
    others = [r for r in store.resources() if r.id != lights.id]
    assert others and all(r.cumulation_scope is None and r.cumulation_text is None for r in others)


def test_tee_fills_the_rule_from_its_conditions(store: Catalogue) -> None:
    if not TEE.exists():
        pytest.skip(f"real data absent: {TEE}")
    import_catalogue(store, "tee", [TEE])
    cheque = store.get_resource("tee-cheque-vert-grand-est")
    assert cheque.cumulation_scope is CumulationScope.aide_regionale
    assert cheque.cumulation_text is not None and "pas cumulable avec un autre dispositif régional" in (
        cheque.cumulation_text)
    ceiling = store.get_resource("tee-pret-ile-de-france")  # de minimis: a ceiling, in words only
    assert ceiling.cumulation_scope is None and ceiling.cumulation_text is not None
    stated = {r.id for r in store.resources() if r.cumulation_scope is not None}
    assert stated == {"tee-cheque-vert-grand-est", "tee-projets-hebergements-touristiques-cvl"}
    again = import_catalogue(store, "tee", [TEE])  # re-reading the same words changes nothing
    assert again.updated == []
