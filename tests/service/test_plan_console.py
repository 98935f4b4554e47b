"""The console's plan page: reached from the initiative page, DSFR components, French, what cannot be combined."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.service.conftest import Api


def _signed_in(api: Api) -> TestClient:
    c = TestClient(api.client.app)
    page = c.get("/console/connexion")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = c.post("/console/connexion", data={"csrf": csrf.group(1), "cle": api.tokens["staff"]}, follow_redirects=False)
    assert r.status_code == 303
    return c


def test_the_initiative_page_links_its_plan(api: Api) -> None:
    c = _signed_in(api)
    page = c.get("/console/initiatives/ini-jardin").text
    link = re.search(r'<a class="fr-btn fr-btn--sm" href="([^"]+)">Voir le plan</a>', page)
    assert link and link.group(1) == "/console/initiatives/ini-jardin/plan"
    plan = c.get(link.group(1))
    assert plan.status_code == 200 and "<h1>Plan pour « Jardin partagé de la cité »</h1>" in plan.text
    api_plan = api.client.post("/v1/initiatives/ini-jardin/plan", headers=api.h("staff")).json()
    shown = re.findall(r'<li class="card" id="etape-\d+">\s*<div class="card-head">\s*<h3 class="fr-h5">\d+\. '
                       r'<a href="/console/ressources/([^"]+)"', plan.text)
    assert shown == [s["resource_id"] for s in api_plan["steps"]] and shown
    assert 'class="fr-callout' in plan.text and "Couvre le besoin « financement »." in plan.text


def test_the_plan_page_says_what_was_left_out_and_why(api: Api) -> None:
    staff = api.h("staff")
    first = api.client.post("/v1/initiatives/ini-jardin/plan", headers=staff).json()["steps"][0]["resource_id"]
    listed = api.client.post("/v1/initiatives/ini-jardin/match?k=12", headers=staff).json()["matches"]
    # Every other match of the list offers the same need: naming them all leaves the first alone.
    held = api.client.get(f"/v1/resources/{first}", headers=staff).json()
    others = [m["resource_id"] for m in listed if m["resource_id"] != first]
    fields = {k: v for k, v in held.items() if k not in ("created_at", "updated_at")}
    assert api.client.put(f"/v1/resources/{first}", json=fields | {"non_cumulable_with": others},
                          headers=staff).status_code == 200
    # Asking for a sum makes the other fundings worth adding: they are left out, each saying why.
    ini = api.client.get("/v1/initiatives/ini-jardin", headers=staff).json()
    ini_fields = {k: v for k, v in ini.items() if k not in ("created_at", "updated_at")}
    assert api.client.put("/v1/initiatives/ini-jardin", json=ini_fields | {"amount_sought": 50000},
                          headers=staff).status_code == 200
    for rid in [first, *others]:
        r = api.client.get(f"/v1/resources/{rid}", headers=staff).json()
        body = {k: v for k, v in r.items() if k not in ("created_at", "updated_at")} | {"amount_max": 10000}
        assert api.client.put(f"/v1/resources/{rid}", json=body, headers=staff).status_code == 200
    plan = _signed_in(api).get("/console/initiatives/ini-jardin/plan").text
    assert "Laissées de côté" in plan and 'class="fr-table' in plan
    assert plan.count("n&#39;est pas cumulable") + plan.count("n'est pas cumulable") >= 1


def test_an_unknown_initiative_has_no_plan_page(api: Api) -> None:
    r = _signed_in(api).get("/console/initiatives/ini-absente/plan")
    assert r.status_code == 404
