"""The audit log (issue 19): staff actions recorded with key, role, action and target ids, never a text;
read by admins only (API, console, CLI), newest first, paged."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.service.conftest import Api
from tests.service.test_web import _csrf, _sign_in

REASON = "Appel de Mme Lucienne Vasseur-Plantier au 06 12 34 56 78"


def test_staff_actions_are_recorded_without_their_texts(api: Api) -> None:
    c = api.client
    assert c.post("/v1/outcomes", headers=api.h("staff"), json={
        "initiative_id": "ini-jardin", "resource_id": "res-jardin-93", "decision": "shortlisted",
        "reason": REASON}).status_code == 201
    for action in ("pin", "exclude"):
        assert c.post("/v1/initiatives/ini-jardin/overrides", headers=api.h("staff"), json={
            "resource_id": "res-national-eco", "action": action, "reason": REASON}).status_code == 201
    assert c.delete("/v1/resources/res-mobilite", headers=api.h("admin")).status_code == 204
    r = c.post("/v1/import/outcomes", headers=api.h("admin", **{"Content-Type": "application/json"}),
               content=b'[{"initiative_id": "ini-jardin", "resource_id": "res-jardin-93", "decision": "applied"}]')
    assert r.status_code == 200, r.text
    _sign_in(c, api.tokens["staff"])
    assert c.get("/console/initiatives/ini-jardin/preselection.csv").status_code == 200

    page = c.get("/v1/audit", headers=api.h("admin")).json()
    got = [(e["action"], e["role"], e["target_id"]) for e in page["items"]]
    assert got == [("export.shortlist", "staff", "ini-jardin"), ("import", "admin", None),
                   ("resource.delete", "admin", "res-mobilite"), ("override.exclude", "staff", "ini-jardin"),
                   ("override.pin", "staff", "ini-jardin"), ("decision.shortlisted", "staff", "ini-jardin")]
    assert page["total"] == 6 and page["items"][1]["detail"]["inserted_outcome"] == 1
    assert all(e["principal"].startswith("key:") for e in page["items"])
    assert "Vasseur" not in str(page) and "06 12" not in str(page)
    second = c.get("/v1/audit?offset=4&limit=4", headers=api.h("admin")).json()
    assert [e["action"] for e in second["items"]] == ["override.pin", "decision.shortlisted"]
    assert second["next_offset"] is None
    only = c.get("/v1/audit?action=override.pin", headers=api.h("admin")).json()
    assert only["total"] == 1


def test_only_admins_read_it(api: Api) -> None:
    for role in ("staff", "read-only", "partner"):
        assert api.client.get("/v1/audit", headers=api.h(role)).status_code == 403
    _sign_in(api.client, api.tokens["admin"])
    page = api.client.get("/console/donnees")
    assert page.status_code == 200 and "Journal des actions" in unescape(page.text)


def test_the_console_erases_an_initiative_after_confirmation(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["staff"])
    csrf = _csrf(c.get("/console/initiatives/ini-jardin").text)
    refused = c.post("/console/initiatives/ini-jardin/suppression", data={"csrf": csrf})
    assert refused.status_code == 422 and "Rien n'a été effacé" in unescape(refused.text)
    assert c.post("/console/initiatives/ini-jardin/suppression",
                  data={"csrf": "forged", "confirm": "oui"}).status_code == 403
    assert c.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).status_code == 200
    done = c.post("/console/initiatives/ini-jardin/suppression", data={"csrf": csrf, "confirm": "oui"})
    assert done.status_code == 200 and "Initiative effacée de toutes les copies" in unescape(done.text)
    assert c.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).status_code == 404
    entry = c.get("/v1/audit", headers=api.h("admin")).json()["items"][0]
    assert entry["action"] == "initiative.erase" and entry["role"] == "staff"
    assert entry["target_id"] in unescape(done.text)


runner = CliRunner()


@pytest.fixture
def cli_home(api: Api, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(api.settings.home))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    return api.settings.home


def test_forget_by_id_and_by_email_and_its_dry_run(api: Api, cli_home: Path) -> None:
    body = {"id": "ini-mail", "title": "Ressourcerie", "description": "Contact : Zoe.Marchal@exemple.fr",
            "territory": "93066"}
    assert api.client.post("/v1/initiatives", json=body, headers=api.h("staff")).status_code == 201
    listed = runner.invoke(app, ["forget", "--email", "zoe.marchal@EXEMPLE.fr", "--dry-run"])
    assert listed.exit_code == 0 and "ini-mail" in listed.output and "rien n'a été effacé" in listed.output
    unknown = runner.invoke(app, ["forget", "--initiative", "ini-jardin", "--initiative", "ini-absent"])
    assert unknown.exit_code == 2 and "ini-absent" in unknown.output
    assert api.client.get("/v1/initiatives/ini-jardin", headers=api.h("staff")).status_code == 200
    done = runner.invoke(app, ["forget", "--initiative", "ini-jardin", "--email", "zoe.marchal@exemple.fr"])
    assert done.exit_code == 0, done.output
    assert "2 initiative(s) effacée(s)" in done.output
    for iid in ("ini-jardin", "ini-mail"):
        assert api.client.get(f"/v1/initiatives/{iid}", headers=api.h("staff")).status_code == 404
    audit = runner.invoke(app, ["audit"])
    assert audit.exit_code == 0 and "initiative.erase" in audit.output and "cli" in audit.output
    nothing = runner.invoke(app, ["forget", "--email", "personne@exemple.fr"])
    assert nothing.exit_code == 2 and "aucune initiative" in nothing.output
