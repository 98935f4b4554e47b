"""The API shows a real catalogue's eligibility wording as a check staff must verify."""

from __future__ import annotations

from tests.service.conftest import Api


def test_match_checks_carry_the_source_conditions_as_an_unknown_clause(api: Api) -> None:
    new = {"id": "at-velo", "kind": "financement", "provider_id": "prov-etat",
           "title": "Ateliers de réparation de vélos solidaires",
           "description": "réparation vélo atelier solidaire recyclerie", "coverage": ["FR"],
           "eligibility_text": "Réservé aux associations de plus de deux ans.",
           "source": "aides-territoires", "source_refs": ["aides-territoires:velo"]}
    r = api.client.post("/v1/resources", json=new, headers=api.h("staff"))
    assert r.status_code == 201, r.text
    q = {"text": "atelier de réparation de vélos solidaire", "k": 3}
    matches = api.client.post("/v1/match", json=q, headers=api.h("staff")).json()["matches"]
    velo = next(m for m in matches if m["resource_id"] == "at-velo")
    conditions = [c for c in velo["checks"] if c["criterion"] == "conditions"]
    assert conditions == [{"criterion": "conditions", "status": "unknown", "near_miss": None,
                           "clause": "Conditions de la source, à vérifier : Réservé aux associations de plus de "
                                     "deux ans."}]
    others = [m for m in matches if m["resource_id"] != "at-velo"]
    assert all(c["criterion"] != "conditions" for m in others for c in m["checks"])  # Maillage's own records
