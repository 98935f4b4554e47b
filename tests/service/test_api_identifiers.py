"""SIREN, SIRET and RNA numbers through the API: the French message reaches the client in the 422's
details, the bulk import names the line, and the OpenAPI schema publishes the form the server checks."""

from __future__ import annotations

import re

import pytest

from tests.service.conftest import Api

DINUM_SIREN, DINUM_SIRET = "130025265", "13002526500013"


def _create(api: Api, **fields: object) -> tuple[int, dict[str, object]]:
    body = {"id": "ini-ident", "title": "Tiers-lieu numérique", "territory": "75056", **fields}
    r = api.client.post("/v1/initiatives", json=body, headers=api.h("admin"))
    return r.status_code, r.json()


def test_valid_identifiers_are_stored_compacted(api: Api) -> None:
    status, body = _create(api, siren="130 025 265", siret=DINUM_SIRET, rna="W2A1000123")
    assert status == 201, body
    got = api.client.get("/v1/initiatives/ini-ident", headers=api.h("admin")).json()
    assert (got["siren"], got["siret"], got["rna"]) == (DINUM_SIREN, DINUM_SIRET, "W2A1000123")


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"siren": "000000000"}, "siren", "zéros"),
    ({"siren": "12345"}, "siren", "9 chiffres"),
    ({"siret": "13002526500014"}, "siret", "clé de contrôle"),
    ({"siren": "732829320", "siret": DINUM_SIRET}, "siret", "732829320"),
    ({"rna": "W9711234567"}, "rna", "lettre W"),
])
def test_a_bad_identifier_is_422_with_the_french_message_naming_the_field(
        api: Api, fields: dict[str, str], field: str, words: str) -> None:
    status, body = _create(api, **fields)
    assert status == 422, body
    error = body["error"]
    assert error["code"] == "invalid_input"  # type: ignore[index]
    [detail] = error["details"]  # type: ignore[index]
    assert detail["field"] == field and words in detail["message"] and "reçu" in detail["message"]
    assert "par exemple" in detail["message"] or "SIREN" in detail["message"]
    assert error["message"].startswith(f"{field} : ")  # type: ignore[index]
    assert not any(bit in detail["message"] for bit in ("\\d", "[0-9", "pattern", "Value error"))


def test_an_empty_identifier_is_not_given_as_the_schema_says(api: Api) -> None:
    status, body = _create(api, siren="", siret="  ", rna="")
    assert status == 201, body
    got = api.client.get("/v1/initiatives/ini-ident", headers=api.h("admin")).json()
    assert got["siren"] is None and got["siret"] is None and got["rna"] is None


def test_the_openapi_schema_publishes_the_form_the_server_checks(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["InitiativeIn"]["properties"]
    for field, good, bad in (("siren", "130 025 265", "12345"), ("siret", DINUM_SIRET, "1300252650001"),
                             ("rna", "W9R1001234", "W9711234567")):
        [string] = [o for o in props[field]["anyOf"] if o.get("type") == "string"]
        assert re.fullmatch(string["pattern"], good) and re.fullmatch(string["pattern"], "")
        assert not re.fullmatch(string["pattern"], bad)
        assert {"type": "null"} in props[field]["anyOf"]


def test_a_bulk_import_names_the_line_and_the_identifier(api: Api) -> None:
    body = "\n".join([
        f'{{"id": "ini-i1", "title": "Recyclerie", "siren": "{DINUM_SIREN}", "rna": "W9R1001234"}}',
        '{"id": "ini-i2", "title": "Épicerie", "siret": "00000000000000"}',
    ])
    r = api.client.post("/v1/import/initiatives", content=body.encode(),
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["inserted"] == {"initiative": 1} and rep["rejected"] == 1
    assert rep["errors"][0].startswith("ligne 2") and "siret : SIRET" in rep["errors"][0]
    assert "zéros" in rep["errors"][0]
