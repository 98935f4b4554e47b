"""A citizen's alerts: double opt-in by e-mail (nothing but the confirmation request before it), and
« supprimer mes données » from the mail; a partner portal's signed webhook; the Atom feed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest

from service.alerts import AlertStore, links_for
from service.alerts.webhooks import verify
from tests.service.alerts_kit import AlertApp, free_port, links, parts, relative
from tests.service.test_alerts import new_garden


def submit(app: AlertApp, email: str | None = "camille@example.org") -> str:
    body: dict[str, Any] = {"title": "Potager solidaire du quartier", "territory": "93066", "legal_form": "association",
                            "description": "Nous créons un jardin partagé et un compost de quartier.", "consent": True}
    if email:
        body["contact_email"] = email
    r = app.client.post("/v1/widget/initiatives", headers=app.h("partner"), json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["initiative"]["id"])


def ask(app: AlertApp, initiative_id: str) -> int:
    return app.client.post("/v1/widget/alerts", headers=app.h("partner"),
                           json={"initiative_id": initiative_id, "frequency": "immediate"}).status_code


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_no_digest_reaches_a_citizen_who_did_not_confirm(alert_app: AlertApp) -> None:
    app = alert_app
    ini = submit(app)
    assert ask(app, ini) == 202
    app.add(new_garden())
    report = app.run()
    [msg] = app.sink.messages  # the confirmation request only
    assert msg["To"] == "camille@example.org" and "Confirmez" in msg["Subject"]
    assert report.detection.new_items == 0  # a pending subscription is not matched
    app.add(new_garden("res-second"))
    app.run()
    assert len(app.sink.raw) == 1  # still nothing but the request
    text, _ = parts(msg)
    [confirm] = links(text, "/alertes/confirmer")
    assert app.client.get(relative(confirm)).status_code == 200
    assert AlertStore(app.engine.store.engine).subscriptions()[0][0].status == "pending"  # a GET confirms nothing
    done = app.client.post("/alertes/confirmer", data={"t": token_of(confirm)})
    assert done.status_code == 200 and "confirmées" in done.text
    app.add(new_garden("res-third"))
    app.run()
    assert len(app.sink.raw) == 2
    digest_text, _ = parts(app.sink.messages[1])
    assert "res-third" in digest_text and "Supprimer mes données" in digest_text


def test_a_citizen_erases_their_data_from_the_mail(alert_app: AlertApp) -> None:
    app = alert_app
    ini = submit(app)
    ask(app, ini)
    app.run()
    text, _ = parts(app.sink.messages[0])
    [erase] = links(text, "/alertes/supprimer-mes-donnees")
    r = app.client.post("/alertes/supprimer-mes-donnees", data={"t": token_of(erase)})
    assert r.status_code == 200 and "supprimés" in r.text
    assert app.client.get(f"/v1/initiatives/{ini}", headers=app.h("staff")).status_code == 404
    assert AlertStore(app.engine.store.engine).counts()["subscriptions"] == 0


def test_alerts_are_refused_without_an_address_or_for_another_widgets_project(alert_app: AlertApp) -> None:
    app = alert_app
    assert ask(app, submit(app, email=None)) == 422
    assert ask(app, "ini-jardin") == 422  # not submitted from this widget
    assert app.client.post("/v1/widget/alerts", headers=app.h("staff"), json={"initiative_id": "ini-jardin"}
                           ).status_code == 403


def test_a_tampered_or_foreign_link_changes_nothing(alert_app: AlertApp) -> None:
    app = alert_app
    r = app.client.post("/v1/subscriptions", headers=app.h("staff"),
                        json={"initiative_id": "ini-jardin", "email": "equipe@example.fr", "frequency": "immediate"})
    sid = r.json()["subscription"]["id"]
    feed_token = links_for(app.settings).token("feed", sid)  # valid, but for another action
    assert app.client.post("/alertes/desabonnement", data={"t": feed_token}).status_code == 400
    assert app.client.post("/alertes/desabonnement", data={"t": feed_token[:-2] + "xx"}).status_code == 400
    assert AlertStore(app.engine.store.engine).counts()["subscriptions"] == 1


@pytest.fixture
def portal() -> Iterator[tuple[list[tuple[dict[str, str], bytes]], str]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got, f"http://127.0.0.1:{server.server_port}/maillage"
    server.shutdown()


Portal = tuple[list[tuple[dict[str, str], bytes]], str]


def test_a_partner_portal_gets_a_signed_webhook_and_a_feed(alert_app: AlertApp, portal: Portal) -> None:
    app, (got, url) = alert_app, portal
    r = app.client.post("/v1/subscriptions", headers=app.h("staff"), json={
        "query": {"text": "jardin partagé compost quartier", "territory": "93066"}, "webhook_url": url,
        "frequency": "immediate", "label": "Jardins en Seine-Saint-Denis"})
    assert r.status_code == 201, r.text
    key, feed_url = r.json()["webhook_key"], r.json()["feed_url"]
    app.add(new_garden())
    assert app.run().delivery.sent == 1
    [(headers, body)] = got
    assert verify(key, body, headers["Maillage-Signature"])
    assert not verify(key, body + b" ", headers["Maillage-Signature"])
    data = json.loads(body)
    assert data["id"] == headers["Maillage-Webhook-Id"] and [i["resource_id"] for i in data["items"]] == ["res-new-93"]
    feed = app.client.get(relative(feed_url))
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    entries = root.findall("{http://www.w3.org/2005/Atom}entry")
    titles = [e.findtext("{http://www.w3.org/2005/Atom}title") for e in entries]
    assert titles == ["Nouvelle aide aux jardins res-new-93"]
    assert app.sink.raw == []  # no e-mail address: no e-mail
