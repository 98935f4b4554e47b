"""The plan routes: a free text and a stored initiative, non-cumulation respected, partners' limits."""

from __future__ import annotations

from tests.service.conftest import Api

FREE = {"text": "jardin partagé compost potager dans le quartier", "territory": "93066",
        "legal_form": "association", "needs": ["financement"], "amount_sought": 20000, "on": "2026-12-01"}


def test_a_free_text_plan_covers_the_need_with_eligible_resources_explained(api: Api) -> None:
    r = api.client.post("/v1/plan", json=FREE, headers=api.h("staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [s["resource_id"] for s in body["steps"]]
    assert ids and "res-jardin-lozere" not in ids and "res-jardin-closed" not in ids  # out of territory, closed
    assert body["needs"] == ["financement"] and body["uncovered"] == []
    assert [s["order"] for s in body["steps"]] == list(range(1, len(ids) + 1))
    assert all(c["status"] != "failed" for s in body["steps"] for c in s["match"]["checks"])
    assert body["steps"][0]["explanation"] and any("20\u202f000 €" in line for line in body["summary"])
    deadlines = [s["deadline"] for s in body["steps"] if s["deadline"]]
    assert deadlines == sorted(deadlines)


def _set(api: Api, rid: str, **changes: object) -> None:
    held = api.client.get(f"/v1/resources/{rid}", headers=api.h("staff")).json()
    fields = {k: v for k, v in held.items() if k not in ("created_at", "updated_at")} | changes
    put = api.client.put(f"/v1/resources/{rid}", json=fields, headers=api.h("staff"))
    assert put.status_code == 200, put.text


def test_a_plan_leaves_out_what_cannot_be_combined_and_says_why(api: Api) -> None:
    for rid in ("res-jardin-93", "res-national-eco", "res-mobilite"):
        _set(api, rid, amount_max=10000)
    # It names itself too: that says nothing and is dropped.
    _set(api, "res-jardin-93", non_cumulable_with=["res-jardin-93", "res-national-eco"])
    assert api.client.get("/v1/resources/res-jardin-93", headers=api.h("staff")).json()["non_cumulable_with"] == [
        "res-national-eco"]
    body = api.client.post("/v1/plan", json=FREE, headers=api.h("staff")).json()
    ids = [s["resource_id"] for s in body["steps"]]
    pair = {"res-jardin-93", "res-national-eco"}
    assert len(pair & set(ids)) == 1 and "res-mobilite" in ids and body["amount_covered"] == 20000
    (out,) = [x for x in body["left_out"] if x["resource_id"] in pair]
    assert "n'est pas cumulable" in out["reason"] and "Appel à projets jardins partagés" in out["reason"]


def test_a_stored_initiative_has_its_plan(api: Api) -> None:
    body = api.client.post("/v1/initiatives/ini-jardin/plan?on=2026-12-01", headers=api.h("staff")).json()
    listed = api.client.post("/v1/initiatives/ini-jardin/match?k=12&on=2026-12-01", headers=api.h("staff")).json()
    assert body["needs"] == ["financement"] and len(body["steps"]) == 1  # one funding covers it, no amount sought
    assert body["steps"][0]["resource_id"] == listed["matches"][0]["resource_id"]
    assert body["index_version"] == listed["index_version"]


def test_plan_roles(api: Api) -> None:
    assert api.client.post("/v1/initiatives/ini-jardin/plan", headers=api.h("partner")).status_code == 403
    assert api.client.post("/v1/initiatives/ini-jardin/plan", headers=api.h("read-only")).status_code == 200
    assert api.client.post("/v1/plan", json=FREE, headers=api.h("partner")).status_code == 200
    assert api.client.post("/v1/initiatives/ini-absente/plan", headers=api.h("staff")).status_code == 404
    bad = api.client.post("/v1/plan", json={**FREE, "needs": ["argent"]}, headers=api.h("staff"))
    assert bad.status_code == 422 and "needs" in bad.text
