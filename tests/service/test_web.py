"""The widget's script and demo page and the staff console, without a browser (see test_browser.py
for the same faces driven in Chromium)."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from matcher.schemas import Decision
from service.api import create_app
from service.keys import KeyStore
from service.settings import Settings
from service.web.session import COOKIE, Sessions, server_secret
from service.web.widget import DEMO_KEYS_FILE
from tests.service.conftest import PARTNER_ORIGIN, Api, make_settings, seed

LOCAL = "http://127.0.0.1:8000"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _sign_in(client: TestClient, token: str) -> None:
    page = client.get("/console/connexion")
    r = client.post("/console/connexion", data={"csrf": _csrf(page.text), "cle": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/initiatives", r.text


# --- widget ----------------------------------------------------------------------------------------


def test_widget_script_is_served_with_the_labels_filled_in(api: Api) -> None:
    r = api.client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "__MAILLAGE_LABELS__" not in r.text
    labels = json.loads(re.search(r"var LABELS = (\{.*?\});\n", r.text).group(1))  # type: ignore[union-attr]
    assert labels["kind"]["appel_a_projets"] == "appel à projets"
    assert ["entreprise_ess", "entreprise de l'ESS"] in labels["legal_form"]
    assert labels["status"] == {"passed": "Respecté", "failed": "Non respecté", "unknown": "À vérifier"}
    assert "X-Maillage-Widget" in r.text and "attachShadow" in r.text
    assert "localStorage" not in r.text and "document.cookie" not in r.text  # stores nothing about the citizen


def test_kinds_preset_is_a_hard_filter(api: Api) -> None:
    body = {"text": "jardin partagé compost potager dans le quartier", "territory": "93066", "k": 10}
    everything = api.client.post("/v1/match", json=body, headers=api.h("partner")).json()["matches"]
    assert {m["kind"] for m in everything} == {"appel_a_projets", "financement"}
    only = api.client.post("/v1/match", json=body | {"kinds": ["financement"]}, headers=api.h("partner"))
    assert only.status_code == 200, only.text
    kinds = [m["kind"] for m in only.json()["matches"]]
    assert kinds and set(kinds) == {"financement"}
    bad = api.client.post("/v1/match", json=body | {"kinds": ["subvention"]}, headers=api.h("partner"))
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"].startswith("kinds")


def test_a_same_origin_get_without_origin_header_counts_as_the_services_origin(tmp_path: Path) -> None:
    # Browsers send no Origin on a same-origin GET: the demo page's commune search must still pass,
    # and only for a key bound to the service's own origin.
    settings = make_settings(tmp_path / "home")
    seed(settings)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        own = KeyStore(client.app.state.engine.store).create("démo", "partner", [LOCAL])[1]  # type: ignore[attr-defined]
        other = KeyStore(client.app.state.engine.store).create("autre", "partner", [PARTNER_ORIGIN])[1]  # type: ignore[attr-defined]
        same = {"Sec-Fetch-Site": "same-origin"}
        assert client.get("/v1/territories?q=saint-d", headers={"Authorization": f"Bearer {own}"} | same).json()
        assert client.get("/v1/territories?q=saint-d", headers={"Authorization": f"Bearer {own}"}).status_code == 403
        r = client.get("/v1/territories?q=saint-d", headers={"Authorization": f"Bearer {other}"} | same)
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"


def test_demo_page_makes_one_partner_key_for_its_loopback_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    tokens = seed(settings)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        first = client.get("/widget/demo")
        assert first.status_code == 200
        token = re.search(r'data-key="(mk_partner_[^"]+)"', first.text).group(1)  # type: ignore[union-attr]
        assert token not in tokens.values() and tokens["staff"] not in first.text and tokens["admin"] not in first.text
        key = client.app.state.keys.authenticate(token)  # type: ignore[attr-defined]
        assert key.role.value == "partner" and key.origins == (LOCAL,)
        saved = settings.home / DEMO_KEYS_FILE
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert token in client.get("/widget/demo").text  # reused, not one key per visit
        assert sum(k.name.startswith("Démo du widget") for k in client.app.state.keys.list()) == 1  # type: ignore[attr-defined]
        r = client.post("/v1/match", json={"text": "jardin partagé et compost"},
                        headers={"Authorization": f"Bearer {token}", "Origin": LOCAL})
        assert r.status_code == 200 and r.json()["matches"]
        client.app.state.keys.revoke(key.id)  # type: ignore[attr-defined]
        after = client.get("/widget/demo").text  # a revoked demo key is not made again
        assert "révoquée" in after and token not in after and 'data-key="mk_partner_' not in after


def test_demo_page_on_a_public_host_gives_the_command_and_makes_no_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    seed(settings)
    with TestClient(create_app(settings), base_url="https://maillage.example.org") as client:
        before = len(client.app.state.keys.list())  # type: ignore[attr-defined]
        page = client.get("/widget/demo").text
        assert "VOTRE_CLE_PARTENAIRE" in page and 'data-key="mk_partner_' not in page
        assert "--origin https://maillage.example.org" in page and "MAILLAGE_PUBLIC_URL" in page
        assert len(client.app.state.keys.list()) == before  # type: ignore[attr-defined]
    public = make_settings(tmp_path / "home", public_url="https://maillage.example.org")
    with TestClient(create_app(public), base_url="https://maillage.example.org") as client:
        assert 'data-key="mk_partner_' in client.get("/widget/demo").text


# --- console: sessions -------------------------------------------------------------------------------


def test_console_needs_a_staff_or_admin_key(api: Api) -> None:
    c = api.client
    r = c.get("/console/initiatives", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/connexion"
    for role, status in (("partner", 403), ("read-only", 403)):
        page = c.get("/console/connexion")
        r = c.post("/console/connexion", data={"csrf": _csrf(page.text), "cle": api.tokens[role]})
        assert r.status_code == status and "ne donne pas accès à la console" in r.text
        assert COOKIE not in r.cookies
    page = c.get("/console/connexion")
    r = c.post("/console/connexion", data={"csrf": _csrf(page.text), "cle": "mk_staff_0000_forged"})
    assert r.status_code == 401 and "Clé inconnue" in r.text
    r = c.post("/console/connexion", data={"csrf": "guessed", "cle": api.tokens["staff"]})
    assert r.status_code == 403 and COOKIE not in r.cookies  # the sign-in form has its own CSRF token


def test_session_cookie_is_signed_httponly_strict_and_ends_with_its_key(api: Api) -> None:
    c = api.client
    page = c.get("/console/connexion")
    r = c.post("/console/connexion", data={"csrf": _csrf(page.text), "cle": api.tokens["staff"]},
               follow_redirects=False)
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert api.tokens["staff"] not in cookie  # the cookie names the key, it does not carry it
    assert c.get("/console/initiatives").status_code == 200
    value = c.cookies[COOKIE]
    c.cookies.clear()
    payload, signature = value.split(".")
    for forged in (payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
                   payload[:-2] + "x" + payload[-1] + "." + signature, "garbage"):
        r = c.get("/console/initiatives", headers={"Cookie": f"{COOKIE}={forged}"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/connexion"
    ok = c.get("/console/initiatives", headers={"Cookie": f"{COOKIE}={value}"}, follow_redirects=False)
    assert ok.status_code == 200
    staff = next(k for k in c.app.state.keys.list() if k.name == "test staff")  # type: ignore[attr-defined]
    c.app.state.keys.revoke(staff.id)  # type: ignore[attr-defined]
    r = c.get("/console/initiatives", headers={"Cookie": f"{COOKIE}={value}"}, follow_redirects=False)
    assert r.status_code == 303


def test_sessions_expire_and_reject_other_secrets() -> None:
    sessions = Sessions(b"s" * 40, max_age_s=60)
    value, session = sessions.issue("abc", now=1000.0)
    assert sessions.read(value, now=1030.0) == session
    assert sessions.read(value, now=1061.0) is None
    assert Sessions(b"t" * 40).read(value, now=1030.0) is None
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Sessions(b"short")


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    first = server_secret(settings)
    path = settings.home / "secret_key"
    assert len(first) >= 48 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server_secret(settings) == first
    assert first.decode() not in json.dumps(settings.masked())
    given = Settings(home=tmp_path / "other", secret_key="x" * 40)  # type: ignore[arg-type]
    assert server_secret(given) == b"x" * 40 and not (tmp_path / "other" / "secret_key").exists()
    assert "x" * 40 not in json.dumps(given.masked())


# --- console: decisions ---------------------------------------------------------------------------


def test_decision_needs_the_session_csrf_token_and_a_reason(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["staff"])
    store = c.app.state.engine.store  # type: ignore[attr-defined]
    form = {"resource_id": "res-jardin-93", "decision": "shortlisted", "reason": "dossier solide"}
    r = c.post("/console/initiatives/ini-jardin/decisions", data=form | {"csrf": "forged"})
    assert r.status_code == 403 and not store.outcomes(initiative_id="ini-jardin")
    csrf = _csrf(c.get("/console/initiatives/ini-jardin").text)
    r = c.post("/console/initiatives/ini-jardin/decisions", data=form | {"csrf": csrf},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and not store.outcomes(initiative_id="ini-jardin")
    r = c.post("/console/initiatives/ini-jardin/decisions", data=form | {"csrf": csrf, "reason": "  "})
    assert r.status_code == 422 and "motif est obligatoire" in r.text
    r = c.post("/console/initiatives/ini-jardin/decisions", data=form | {"csrf": csrf, "resource_id": "res-nope"})
    assert r.status_code == 422 and "Ressource inconnue" in r.text
    assert not store.outcomes(initiative_id="ini-jardin")
    r = c.post("/console/initiatives/ini-jardin/decisions", data=form | {"csrf": csrf})
    assert r.status_code == 200 and "enregistrée pour « Appel à projets jardins partagés" in r.text
    [stored] = store.outcomes(initiative_id="ini-jardin")
    assert stored.decision is Decision.shortlisted and stored.reason == "dossier solide"
    assert stored.actor == "test staff" and stored.source == "console"


def test_exclusion_from_the_console_removes_the_match_and_lists_it_as_excluded(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["staff"])
    page = c.get("/console/initiatives/ini-jardin").text
    suggested = page.split("<details>")[0]
    assert 'id="r-res-jardin-93"' in suggested
    r = c.post("/console/initiatives/ini-jardin/decisions",
               data={"csrf": _csrf(page), "resource_id": "res-jardin-93", "decision": "excluded", "reason": "doublon"})
    assert r.status_code == 200
    suggested, excluded = r.text.split("<details>")
    assert 'id="r-res-jardin-93"' not in suggested and 'id="r-res-jardin-93"' in excluded
    assert "Exclu par l&#39;équipe : doublon" in excluded


def test_shortlist_csv_follows_the_latest_decision(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["staff"])
    csrf = _csrf(c.get("/console/initiatives/ini-jardin").text)

    def decide(resource: str, decision: str, reason: str) -> None:
        r = c.post("/console/initiatives/ini-jardin/decisions",
                   data={"csrf": csrf, "resource_id": resource, "decision": decision, "reason": reason})
        assert r.status_code == 200, r.text

    decide("res-jardin-93", "shortlisted", "=HYPERLINK(\"http://x\")")
    decide("res-national-eco", "shortlisted", "à creuser")
    decide("res-national-eco", "dismissed", "hors sujet")
    decide("res-mobilite", "pinned", "vu en comité")
    r = c.get("/console/initiatives/ini-jardin/preselection.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="preselection-ini-jardin.csv"' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert [row["resource_id"] for row in rows] == ["res-jardin-93"]
    assert rows[0]["statut"] == "présélectionné" and rows[0]["financeur"] == "Département de la Seine-Saint-Denis"
    assert rows[0]["motif"].startswith("'=")  # a spreadsheet shows it, never runs it
    everything = c.get("/console/preselections.csv").content.decode("utf-8-sig")
    assert "res-jardin-93" in everything and "res-national-eco" not in everything


def test_console_lists_filter_and_show_the_reverse_view_and_status(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["admin"])
    assert "Jardin partagé de la cité" in c.get("/console/initiatives?q=jardin").text
    assert "Aucune initiative ne correspond" in c.get("/console/initiatives?q=velo").text
    assert "Aucune initiative ne correspond" in c.get("/console/initiatives?territoire=48").text
    bad = c.get("/console/initiatives?territoire=99999")
    assert bad.status_code == 422 and "Territoire" in bad.text
    listing = c.get("/console/ressources?type=financement").text
    assert "Aide aux jardins partagés en Lozère" in listing and "Appel à projets jardins partagés" not in listing
    reverse = c.get("/console/ressources/res-jardin-93").text
    assert "Jardin partagé de la cité" in reverse.split('id="inverse"')[1]
    lozere = c.get("/console/ressources/res-jardin-lozere").text  # Lozère only: the Saint-Denis garden fails
    assert "Jardin partagé de la cité" not in lozere.split('id="inverse"')[1]
    status = c.get("/console/etat").text
    assert c.app.state.engine.state.version in status and "hashing:64" in status  # type: ignore[attr-defined]
    missing = c.get("/console/initiatives/ini-absente")
    assert missing.status_code == 404 and "introuvable" in missing.text


def test_console_pages_forbid_framing_and_caching(api: Api) -> None:
    _sign_in(api.client, api.tokens["staff"])
    r = api.client.get("/console/initiatives/ini-jardin")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # No script of the console's own, none inline: only the DSFR's vendored modules (the header's menu).
    scripts = re.findall(r"<script[^>]*>", r.text)
    assert scripts and all(re.fullmatch(r'<script type="module" src="/static/dsfr/[a-z/.]+\.module\.min\.js">', s)
                           for s in scripts), scripts


def test_sign_out_ends_the_session(api: Api) -> None:
    c = api.client
    _sign_in(c, api.tokens["staff"])
    page = c.get("/console/initiatives").text
    r = c.post("/console/deconnexion", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and COOKIE + '=""' in r.headers["set-cookie"]
    assert c.get("/console/initiatives", follow_redirects=False).status_code == 303


def test_the_console_shows_a_pinned_match_as_pinned_not_as_a_score(api: Api) -> None:
    r = api.client.post("/v1/initiatives/ini-jardin/overrides", headers=api.h("staff"),
                        json={"resource_id": "res-mobilite", "action": "pin", "reason": "vu en comité"})
    assert r.status_code == 201
    c = TestClient(api.client.app)
    _sign_in(c, api.tokens["staff"])
    page = c.get("/console/initiatives/ini-jardin")
    assert page.status_code == 200 and "épinglée par l’équipe" in page.text and "score inf" not in page.text


def test_a_forged_host_header_mints_no_demo_key(tmp_path: Path) -> None:
    """A demo key was made for whatever origin the Host header claimed (11 keys from 12 requests)."""
    settings = make_settings(tmp_path / "home")
    seed(settings)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        keys = client.app.state.keys  # type: ignore[attr-defined]
        before = len(keys.list())
        for n in range(6):
            for host in (f"127.0.0.{n + 2}:8000", f"127.0.0.1:{9000 + n}", f"localhost:{9000 + n}",
                         f"portail-{n}.example.org"):
                page = client.get("/widget/demo", headers={"Host": host}).text
                assert 'data-key="mk_partner_' not in page, host
        assert len(keys.list()) == before
        assert 'data-key="mk_partner_' in client.get("/widget/demo").text  # the service's own address
        assert 'data-key="mk_partner_' in client.get("/widget/demo", headers={"Host": "localhost:8000"}).text
        assert len(keys.list()) == before + 2  # one per origin, at most these two
        client.get("/widget/demo")
        assert len(keys.list()) == before + 2


def test_signing_out_ends_the_session_on_the_server_even_for_a_kept_cookie(api: Api) -> None:
    """Sign-out only deleted the cookie: a copy kept (a shared computer, a stolen cookie) stayed valid."""
    c = TestClient(api.client.app)
    _sign_in(c, api.tokens["staff"])
    kept = c.cookies[COOKIE]
    other = TestClient(api.client.app)  # a second session of the same key must survive the first's sign-out
    _sign_in(other, api.tokens["staff"])
    page = c.get("/console/initiatives")
    r = c.post("/console/deconnexion", data={"csrf": _csrf(page.text)}, headers={"Origin": str(c.base_url)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/connexion?sortie=1"
    replay = TestClient(api.client.app)
    r = replay.get("/console/initiatives", headers={"Cookie": f"{COOKIE}={kept}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/connexion"
    assert other.get("/console/initiatives", follow_redirects=False).status_code == 200
    _sign_in(c, api.tokens["staff"])  # signing in again makes a new session
    assert c.get("/console/initiatives", follow_redirects=False).status_code == 200
