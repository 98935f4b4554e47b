"""What a client reads in an error body is French (the error codes stay stable identifiers)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from tests.service.conftest import Api, make_settings, seed
from tests.service.test_web import _sign_in

SUBMISSION = {"title": "Jardin partagé", "description": "Un jardin partagé au pied des immeubles.",
              "territory": "93066"}


def _message(r) -> str:
    return r.json()["error"]["message"]


def test_key_errors_are_french(api: Api) -> None:
    missing = api.client.get("/v1/resources")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_key"
    assert _message(missing).startswith("une clé d'API est requise"), missing.text
    unknown = api.client.get("/v1/resources", headers={"Authorization": "Bearer mk_live_nobody_0123456789abcdef"})
    assert unknown.status_code == 401 and _message(unknown) == "la clé d'API est inconnue ou révoquée", unknown.text
    forbidden = api.client.post("/v1/providers", json={"id": "p-x", "name": "X"}, headers=api.h("read-only"))
    assert forbidden.status_code == 403 and "ne donne pas accès" in _message(forbidden), forbidden.text


def test_a_submission_without_consent_is_refused_in_french(api: Api) -> None:
    r = api.client.post("/v1/widget/initiatives", json=SUBMISSION | {"consent": False}, headers=api.h("partner"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "consent_required", r.text
    assert "consentement" in _message(r)
    assert r.json()["error"]["details"] == [{"field": "consent", "message": "doit être vrai (case cochée)"}]


def test_validation_errors_are_french_with_english_machine_codes(api: Api) -> None:
    r = api.client.post("/v1/match", json={"text": "ab", "colour": "bleu", "k": 0}, headers=api.h("staff"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    details = {d["type"]: d for d in r.json()["error"]["details"]}
    assert details["string_too_short"] == {"field": "text", "loc": ["body", "text"], "type": "string_too_short",
                                           "message": "trop court : 3 caractères au moins"}
    assert details["extra_forbidden"]["message"] == "champ inconnu : ce champ n'existe pas pour cet objet"
    assert details["greater_than_equal"]["message"] == "doit être supérieur ou égal à 1"
    assert _message(r).startswith("text : trop court")


def test_an_unknown_record_and_a_missing_field_are_french(api: Api) -> None:
    missing = api.client.get("/v1/initiatives/ini-absente", headers=api.h("staff"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert _message(missing) == "aucune initiative n'a l'identifiant 'ini-absente'"
    r = api.client.post("/v1/widget/initiatives", json={"consent": True}, headers=api.h("partner"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["message"] == "champ obligatoire absent", r.text
    body = api.client.post("/v1/match", content=b'{"text": ',
                           headers=api.h("staff", **{"Content-Type": "application/json"}))
    assert body.status_code == 422 and _message(body).startswith("body : JSON mal formé : "), body.text


HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_a_browser_gets_error_pages_in_french_html(api: Api) -> None:
    page = api.client.get("/console/nulle-part", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), page.text
    assert "<h1>Page introuvable</h1>" in page.text and "Aucun point d&#39;accès à cette adresse." in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # The API keeps answering JSON, whatever the Accept header says.
    api_404 = api.client.get("/v1/nulle-part", headers=HTML)
    assert api_404.headers["content-type"] == "application/json" and api_404.json()["error"]["code"] == "not_found"


def test_a_console_page_over_the_timeout_is_a_french_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path / "home", request_timeout_s=0.3)
    tokens = seed(settings)
    from service.web.console import resources

    real = resources.index_status

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return real(*args, **kwargs)

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        _sign_in(client, tokens["staff"])
        monkeypatch.setattr(resources, "index_status", slow)
        page = client.get("/console/etat", headers=HTML)
        assert page.status_code == 504 and page.headers["content-type"].startswith("text/html"), page.text
        assert "<h1>Délai dépassé</h1>" in page.text and "La requête a duré plus de 0.3 s" in page.text
        assert '"error"' not in page.text  # no raw JSON
        as_api = client.get("/console/etat")  # a client that does not ask for HTML still gets the JSON shape
        assert as_api.status_code == 504 and as_api.json()["error"]["code"] == "timeout"
