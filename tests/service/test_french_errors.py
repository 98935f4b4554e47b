"""What a client reads in an error body is French (the error codes stay stable identifiers)."""

from __future__ import annotations

from tests.service.conftest import Api

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
