"""The API's behaviour: matching, the catalogue, decisions, the index following writes."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import Api

FREE = {"text": "jardin partagé compost potager dans le quartier", "territory": "93066",
        "legal_form": "association", "k": 3}


def test_free_text_match_returns_explained_eligible_resources(api: Api) -> None:
    r = api.client.post("/v1/match", json=FREE, headers=api.h("staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [m["resource_id"] for m in body["matches"]]
    assert ids and "res-jardin-93" in ids
    assert "res-jardin-closed" not in ids and "res-jardin-lozere" not in ids and "res-entreprises" not in ids
    assert all(m["reasons"] and m["checks"] for m in body["matches"])
    assert body["index_version"] and body["model_version"]


def test_stored_initiative_match_applies_staff_exclusion(api: Api) -> None:
    first = api.client.post("/v1/initiatives/ini-jardin/match?k=3", headers=api.h("staff")).json()["matches"]
    top = first[0]["resource_id"]
    r = api.client.post("/v1/initiatives/ini-jardin/overrides", headers=api.h("staff"),
                        json={"resource_id": top, "action": "exclude", "reason": "déjà financé"})
    assert r.status_code == 201 and r.json()["decision"] == "excluded"
    after = api.client.post("/v1/initiatives/ini-jardin/match?k=3", headers=api.h("staff")).json()["matches"]
    assert top not in [m["resource_id"] for m in after]


def test_a_created_resource_is_matched_by_the_next_query(api: Api) -> None:
    new = {"id": "res-velo", "kind": "financement", "provider_id": "prov-etat",
           "title": "Ateliers de réparation de vélos solidaires",
           "description": "réparation vélo atelier solidaire recyclerie", "coverage": ["FR"]}
    r = api.client.post("/v1/resources", json=new, headers=api.h("staff"))
    assert r.status_code == 201, r.text
    q = {"text": "atelier de réparation de vélos solidaire", "k": 3}
    ids = [m["resource_id"] for m in api.client.post("/v1/match", json=q, headers=api.h("staff")).json()["matches"]]
    assert ids[0] == "res-velo"
    assert api.client.delete("/v1/resources/res-velo", headers=api.h("staff")).status_code == 204
    ids = [m["resource_id"] for m in api.client.post("/v1/match", json=q, headers=api.h("staff")).json()["matches"]]
    assert "res-velo" not in ids
    assert api.client.get("/v1/resources/res-velo", headers=api.h("staff")).status_code == 404


def test_listing_is_paginated_and_filtered(api: Api) -> None:
    r = api.client.get("/v1/resources?limit=2", headers=api.h("read-only")).json()
    assert r["total"] == 6 and len(r["items"]) == 2 and r["next_offset"] == 2
    last = api.client.get("/v1/resources?limit=2&offset=4", headers=api.h("read-only")).json()
    assert last["next_offset"] is None and len(last["items"]) == 2
    only = api.client.get("/v1/resources?provider_id=prov-93", headers=api.h("read-only")).json()
    assert {i["id"] for i in only["items"]} == {"res-jardin-93", "res-jardin-closed"}
    text = api.client.get("/v1/resources?q=LOZÈRE", headers=api.h("read-only")).json()
    assert [i["id"] for i in text["items"]] == ["res-jardin-lozere"]


def test_etags_revalidate_and_guard_concurrent_edits(api: Api) -> None:
    r = api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff"))
    tag = r.headers["etag"]
    again = api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff", **{"If-None-Match": tag}))
    assert again.status_code == 304
    edited = r.json() | {"title": "Jardin partagé de la cité (v2)"}
    ok = api.client.put("/v1/initiatives/ini-jardin", json=edited, headers=api.h("staff", **{"If-Match": tag}))
    assert ok.status_code == 200 and ok.headers["etag"] != tag
    stale = api.client.put("/v1/initiatives/ini-jardin", json=edited | {"title": "autre"},
                           headers=api.h("staff", **{"If-Match": tag}))
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    assert api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).json()["title"].endswith("(v2)")


def test_outcomes_are_recorded_once_and_listed(api: Api) -> None:
    o = {"id": "dec-1", "initiative_id": "ini-jardin", "resource_id": "res-jardin-93", "decision": "shortlisted",
         "reason": "bon dossier"}
    assert api.client.post("/v1/outcomes", json=o, headers=api.h("staff")).status_code == 201
    assert api.client.post("/v1/outcomes", json=o, headers=api.h("staff")).status_code == 201
    listed = api.client.get("/v1/outcomes?initiative_id=ini-jardin", headers=api.h("staff")).json()
    assert [x["id"] for x in listed] == ["dec-1"]


def test_bulk_import_keeps_good_rows_and_names_bad_ones(api: Api) -> None:
    body = "\n".join([
        '{"id": "ini-b1", "title": "Recyclerie", "territory": "75056"}',
        '{"id": "ini-b2", "title": "Épicerie", "territory": "99999"}',
        '{not json',
    ])
    r = api.client.post("/v1/import/initiatives", content=body.encode(),
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["inserted"] == {"initiative": 1} and rep["rejected"] == 2
    assert rep["errors"][0].startswith("ligne 2") and "territory" in rep["errors"][0]
    assert "JSON mal formé" in rep["errors"][1]
    assert api.client.post("/v1/import/initiatives", content=body.encode(),
                           headers=api.h("staff")).status_code == 403


def test_reverse_match_lists_initiatives_for_a_resource(api: Api) -> None:
    r = api.client.get("/v1/resources/res-jardin-93/initiatives", headers=api.h("staff"))
    assert r.status_code == 200 and r.json()["matches"][0]["initiative_id"] == "ini-jardin"


def test_widget_submission_needs_consent_and_hides_contact(api: Api) -> None:
    sub = {"title": "Jardin des Francs-Moisins", "description": "jardin partagé compost", "territory": "93066",
           "contact_email": "habitant@example.org"}
    refused = api.client.post("/v1/widget/initiatives", json=sub | {"consent": False}, headers=api.h("partner"))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "consent_required"
    assert api.client.get("/v1/initiatives?q=Francs", headers=api.h("staff")).json()["total"] == 0
    made = api.client.post("/v1/widget/initiatives", json=sub | {"consent": True}, headers=api.h("partner"))
    assert made.status_code == 201 and made.json()["initiative"]["contact_email"] is None
    stored = api.client.get("/v1/initiatives?q=Francs", headers=api.h("staff")).json()["items"]
    assert stored[0]["contact_email"] == "habitant@example.org" and stored[0]["source"] == "widget:Portail test"


def test_territory_autocomplete(api: Api) -> None:
    hits = api.client.get("/v1/territories?q=saint-d", headers=api.h("partner")).json()
    assert any(h["code"] == "93066" for h in hits)
    # Every commune of the COG; homonyms are told apart by the département in the label.
    assert {"code": "93066", "name": "Saint-Denis", "postcode": "93200", "departement": "93",
            "label": "Saint-Denis (93200, Seine-Saint-Denis)"} in hits
    same = api.client.get("/v1/territories?q=sainte colombe&limit=12", headers=api.h("partner")).json()
    assert len(same) == 12 and {h["name"] for h in same} == {"Sainte-Colombe"}
    assert len({h["label"] for h in same}) == len({h["departement"] for h in same}) == 12


def test_an_unknown_commune_code_is_422_naming_it(api: Api) -> None:
    r = api.client.post("/v1/match", json={"text": "Jardin partagé en pied d'immeuble", "territory": "93999"},
                        headers=api.h("staff"))
    assert r.status_code == 422 and "code commune inconnu « 93999 »" in json.dumps(r.json(), ensure_ascii=False), r.text
    arrondissement = api.client.post("/v1/match", json={"text": "Jardin partagé en pied d'immeuble",
                                                        "territory": "75111"}, headers=api.h("staff"))
    assert arrondissement.status_code == 200, arrondissement.text


def test_index_status_rebuild_and_swap(api: Api) -> None:
    before = api.client.get("/v1/index", headers=api.h("read-only")).json()
    assert before["resources"] == 6 and before["stale"] is False
    r = api.client.post("/v1/index/rebuild", headers=api.h("admin"))
    assert r.status_code == 202
    api.client.app.state.engine._rebuild_thread.join(30)  # type: ignore[attr-defined]
    after = api.client.get("/v1/index", headers=api.h("read-only")).json()
    assert after["version"] != before["version"] and after["rebuilding"] is False
    assert api.client.post("/v1/index/rebuild", headers=api.h("staff")).status_code == 403


def test_health_readiness_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["resources"] == 6
    api.client.post("/v1/match", json=FREE, headers=api.h("staff"))
    text = api.client.get("/metrics", headers=api.h("admin")).text
    assert 'maillage_http_requests_total{method="POST",route="/v1/match",status="200"} 1.0' in text
    assert "maillage_index_resources 6.0" in text


def test_a_citizens_free_text_leaves_no_vector_in_the_cache(api: Api) -> None:
    from indexes.cache import EmbeddingCache, text_key

    text = "Un projet très personnel de Jeanne, rue des Lilas, qui ne doit laisser aucune trace"
    assert api.client.post("/v1/match", json={"text": text, "k": 3}, headers=api.h("partner")).status_code == 200
    cache = EmbeddingCache(api.settings.cache_path)
    model = api.client.app.state.engine.encoder.model_id  # type: ignore[attr-defined]
    assert cache.get(model, "query", [text_key(text)], 64) == {}
    assert len(cache) > 0  # the resources' vectors are cached as before


def test_a_catalogue_outage_during_the_key_check_is_a_503_not_a_500(api: Api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    def down(token: str) -> None:
        raise OperationalError("SELECT …", {}, Exception("database is locked"))

    monkeypatch.setattr(api.client.app.state.keys, "authenticate", down)  # type: ignore[attr-defined]
    r = api.client.post("/v1/match", json=FREE, headers=api.h("staff"))
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    assert "SELECT" not in r.text and "locked" not in r.text


def test_every_request_example_in_the_openapi_schema_is_valid(api: Api) -> None:
    from service import api_models

    spec = api.client.get("/openapi.json").json()
    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        model = getattr(api_models, name, None)
        for example in schema.get("examples", []):
            if model is not None and isinstance(example, dict):
                model.model_validate(example)  # raises, naming the field, if an example is stale
                checked += 1
    assert checked >= 4


def test_an_outcome_id_reused_for_another_pair_is_409_and_changes_nothing(api: Api) -> None:
    o = {"id": "dec-2", "initiative_id": "ini-jardin", "resource_id": "res-jardin-93", "decision": "shortlisted"}
    assert api.client.post("/v1/outcomes", json=o, headers=api.h("staff")).status_code == 201
    other = o | {"resource_id": "res-national-eco", "decision": "refused"}
    r = api.client.post("/v1/outcomes", json=other, headers=api.h("staff"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "outcome_id_taken" and "dec-2" in r.text
    assert api.client.get("/v1/outcomes?resource_id=res-national-eco", headers=api.h("staff")).json() == []
    kept = api.client.get("/v1/outcomes?initiative_id=ini-jardin", headers=api.h("staff")).json()
    assert [(x["id"], x["resource_id"]) for x in kept] == [("dec-2", "res-jardin-93")]


def test_a_model_version_that_is_not_an_id_is_422_not_500(api: Api) -> None:
    r = api.client.post("/v1/models/" + "v" * 5000 + "/promote", headers=api.h("admin"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].endswith("version")
    assert api.client.post("/v1/models/r20990101T000000Z/promote", headers=api.h("admin")).status_code == 404


def test_a_capacity_past_the_bound_is_refused_naming_the_field_and_breaks_no_match(api: Api) -> None:
    """A capacity past float range was accepted and then made every match answer 500 (log1p overflow)."""
    huge = {"id": "res-huge", "kind": "financement", "provider_id": "prov-93", "title": "Jardins sans limite",
            "description": "jardin partagé compost quartier", "coverage": ["93"], "recurrence": "permanent",
            "capacity": 10**309}
    r = api.client.post("/v1/resources", json=huge, headers=api.h("staff"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].endswith("capacity"), r.text
    assert api.client.post("/v1/resources", json=huge | {"capacity": 10**12}, headers=api.h("staff")).status_code == 201
    free = {"text": "jardin partagé et compost de quartier", "territory": "93066", "k": 10}
    r = api.client.post("/v1/match", json=free, headers=api.h("staff"))
    assert r.status_code == 200, r.text
    assert "res-huge" in [m["resource_id"] for m in r.json()["matches"]]
    assert api.client.post("/v1/initiatives/ini-jardin/match", json={}, headers=api.h("staff")).status_code == 200


def test_a_match_on_a_day_past_the_bound_is_refused_and_the_last_day_is_answered(api: Api) -> None:
    """An annual call announces its next session a year after the day asked about: asked on 9999-12-31,
    that was the year 10000 and a 500. Days are bounded at the boundary (1900 to 2199); the last one
    allowed is answered."""
    annual = {"id": "res-annual", "kind": "appel_a_projets", "provider_id": "prov-93", "title": "Jardins, chaque année",
              "description": "jardin partagé compost quartier", "coverage": ["93"], "recurrence": "annuel",
              "closes_at": "2026-03-31"}
    assert api.client.post("/v1/resources", json=annual, headers=api.h("staff")).status_code == 201
    body = {"text": "jardin partagé et compost de quartier", "territory": "93066", "on": "9999-12-31", "k": 10}
    r = api.client.post("/v1/match", json=body, headers=api.h("staff"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].endswith("on"), r.text
    r = api.client.post("/v1/match", json=body | {"on": "2199-12-31"}, headers=api.h("staff"))
    assert r.status_code == 200, r.text
    annual_match = next(m for m in r.json()["matches"] if m["resource_id"] == "res-annual")
    assert any("prochaine clôture attendue vers le 31 mars 2200" in x["clause"] for x in annual_match["checks"])


@pytest.mark.parametrize("role", ["read-only", "staff", "admin"])
def test_only_a_partner_key_stores_a_widget_submission(api: Api, role: str) -> None:
    sub = {"title": "Jardin partagé", "description": "compost", "territory": "93066", "consent": True}
    r = api.client.post("/v1/widget/initiatives", json=sub, headers=api.h(role))
    assert r.status_code == 403, r.text
    assert not [i for i in api.client.get("/v1/initiatives?limit=100", headers=api.h("staff")).json()["items"]
                if i["id"].startswith("web-")]
    assert api.client.post("/v1/widget/initiatives", json=sub, headers=api.h("partner")).status_code == 201


def test_a_pinned_match_has_a_null_score_as_documented(api: Api) -> None:
    """A pin was sent with an infinite score, which JSON turned into null against the schema's number."""
    r = api.client.post("/v1/initiatives/ini-jardin/overrides", headers=api.h("staff"),
                        json={"resource_id": "res-mobilite", "action": "pin", "reason": "vu en comité"})
    assert r.status_code == 201
    matches = api.client.post("/v1/initiatives/ini-jardin/match?k=3", headers=api.h("staff")).json()["matches"]
    assert matches[0]["resource_id"] == "res-mobilite" and matches[0]["score"] is None
    assert matches[0]["reasons"][0] == "Épinglé par l'équipe : vu en comité"
    assert all(isinstance(m["score"], float) for m in matches[1:])
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["Match"]["properties"]["score"]
    assert {"type": "null"} in schema["anyOf"] and {"type": "number"} in schema["anyOf"]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_an_import_nested_50000_deep_is_refused_not_500(api: Api, content_type: str) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    good = '{"id": "prov-x", "name": "Mairie", "kind": "commune"}'
    body = deep if content_type == "application/json" else deep + "\n" + good
    r = api.client.post("/v1/import/providers", content=body.encode(), headers=api.h("admin", **{
        "Content-Type": content_type}))
    if content_type == "application/json":
        assert r.status_code == 400 and "plus de 64 niveaux" in r.json()["error"]["message"], r.text
    else:  # each line on its own: the deep one is rejected by line, the good one kept
        assert r.status_code == 200 and r.json()["rejected"] == 1 and r.json()["inserted"] == {"provider": 1}
        assert r.json()["errors"][0].startswith("ligne 1") and "plus de 64 niveaux" in r.json()["errors"][0]


def test_an_id_with_spaces_is_refused_not_trimmed(api: Api) -> None:
    """``DELETE /v1/initiatives/ini-jardin%20`` deleted ``ini-jardin``."""
    r = api.client.delete("/v1/initiatives/ini-jardin%20", headers=api.h("staff"))
    assert r.status_code == 422, r.text
    assert api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).status_code == 200
    body = {"id": " ini-x", "title": "Recyclerie", "territory": "75056"}
    assert api.client.post("/v1/initiatives", json=body, headers=api.h("staff")).status_code == 422


def test_an_import_that_is_not_utf8_is_refused_naming_the_byte(api: Api) -> None:
    body = '{"id": "ini-l1", "title": "Épicerie", "territory": "75056"}'.encode("latin-1")
    r = api.client.post("/v1/import/initiatives", content=body,
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 422 and "pas du texte UTF-8" in r.json()["error"]["message"], r.text
    assert api.client.get("/v1/initiatives/ini-l1", headers=api.h("staff")).status_code == 404


def test_a_filter_on_an_unknown_territory_is_422_not_an_empty_page(api: Api) -> None:
    r = api.client.get("/v1/initiatives?territory=99999", headers=api.h("staff"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].endswith("territory"), r.text
    ok = api.client.get("/v1/initiatives?territory=93066", headers=api.h("staff"))
    assert ok.status_code == 200 and [i["id"] for i in ok.json()["items"]] == ["ini-jardin"]


GARDEN_TEXT = ("Notre association anime un jardin partagé à Saint-Denis (93) ; "
               "il nous manque 18 000 euros pour le compost.")


def test_free_text_is_read_and_fills_what_the_request_leaves_empty(api: Api) -> None:
    r = api.client.post("/v1/match", json={"text": GARDEN_TEXT, "k": 10}, headers=api.h("partner"))
    assert r.status_code == 200, r.text
    body = r.json()
    read = {(i["field"], i["value"]): i for i in body["understood"]}
    assert set(read) == {("amount_sought", 18000), ("territory", "93066"), ("legal_form", "association"),
                         ("needs", "financement")}
    assert all(i["used"] and GARDEN_TEXT[i["start"]:i["end"]] == i["text"] for i in body["understood"])
    assert read[("amount_sought", 18000)]["text"] == "il nous manque 18 000 euros"
    assert read[("amount_sought", 18000)]["label"] == \
        "montant recherché : 18\u202f000 € (« il nous manque 18 000 euros »)"
    ids = [m["resource_id"] for m in body["matches"]]
    assert "res-jardin-93" in ids and "res-jardin-lozere" not in ids  # the territory read is a real filter


def test_explicit_fields_win_and_a_reading_can_be_dropped(api: Api) -> None:
    body = {"text": GARDEN_TEXT, "territory": "48", "k": 10, "ignore_understood": ["amount_sought"]}
    r = api.client.post("/v1/match", json=body, headers=api.h("staff"))
    assert r.status_code == 200, r.text
    used = {i["field"]: i["used"] for i in r.json()["understood"]}
    assert used == {"amount_sought": False, "territory": False, "legal_form": True, "needs": True}
    ids = [m["resource_id"] for m in r.json()["matches"]]
    assert "res-jardin-lozere" in ids and "res-jardin-93" not in ids
    bad = api.client.post("/v1/match", json=body | {"ignore_understood": ["themes"]}, headers=api.h("staff"))
    assert bad.status_code == 422 and "ignore_understood" in bad.text


def test_a_homonym_read_without_its_departement_is_flagged(api: Api) -> None:
    text = "Nous cultivons un jardin partagé à Saint-Denis avec les voisins."
    r = api.client.post("/v1/match", json={"text": text}, headers=api.h("staff")).json()
    place = next(i for i in r["understood"] if i["field"] == "territory")
    assert place["ambiguous"] and {"93066", "97411"} <= {place["value"], *place["alternatives"]}
    plain = api.client.post("/v1/match", json={"text": "jardin partagé et compost"}, headers=api.h("staff")).json()
    assert plain["understood"] == []
