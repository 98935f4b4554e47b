"""The API under hostile or careless clients: keys, roles, origins, CORS, body limits, rate limits,
timeouts, and what error answers and partner keys must never show."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from matcher import tables
from matcher.schemas import Initiative
from matcher.store import Catalogue
from service.api import create_app
from service.keys import KeyStore
from tests.service.conftest import PARTNER_ORIGIN, Api, make_settings, seed

FREE = {"text": "jardin partagé compost potager dans le quartier", "territory": "93066", "k": 3}


@contextmanager
def running(home: Path, **overrides: Any) -> Iterator[Api]:
    """An API on the small catalogue with ``overrides`` of the test settings (limits, timeouts)."""
    settings = make_settings(home, **overrides)
    tokens = seed(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, settings, tokens)


def secret_of(token: str) -> str:
    return token.split("_", 3)[3]


def key_id_of(token: str) -> str:
    return token.split("_", 3)[2]


def assert_error(r: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``r`` is an error in the one shape, with this status (and code), and its request id."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details", "request_id"}
    assert err["request_id"] == r.headers["x-request-id"]
    if code is not None:
        assert err["code"] == code, err
    return err


# --- keys ------------------------------------------------------------------------------------------


def test_no_key_is_401_with_a_bearer_challenge(api: Api) -> None:
    r = api.client.get("/v1/initiatives")
    assert_error(r, 401, "missing_key")
    assert r.headers["www-authenticate"] == "Bearer"
    # another scheme than Bearer is no key either
    assert_error(api.client.get("/v1/initiatives", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401,
                 "missing_key")


@pytest.mark.parametrize("token", ["not-a-key", "mk_staff", "mk_staff_abc", "xx_staff_abc_def", "mk__ _ ",
                                   "mk_admin_000000000000_" + "A" * 43])
def test_malformed_or_unknown_keys_are_401(api: Api, token: str) -> None:
    assert_error(api.client.get("/v1/initiatives", headers={"Authorization": f"Bearer {token}"}), 401, "invalid_key")
    assert_error(api.client.get("/v1/initiatives", headers={"X-Api-Key": token}), 401, "invalid_key")


def test_the_right_id_with_a_wrong_secret_is_401(api: Api) -> None:
    token = api.tokens["admin"]
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_error(api.client.get("/v1/initiatives", headers={"Authorization": f"Bearer {wrong}"}), 401, "invalid_key")
    # the same token works, as a bearer or as X-Api-Key
    assert api.client.get("/v1/initiatives", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.client.get("/v1/initiatives", headers={"X-Api-Key": token}).status_code == 200


def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    token = api.tokens["staff"]
    assert api.client.get("/v1/initiatives", headers=api.h("staff")).status_code == 200
    other_process = Catalogue.open(api.settings.db_url)  # as `maillage keys revoke` would, from outside
    try:
        KeyStore(other_process).revoke(key_id_of(token))
    finally:
        other_process.close()
    assert_error(api.client.get("/v1/initiatives", headers=api.h("staff")), 401, "invalid_key")
    assert api.client.get("/v1/initiatives", headers=api.h("read-only")).status_code == 200  # only that key


def test_roles_are_enforced(api: Api) -> None:
    resource = {"id": "res-x", "kind": "lieu", "provider_id": "prov-93", "title": "Salle"}
    assert_error(api.client.post("/v1/resources", json=resource, headers=api.h("read-only")), 403, "forbidden")
    assert_error(api.client.post("/v1/index/rebuild", headers=api.h("staff")), 403, "forbidden")
    assert api.client.post("/v1/resources", json=resource, headers=api.h("staff")).status_code == 201


def test_a_partner_key_is_refused_on_staff_endpoints(api: Api) -> None:
    for method, path in (("GET", "/v1/initiatives"), ("GET", "/v1/initiatives/ini-jardin"),
                         ("POST", "/v1/initiatives/ini-jardin/match"), ("GET", "/v1/outcomes?initiative_id=x"),
                         ("GET", "/v1/index"), ("GET", "/metrics")):
        err = assert_error(api.client.request(method, path, headers=api.h("partner")), 403, "forbidden")
        assert "partner" in err["message"]


def test_a_partner_key_needs_one_of_its_origins(api: Api) -> None:
    bare = {"Authorization": f"Bearer {api.tokens['partner']}"}
    assert_error(api.client.post("/v1/match", json=FREE, headers=bare), 403, "origin_not_allowed")
    evil = bare | {"Origin": "https://evil.example.com"}
    r = api.client.post("/v1/match", json=FREE, headers=evil)
    assert_error(r, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in r.headers
    ok = api.client.post("/v1/match", json=FREE, headers=api.h("partner"))
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == PARTNER_ORIGIN


def test_cors_preflight_answers_only_the_partners_origins(api: Api) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    evil = api.client.options("/v1/match", headers=ask | {"Origin": "https://evil.example.com"})
    assert_error(evil, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in evil.headers
    ok = api.client.options("/v1/match", headers=ask | {"Origin": PARTNER_ORIGIN})
    assert ok.status_code == 204 and not ok.content
    assert ok.headers["access-control-allow-origin"] == PARTNER_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()


# --- bodies and input --------------------------------------------------------------------------------


def test_oversized_bodies_are_413_declared_or_streamed(tmp_path: Path) -> None:
    with running(tmp_path / "home", max_body_bytes=1_000) as api:
        big = b'{"text": "' + b"a" * 5_000 + b'"}'
        declared = api.client.post("/v1/match", content=big,
                                   headers=api.h("staff", **{"Content-Type": "application/json"}))
        assert_error(declared, 413, "body_too_large")
        assert "dépasse la limite de 1000 octets" in declared.json()["error"]["message"]  # in French, with the limit

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
            yield b'{"text": "'
            for _ in range(10):
                yield b"a" * 500
            yield b'"}'

        streamed = api.client.post("/v1/match", content=chunks(),
                                   headers=api.h("staff", **{"Content-Type": "application/json"}))
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "body_too_large")
        assert "dépasse la limite de 1000 octets" in streamed.json()["error"]["message"]
        assert api.client.post("/v1/match", json=FREE, headers=api.h("staff")).status_code == 200


def test_a_text_over_the_maximum_length_names_the_field(api: Api) -> None:
    err = assert_error(api.client.post("/v1/match", json=FREE | {"text": "a" * 20_001}, headers=api.h("staff")),
                       422, "invalid_input")
    assert err["details"][0]["field"] == "text" and "20000" in err["details"][0]["message"]
    assert err["message"].startswith("text : ")


@pytest.mark.parametrize("body", [b'{"text": "jardin",', b"{'text': 'jardin'}", b"\xff\xfe{}",
                                  b'{"text": "jard\xe9n"}'])  # the last two are not UTF-8
def test_malformed_json_is_422(api: Api, body: bytes) -> None:
    r = api.client.post("/v1/match", content=body, headers=api.h("staff", **{"Content-Type": "application/json"}))
    err = assert_error(r, 422, "invalid_input")
    assert err["details"][0]["field"] == "body" and "JSON mal formé" in err["message"]


@pytest.mark.parametrize("field,value", [("k", "3"), ("amount_sought", "1000"), ("on", 0), ("on", "0"),
                                         ("needs", "financement"), ("unknown", 1)])
def test_values_of_the_wrong_json_type_are_refused_not_coerced(api: Api, field: str, value: object) -> None:
    err = assert_error(api.client.post("/v1/match", json=FREE | {field: value}, headers=api.h("staff")), 422)
    assert err["details"][0]["field"] == field


def test_a_query_parameter_given_twice_is_refused_not_half_read(api: Api) -> None:
    r = api.client.get("/v1/resources?provider_id=prov-93&provider_id=prov-etat", headers=api.h("staff"))
    err = assert_error(r, 422, "invalid_input")
    assert err["details"] == [{"field": "provider_id", "message": "given 2 times, expected once"}]
    assert api.client.get("/v1/resources?provider_id=prov-93", headers=api.h("staff")).json()["total"] == 2


def test_blank_text_is_refused_although_long_enough(api: Api) -> None:
    err = assert_error(api.client.post("/v1/match", json=FREE | {"text": " \n\u3000 "}, headers=api.h("staff")), 422)
    assert err["details"][0]["field"] == "text"
    provider = {"id": "prov-x", "name": "\t"}
    err = assert_error(api.client.post("/v1/providers", json=provider, headers=api.h("staff")), 422)
    assert err["details"][0]["field"] == "name"


def test_unknown_ids_are_404(api: Api) -> None:
    for method, path in (("GET", "/v1/initiatives/nope"), ("GET", "/v1/resources/nope"),
                         ("GET", "/v1/providers/nope"), ("DELETE", "/v1/resources/nope"),
                         ("POST", "/v1/initiatives/nope/match"), ("GET", "/v1/resources/nope/initiatives"),
                         ("POST", "/v1/models/nope/promote")):
        err = assert_error(api.client.request(method, path, headers=api.h("admin")), 404, "not_found")
        assert "nope" in err["message"]
    assert_error(api.client.get("/v1/nowhere", headers=api.h("admin")), 404, "not_found")


def test_an_undeclared_method_is_405_with_every_allowed_method(api: Api) -> None:
    r = api.client.request("PATCH", "/v1/resources/res-jardin-93", headers=api.h("admin"))
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "DELETE, GET, PUT"


# --- rate limits and timeouts ------------------------------------------------------------------------


def burst_until_429(api: Api, role: str, limit: int = 50) -> tuple[int, Response]:
    for n in range(1, limit + 1):
        r = api.client.get("/v1/index", headers=api.h(role))
        if r.status_code == 429:
            return n, r
        assert r.status_code == 200, r.text
    raise AssertionError(f"no 429 after {limit} requests")


def test_a_burst_on_one_key_is_429_with_retry_after_and_spares_other_keys(tmp_path: Path) -> None:
    with running(tmp_path / "home", rate_per_key=10) as api:  # 10 a minute, bursts of 5: one token per 6 s
        n, r = burst_until_429(api, "staff")
        assert n == 6
        err = assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1 and key_id_of(api.tokens["staff"]) in err["message"]
        assert api.client.get("/v1/index", headers=api.h("admin")).status_code == 200


def test_a_burst_from_one_address_is_429_whatever_the_key(tmp_path: Path) -> None:
    with running(tmp_path / "home", rate_per_ip=10) as api:
        codes = [api.client.get("/v1/index", headers=api.h(role)).status_code
                 for role in ("staff", "admin", "read-only") * 3]
        assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
        r = api.client.get("/v1/index")  # no key: the address is refused before the key is looked at
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        assert api.client.get("/healthz").status_code == 200  # liveness is never rate limited


def test_a_request_over_the_timeout_is_504_in_the_error_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    # Matches answer 503 ``overloaded`` at their deadline, before this (admission control,
    # tests/service/test_admission.py); any other route still gets the guard's 504.
    with running(tmp_path / "home", request_timeout_s=0.3) as api:
        from service.api import status

        real = status.index_status

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(1.5)
            return real(*args, **kwargs)

        monkeypatch.setattr(status, "index_status", slow)
        started = time.perf_counter()
        r = api.client.get("/v1/index", headers=api.h("staff"))
        assert_error(r, 504, "timeout")
        assert time.perf_counter() - started < 1.2  # answered at the deadline, not when the work ends
        monkeypatch.setattr(status, "index_status", real)
        assert api.client.get("/v1/index", headers=api.h("staff")).status_code == 200


# --- nothing leaks -----------------------------------------------------------------------------------

LEAK_MARKERS = ("Traceback", 'File "', ".py", "SELECT ", "INSERT ", "sqlite", "sqlalchemy", "psycopg", "/tmp",
                "/home/", "/work/")


def test_error_answers_leak_no_secret_trace_sql_or_path(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    admin = api.tokens["admin"]
    wrong = admin[:-4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB")
    engine = api.client.app.state.engine  # type: ignore[attr-defined]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f'(sqlite3.OperationalError) no such table: initiatives [SQL: SELECT data FROM '
                           f'initiatives] File "{tmp_path}/store.py", line 3')

    answers = [
        api.client.get("/v1/initiatives", headers={"Authorization": f"Bearer {wrong}"}),
        api.client.get("/v1/initiatives", headers={"X-Api-Key": wrong}),
        api.client.get("/v1/initiatives", headers={"Authorization": f"Bearer {secret_of(admin)}"}),
        api.client.get("/v1/initiatives", headers=api.h("partner")),
        api.client.post("/v1/models/nope/promote", headers=api.h("admin")),
        api.client.post("/v1/match", content=b'{"text": ', headers=api.h("admin", **{"Content-Type":
                                                                                      "application/json"})),
        api.client.post("/v1/import/initiatives", content=b"[1, ", headers=api.h("admin", **{"Content-Type":
                                                                                              "application/json"})),
        api.client.put("/v1/initiatives/ini-jardin", json={"id": "other", "title": "x"}, headers=api.h("admin")),
        api.client.get("/v1/initiatives/" + "x" * 300, headers=api.h("admin")),
    ]
    monkeypatch.setattr(engine.store, "get_initiative", broken)
    answers.append(api.client.get("/v1/initiatives/ini-jardin", headers=api.h("admin")))
    assert answers[-1].status_code == 500 and answers[-1].json()["error"]["code"] == "internal_error"
    for r in answers:
        assert 400 <= r.status_code < 600 and r.json()["error"]["request_id"], r.text
        for token in api.tokens.values():
            assert secret_of(token) not in r.text and token not in r.text, r.text
        for marker in LEAK_MARKERS:
            assert marker not in r.text, (marker, r.text)
        assert str(api.settings.home) not in r.text


def test_a_partner_key_never_gets_personal_data(api: Api) -> None:
    personal = Initiative(id="ini-perso", title="Jardin partagé des Tilleuls", territory="93066",
                          description="Potager et compost tenus par Mme Lefebvre, 12 rue des Tilleuls",
                          contact_email="mme.lefebvre@example.org", rna="W931234567", siren="732829320",
                          siret="73282932000009", consent=True)
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    engine.store.upsert_initiatives([personal])
    engine.initiatives_changed()
    secrets_ = ("mme.lefebvre@example.org", "W931234567", "732829320", "73282932000009", "Mme Lefebvre", "Tilleuls")
    staff = api.client.get("/v1/initiatives/ini-perso", headers=api.h("staff"))
    assert staff.status_code == 200 and "mme.lefebvre@example.org" in staff.text  # the data is there to leak

    ids = {"initiative_id": "ini-perso", "item_id": "ini-perso", "resource_id": "res-jardin-93", "kind": "initiatives",
           "version": "v1", "subscription_id": "sub-0000000000000000"}
    bodies: dict[str, Any] = {
        "/v1/match": {"text": personal.description, "territory": "93066"},
        "/v1/plan": {"text": personal.description, "territory": "93066"},  # the same body as /v1/match
        "/v1/widget/initiatives": {"title": "Jardin partagé", "description": "compost", "territory": "93066",
                                   "contact_email": "habitant@example.org", "consent": True},
    }
    reached: set[str] = set()
    for path, item in api.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method in item:
            url = path.format(**ids)
            if method == "get" and "{" not in path:
                url += "?q=Tilleuls&initiative_id=ini-perso&with_excluded=true"
            r = api.client.request(method.upper(), url, json=bodies.get(path), headers=api.h("partner"))
            for secret in secrets_:
                assert secret not in r.text, (method, path, secret)
            if path == "/v1/widget/initiatives" and r.status_code == 201:  # its own citizen may ask for alerts
                bodies["/v1/widget/alerts"] = {"initiative_id": r.json()["initiative"]["id"]}
            if r.status_code < 400:
                reached.add(f"{method.upper()} {path}")
                assert "habitant@example.org" not in r.text  # not even its own citizen's address
                assert '"excluded":[]' in r.text or "excluded" not in r.text  # with_excluded is ignored
            elif path.startswith("/v1/"):
                assert r.status_code == 403, (method, path, r.text)
    assert {op for op in reached if " /v1/" in op} == {"POST /v1/match", "POST /v1/plan", "GET /v1/territories",
                                                        "POST /v1/widget/initiatives", "POST /v1/widget/alerts"}


def test_key_secrets_are_stored_only_as_hashes(api: Api) -> None:
    store = Catalogue.open(api.settings.db_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(tables.api_keys)).all()
    finally:
        store.close()
    assert len(rows) == len(api.tokens)
    hashes = {row.secret_hash for row in rows}
    for token in api.tokens.values():
        secret = secret_of(token)
        assert hashlib.sha256(secret.encode()).hexdigest() in hashes
        for row in rows:
            assert all(secret not in str(value) for value in row), row
    db = Path(api.settings.db_url.removeprefix("sqlite:///"))  # the tests' catalogue is a SQLite file
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))  # the database, its WAL and journal
    assert raw and not any(secret_of(t).encode() in raw for t in api.tokens.values())


def test_cors_answers_a_partner_origin_only_on_the_widgets_endpoints(api: Api) -> None:
    """A partner's page may call the widget's three endpoints from the browser, and nothing else."""
    ask = {"Access-Control-Request-Method": "GET", "Origin": PARTNER_ORIGIN}
    for path in ("/v1/initiatives", "/v1/outcomes", "/v1/index", "/v1/resources/res-jardin-93/initiatives"):
        pre = api.client.options(path, headers=ask)
        assert_error(pre, 403, "origin_not_allowed")
        assert "widget" in pre.json()["error"]["message"] and "access-control-allow-origin" not in pre.headers
        got = api.client.get(path, headers=api.h("staff", Origin=PARTNER_ORIGIN))
        assert "access-control-allow-origin" not in got.headers, path
    for path in ("/v1/match", "/v1/territories", "/v1/widget/initiatives"):
        assert api.client.options(path, headers=ask).headers["access-control-allow-origin"] == PARTNER_ORIGIN
    r = api.client.get("/v1/territories?q=Saint-Denis", headers=api.h("partner"))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PARTNER_ORIGIN


def test_a_revoked_partner_keys_origin_is_dropped_from_cors_at_once(api: Api) -> None:
    """CORS answered a revoked key's origin for up to 5 s (a cache); it is read afresh now."""
    ask = {"Access-Control-Request-Method": "POST", "Origin": PARTNER_ORIGIN}
    assert api.client.options("/v1/match", headers=ask).headers["access-control-allow-origin"] == PARTNER_ORIGIN
    keys = api.client.app.state.keys  # type: ignore[attr-defined]
    partner = next(k for k in keys.list() if k.role.value == "partner")
    keys.revoke(partner.id)  # as `maillage keys revoke` does, from another process
    refused = api.client.options("/v1/match", headers=ask)
    assert_error(refused, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in refused.headers
