"""docs/threat-model.md's access table is what the service does: every operation of the OpenAPI schema
is in it, and each is tried with every role (and with no key): the roles it names get past the key
check, the others get 403 (401 without a key)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.service.conftest import Api

DOC = Path(__file__).resolve().parents[2] / "docs" / "threat-model.md"
ROLES = ("admin", "staff", "read-only", "partner")
# Path parameters that exist, so that an allowed role gets past the route's own checks without harm.
_PARAMS = {"initiative_id": "ini-jardin", "resource_id": "res-jardin-93", "item_id": "zz-absent",
           "kind": "providers", "version": "zz-absent", "subscription_id": "sub-0000000000000000"}


def access_table() -> dict[str, set[str]]:
    """``{"METHOD /path": roles}`` read from the table between the ``access-table`` markers."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- access-table -->")[1].split("<!-- /access-table -->")[0]
    rows = re.findall(r"^\| `([A-Z]+ [^`]+)` \| ([^|]+) \|$", table, re.M)
    return {op: {r.strip() for r in roles.split(",")} for op, roles in rows}


def test_the_table_lists_every_operation_of_the_schema(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item}
    assert set(access_table()) == operations


def test_each_role_reaches_what_the_table_says(api: Api) -> None:
    for operation, allowed in sorted(access_table().items()):
        method, path = operation.split(" ", 1)
        url = re.sub(r"\{(\w+)\}", lambda m: _PARAMS[m.group(1)], path)
        body = b"[]" if method in ("POST", "PUT") else None  # refused by validation after the key check: harmless
        json_type = {"Content-Type": "application/json"}
        for role in ROLES:
            r = api.client.request(method, url, content=body, headers=api.h(role, **json_type))
            if role in allowed or "anyone" in allowed:
                assert r.status_code not in (401, 403), (operation, role, r.status_code, r.text)
            else:
                assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (operation, role, r.text)
        anonymous = api.client.request(method, url, content=body, headers=json_type)
        assert (anonymous.status_code != 401) == ("anyone" in allowed), (operation, anonymous.status_code)
