"""One JSON nesting limit everywhere (issue 17 item 9): every endpoint that reads a JSON body, the bulk
import as an array or by line, and the CLI import refuse past 64 levels with the same code and the
same French message (imports answered 500 from RecursionError, other endpoints FastAPI's 400)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.jsonio import MAX_JSON_DEPTH, TOO_DEEP
from service.cli import app as cli
from tests.service.conftest import Api

DEEP = "[" * 50_000 + "]" * 50_000


def _operations_with_a_body(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    return [(method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for path, item in spec["paths"].items()
            for method, op in item.items() if "requestBody" in op]


def test_every_endpoint_with_a_json_body_refuses_a_deep_one_the_same_way(api: Api) -> None:
    operations = _operations_with_a_body(api)
    assert len(operations) >= 8  # match, widget, catalogue writes, outcomes, overrides, imports
    for method, path in operations:
        r = api.client.request(method, path, content=DEEP.encode(),
                               headers=api.h("admin", **{"Content-Type": "application/json"}))
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "json_too_deep" and r.json()["error"]["message"] == TOO_DEEP
    spec = api.client.get("/openapi.json").json()
    assert "400" in spec["paths"]["/v1/match"]["post"]["responses"]  # the schema says so


def test_the_limit_itself_passes_and_one_more_level_is_refused(api: Api) -> None:
    at_limit = '{"text": "jardin partagé", "territory": "93066", "x": ' + "[" * (MAX_JSON_DEPTH - 1) + \
        "]" * (MAX_JSON_DEPTH - 1) + "}"
    r = api.client.post("/v1/match", content=at_limit.encode(), headers=api.h("read-only", **{
        "Content-Type": "application/json"}))
    assert r.status_code != 400, r.text  # read (an unknown field may be refused, but not for its depth)
    over = at_limit.replace('"x": [', '"x": [[', 1).replace("]}", "]]}", 1)
    r = api.client.post("/v1/match", content=over.encode(), headers=api.h("read-only", **{
        "Content-Type": "application/json"}))
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"


def test_a_deep_body_without_content_type_is_refused_too(api: Api) -> None:
    r = api.client.post("/v1/import/providers", content=DEEP.encode(), headers=api.h("admin"))
    assert r.status_code == 400 and r.json()["error"]["message"] == TOO_DEEP


def test_a_deep_json_line_is_rejected_by_its_number_with_the_same_message(api: Api) -> None:
    good = '{"id": "prov-x", "name": "Mairie", "kind": "commune"}'
    r = api.client.post("/v1/import/providers", content=(good + "\n" + DEEP).encode(),
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200 and r.json()["inserted"] == {"provider": 1} and r.json()["rejected"] == 1
    assert r.json()["errors"] == [f"ligne 2 (provider) : {TOO_DEEP}"]


def test_the_cli_import_rejects_a_deep_line_with_the_same_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "prov-x", "name": "Mairie", "kind": "commune"}\n' + DEEP + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "providers", str(path)])
    assert result.exit_code == 0, result.output
    assert f"ligne 2 (provider) : {TOO_DEEP}" in " ".join(result.output.split())
