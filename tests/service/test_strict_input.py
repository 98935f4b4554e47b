"""Lenient input refused, and the schema and the server agreeing (issue 17 item 14): NUL characters,
amounts as text on import, bodies and files that are not UTF-8 (named with their line), and
``GET /v1/outcomes`` with no parameter, which the schema allowed and the server refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app as cli
from tests.service.conftest import Api

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.mark.parametrize(("path", "role", "body", "field"), [
    ("/v1/initiatives", "staff", {"id": "ini-n", "title": "Jar\u0000din", "territory": "75056"}, "title"),
    ("/v1/resources", "staff", {"id": "res-n", "kind": "financement", "provider_id": "prov-etat", "title": "Aide",
                                "themes": ["eau\u0000"]}, "themes"),
    ("/v1/match", "read-only", {"text": "jardin partagé\u0000 potager"}, "text"),
    ("/v1/outcomes", "staff", {"initiative_id": "ini-jardin", "resource_id": "res-jardin-93",
                               "decision": "obtained", "reason": "vu\u0000"}, "reason"),
    ("/v1/widget/initiatives", "partner", {"title": "Recyclerie\u0000", "territory": "75056"}, "title"),
])
def test_a_nul_character_is_refused_naming_the_field(api: Api, path: str, role: str, body: dict[str, object],
                                                      field: str) -> None:
    r = api.client.post(path, json=body, headers=api.h(role))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"].startswith(field) and "NUL" in r.json()["error"]["message"]
    listed = api.client.get("/v1/initiatives?limit=100", headers=api.h("staff")).json()["items"]
    assert not any("\x00" in json.dumps(i) or "\\u0000" in json.dumps(i) for i in listed)


def test_an_import_refuses_amounts_as_text_or_booleans(api: Api) -> None:
    lines = [{"id": "ini-a", "title": "Projet", "territory": "75056", "amount_sought": "12"},
             {"id": "ini-b", "title": "Projet", "territory": "75056", "amount_sought": True},
             {"id": "ini-c", "title": "Projet", "territory": "75056", "amount_sought": 12}]
    r = api.client.post("/v1/import/initiatives", content="\n".join(json.dumps(x) for x in lines).encode(),
                        headers=api.h("admin", **NDJSON))
    assert r.status_code == 200 and r.json()["inserted"] == {"initiative": 1}, r.text
    assert [e.split(":")[0] for e in r.json()["errors"]] == ["ligne 1 (initiative) ", "ligne 2 (initiative) "]
    assert all("amount_sought : un nombre est attendu" in e for e in r.json()["errors"])


def test_an_import_body_that_is_not_utf8_names_its_line(api: Api) -> None:
    body = b'{"id": "ini-ok", "title": "Projet", "territory": "75056"}\n' + \
        '{"id": "ini-l1", "title": "Épicerie", "territory": "75056"}'.encode("latin-1")
    r = api.client.post("/v1/import/initiatives", content=body, headers=api.h("admin", **NDJSON))
    assert r.status_code == 422 and "ligne 2, colonne 28" in r.json()["error"]["message"], r.text
    assert api.client.get("/v1/initiatives/ini-ok", headers=api.h("staff")).status_code == 404  # nothing imported


def test_the_cli_import_names_the_line_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    path = tmp_path / "i.jsonl"
    path.write_bytes(b'{"id": "ini-ok", "title": "Projet", "territory": "75056"}\n'
                     + '{"id": "ini-l1", "title": "Épicerie", "territory": "75056"}\n'.encode("latin-1"))
    result = CliRunner().invoke(cli, ["import", "initiatives", str(path)])
    output = " ".join(result.output.split())
    assert result.exit_code == 0 and "ligne 2 (initiative) : texte non UTF-8" in output, output


def test_listing_outcomes_without_a_filter_lists_them_all_as_the_schema_says(api: Api) -> None:
    for resource in ("res-jardin-93", "res-national-eco"):
        api.client.post("/v1/outcomes", json={"initiative_id": "ini-jardin", "resource_id": resource,
                                              "decision": "obtained"}, headers=api.h("staff"))
    r = api.client.get("/v1/outcomes", headers=api.h("read-only"))
    assert r.status_code == 200 and [o["resource_id"] for o in r.json()] == ["res-jardin-93", "res-national-eco"]
    page = api.client.get("/v1/outcomes?offset=1&limit=1", headers=api.h("read-only")).json()
    assert [o["resource_id"] for o in page] == ["res-national-eco"]
    assert api.client.get("/v1/outcomes?limit=0", headers=api.h("read-only")).status_code == 422


def test_the_schema_states_the_amount_range_rule(api: Api) -> None:
    # (An empty siren / siret / rna means "not given" for both the schema and the server:
    # tests/service/test_api_identifiers.py.)
    resource = api.client.get("/openapi.json").json()["components"]["schemas"]["ResourceIn"]["properties"]
    assert "at most `amount_max`" in resource["amount_min"]["description"]


def test_the_schema_says_no_text_holds_a_nul(api: Api) -> None:
    """The fuzzer found bodies valid by the schema and refused for their NUL: every text of a request
    body now says so with its pattern."""
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    checked = 0
    for name in ("InitiativeIn", "ResourceIn", "ProviderIn", "MatchRequest", "OutcomeIn", "OverrideIn",
                 "WidgetInitiative"):
        for field, prop in schemas[name]["properties"].items():
            for option in [prop, prop.get("items", {}), *prop.get("anyOf", [])]:
                if option.get("type") != "string" or "enum" in option or "const" in option:
                    continue
                if option.get("format") in ("date", "date-time"):
                    continue
                assert re.search(option["pattern"], "abc\x00def@x.fr") is None, (name, field, option["pattern"])
                checked += 1
    assert checked >= 30


def test_a_nul_in_a_query_text_is_refused_as_the_schema_says(api: Api) -> None:
    for query in ("q=jar%00din", "source=ma%00nual"):
        r = api.client.get(f"/v1/initiatives?{query}", headers=api.h("staff"))
        assert r.status_code == 422, r.text
    params = api.client.get("/openapi.json").json()["paths"]["/v1/initiatives"]["get"]["parameters"]
    for p in params:
        if p["name"] in ("q", "source"):
            option = p["schema"]["anyOf"][0]
            assert re.search(option["pattern"], "a\x00") is None
