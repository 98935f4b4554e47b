"""Every operation of the OpenAPI schema, fuzzed with schemathesis: no 5xx, every answer as documented.

The schema is read from the ASGI app itself (``/openapi.json``), so an operation added to the API is
fuzzed without touching this file. Each test runs against its own app on its own temporary home
(what the fuzzer writes or deletes cannot reach another test), with the admin key so that every
operation is reachable; the widget's operations run a second time with the partner key and its
origin. All of schemathesis's default checks run: server errors, status codes, content types,
headers and bodies against the schema, valid data accepted, invalid data rejected, undeclared
methods answered 405 with ``Allow``, and requests without a key refused.

Bounded for CI: a few derandomized examples per operation (``FUZZ_EXAMPLES``), no example database,
so a run is reproducible.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.python import asgi

from service.api import create_app
from tests.service.conftest import PARTNER_ORIGIN, make_settings, seed

# A few examples per operation in CI; MAILLAGE_FUZZ_EXAMPLES=200 for a deeper run before a release.
FUZZ_EXAMPLES = int(os.environ.get("MAILLAGE_FUZZ_EXAMPLES", "8"))

# The schema comes from an app that is never started: serving /openapi.json needs no engine.
# Its home is a throwaway folder (building the app may write a session secret there).
_SCHEMA_HOME = Path(tempfile.mkdtemp(prefix="maillage-fuzz-schema-"))
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings(_SCHEMA_HOME), start_engine=False))

# Codes that exist in the INSEE referential (a code of the right shape may not).
TERRITORIES = ("FR", "R11", "93", "48", "2A", "93066", "75056", "97411")


def _territory(value: object) -> str:
    return TERRITORIES[zlib.crc32(str(value).encode()) % len(TERRITORIES)]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """JSON lines travel as text; without this serializer schemathesis would skip those bodies."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@schema.hook
def filter_case(context: schemathesis.HookContext, case: Case) -> bool:
    """Drop the "invalid" cases that are valid once on the wire, since they cannot test that invalid data
    is refused: JSON lines bodies that are not text (an object, a number) are sent as text; an empty
    object or list as a query value is sent as an empty or absent parameter (``?kind=`` is a string).
    Text bodies of every kind, and every other query value, still go through."""
    if case.media_type == "application/x-ndjson" and not isinstance(case.body, str):
        return False
    negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
    query = case.query if isinstance(case.query, dict) else {}
    return not (negative and any(v == {} or v == [] for v in query.values()))


@schema.hook
def map_case(context: schemathesis.HookContext, case: Case) -> Case:
    """Make valid cases satisfy the rules that JSON Schema cannot state, so that a 422 on "valid" data
    is a real finding: territory codes that exist (in bodies and filters), SIREN/SIRET/RNA checksums,
    ``amount_min`` ≤ ``amount_max``, ``opens_at`` ≤ ``closes_at``, and the body's id equal to the path's
    on PUT. Each rule is in the schema's descriptions (of the field or the operation) and in the error
    message; invalid (negative) cases are left as generated."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return case
    body = case.body
    if isinstance(body, dict):
        if body.get("territory") is not None:
            body["territory"] = _territory(body["territory"])
        _map_subscription(case, body)
        if isinstance(body.get("coverage"), list):
            body["coverage"] = list(dict.fromkeys(_territory(c) for c in body["coverage"]))
        for field in ("rna", "siren", "siret"):
            if field in body:
                body[field] = None
        for low, high in (("amount_min", "amount_max"), ("opens_at", "closes_at")):
            if body.get(low) is not None and body.get(high) is not None and body[low] > body[high]:
                body[low], body[high] = body[high], body[low]
        if case.method.upper() == "PUT" and "id" in body and case.path_parameters:
            body["id"] = unquote(case.path_parameters["item_id"])  # the path's copy is already URL-encoded
    _map_query(case)
    return case


def _map_subscription(case: Case, body: dict[str, Any]) -> None:
    """An alert subscription's share of :func:`map_case`: its saved search's territory exists, and on POST
    the rules its description states (one of ``initiative_id`` and ``query``; an e-mail or a webhook)."""
    search = body.get("query")
    if isinstance(search, dict) and search.get("territory") is not None:
        search["territory"] = _territory(search["territory"])
    if case.path != "/v1/subscriptions" or case.method.upper() != "POST":
        return
    if body.get("initiative_id") is not None and body.get("query") is not None:
        body["query"] = None
    if body.get("initiative_id") is None and body.get("query") is None:
        body["initiative_id"] = "ini-jardin"
    if body.get("email") is None and body.get("webhook_url") is None:
        body["email"] = "equipe@example.fr"


def _map_query(case: Case) -> None:
    """The query's share of :func:`map_case`: a territory filter that exists."""
    query = case.query if isinstance(case.query, dict) else {}
    if query.get("territory") is not None:
        case.query = query = {**query, "territory": _territory(query["territory"])}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """An app on the small catalogue in its own home; schemathesis starts its lifespan at the first call."""
    settings_ = make_settings(tmp_path / "home")
    tokens = seed(settings_)
    yield create_app(settings_), tokens
    asgi.shutdown_lifespans()  # stops the engine (and its threads) before the next test


FUZZ = settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
                # one app per operation, shared by its examples as a server is shared by its requests
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


@schema.parametrize()
@FUZZ
def test_every_operation_with_an_admin_key(case: Case, served: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = served
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {tokens['admin']}"})


PERSONAL = ("contact_email", "rna", "siren", "siret")


def _personal_values(value: Any) -> list[str]:
    """The personal fields that hold a value anywhere in a JSON document."""
    if isinstance(value, dict):
        found = [k for k, v in value.items() if k in PERSONAL and v not in (None, "")]
        return found + [f for v in value.values() for f in _personal_values(v)]
    if isinstance(value, list):
        return [f for v in value for f in _personal_values(v)]
    return []


def no_personal_data(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case) -> bool | None:
    """A partner key never gets an initiative's personal data back, nor the excluded list (a check passed
    to the partner run only: registering it would apply it to the admin run too)."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    leaked = _personal_values(body)
    if leaked:
        raise AssertionError(f"a partner key got personal data: {', '.join(sorted(set(leaked)))}")
    if isinstance(body, dict) and body.get("excluded"):
        raise AssertionError("a partner key got the excluded resources")
    return True


@schema.include(path_regex=r"^/v1/(match|territories|widget/initiatives)$").parametrize()
@FUZZ
def test_widget_operations_with_a_partner_key(case: Case, served: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = served
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {tokens['partner']}",
                                             "Origin": PARTNER_ORIGIN},
                           additional_checks=[no_personal_data])


WRITES = r"^/v1/(resources|initiatives|import/\{kind\})$"


def _later_matches(written: object) -> list[Case]:
    """The matches a catalogue write must never break: free text with and without a territory (the
    written record's own, when it has one), a stored initiative, the reverse direction."""
    where = written.get("territory") if isinstance(written, dict) else None
    covered = written.get("coverage") if isinstance(written, dict) else None
    territory = where or (covered[0] if isinstance(covered, list) and covered else "93066")
    match = schema["/v1/match"]["POST"]
    text = "jardin partagé, compost et lien social"
    cases = [match.Case(body={"text": text, "k": 20}, media_type="application/json"),
             match.Case(body={"text": text, "territory": territory, "k": 20}, media_type="application/json"),
             schema["/v1/initiatives/{initiative_id}/match"]["POST"].Case(
                 path_parameters={"initiative_id": "ini-jardin"}, body={}, media_type="application/json"),
             schema["/v1/resources/{resource_id}/initiatives"]["GET"].Case(
                 path_parameters={"resource_id": "res-jardin-93"})]
    if isinstance(written, dict) and "coverage" in written and isinstance(written.get("id"), str):
        cases.append(schema["/v1/resources/{resource_id}/initiatives"]["GET"].Case(
            path_parameters={"resource_id": written["id"]}))
    return cases


@schema.include(path_regex=WRITES, method="POST").parametrize()
@FUZZ
def test_no_record_the_api_accepts_breaks_a_later_match(case: Case, served: tuple[FastAPI, dict[str, str]]) -> None:
    """Issue 17, item 1: whatever valid record is written (one by one or by bulk import), every match
    afterwards still answers without a server error."""
    app, tokens = served
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    written = case.call(app=app, headers=auth)
    assert written.status_code < 500, written.text
    records = case.body if isinstance(case.body, list) else [case.body]
    for record in records:
        for later in _later_matches(record):
            r = later.call(app=app, headers=auth)
            assert r.status_code < 500, f"after writing {record!r}: {later.method} {later.path} gave {r.text}"
