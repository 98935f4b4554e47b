"""Alerts end to end over a real SMTP exchange (aiosmtpd on loopback): an alert for a new feasible
resource, none for an ineligible or already-shown one, one digest per period, unsubscribe and « pas
pertinent » working from the received mail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

from matcher.schemas import Decision, Resource
from service.alerts import AlertStore
from tests.service.alerts_kit import AlertApp, links, parts, relative

GARDEN = "jardin partagé agriculture urbaine compost quartier potager"


def new_garden(rid: str = "res-new-93", closes: date = date(2027, 5, 31)) -> Resource:
    return Resource(id=rid, kind="financement", provider_id="prov-93", title=f"Nouvelle aide aux jardins {rid}",
                    description=f"Aide aux {GARDEN} des associations.", themes=["agriculture urbaine"],
                    coverage=["93"], closes_at=closes, url="https://exemple.gouv.fr/aide")


def ineligible() -> Resource:
    return Resource(id="res-new-lozere", kind="financement", provider_id="prov-lozere",
                    title="Aide aux jardins partagés réservée à la Lozère", description=f"Aide aux {GARDEN}.",
                    themes=["agriculture urbaine"], coverage=["48"], closes_at=date(2027, 5, 31))


def follow(app: AlertApp, frequency: str = "immediate", **extra: str) -> str:
    r = app.client.post("/v1/subscriptions", headers=app.h("staff"),
                        json={"initiative_id": "ini-jardin", "email": "equipe@example.fr", "frequency": frequency,
                              **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["subscription"]["id"])


def test_a_new_feasible_resource_makes_one_alert_and_nothing_else_does(alert_app: AlertApp) -> None:
    app = alert_app
    follow(app)
    first = app.run()
    assert first.detection.new_items == 0 and not app.sink.raw  # what matched already is no news
    app.add(new_garden(), ineligible())
    report = app.run()
    assert report.detection.new_items == 1 and report.delivery.sent == 1
    [msg] = app.sink.messages
    text, html = parts(msg)
    assert "Nouvelle aide aux jardins res-new-93" in text and "Nouvelle aide aux jardins res-new-93" in html
    assert "Lozère" not in text  # ineligible: territory
    assert "Appel à projets jardins partagés en Seine-Saint-Denis" not in text  # already shown at subscription
    assert "Clôture le 31 mai 2027" in text and "Clôture le 31 mai 2027" in html
    assert msg["To"] == "equipe@example.fr" and msg["Message-ID"].endswith("@maillage.example.fr>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith("<http://testserver/alertes/desabonnement?t=")
    # Running again finds nothing new and sends nothing; the same resource updated is no news either.
    app.add(new_garden().model_copy(update={"description": f"Aide aux {GARDEN}, deuxième version."}))
    again = app.run()
    assert again.detection.new_items == 0 and len(app.sink.raw) == 1
    # A new session of it (a new closing date) is news again.
    app.add(new_garden(closes=date(2028, 5, 31)))
    assert app.run().detection.new_items == 1 and len(app.sink.raw) == 2


def test_one_digest_per_week(alert_app: AlertApp) -> None:
    app = alert_app
    follow(app, "weekly")
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)
    app.add(new_garden("res-a"))
    assert app.run(now=monday).delivery.sent == 1
    app.add(new_garden("res-b"))
    tuesday = datetime(2026, 12, 1, 9, tzinfo=UTC)
    later = app.run(now=tuesday)
    assert later.detection.new_items == 1 and later.queued == 0 and len(app.sink.raw) == 1  # waits for next week
    next_week = app.run(now=datetime(2026, 12, 7, 9, tzinfo=UTC))
    assert next_week.delivery.sent == 1
    text, _ = parts(app.sink.messages[1])
    assert "res-b" in text and "res-a" not in text


def test_pas_pertinent_from_the_mail_records_a_dismissed_outcome(alert_app: AlertApp) -> None:
    app = alert_app
    sid = follow(app)
    app.add(new_garden())
    app.run()
    text, html = parts(app.sink.messages[0])
    [url] = links(text, "/alertes/pas-pertinent")
    assert url in html.replace("&amp;", "&")
    page = app.client.get(relative(url))  # a GET changes nothing (mail scanners follow links)
    assert page.status_code == 200 and "Confirmer : pas pertinent" in page.text
    assert not [o for o in app.engine.store.outcomes(initiative_id="ini-jardin") if o.decision is Decision.dismissed]
    token = parse_qs(urlsplit(url).query)["t"][0]
    done = app.client.post("/alertes/pas-pertinent", data={"t": token})
    assert done.status_code == 200 and "pas pertinent" in done.text
    [outcome] = [o for o in app.engine.store.outcomes(initiative_id="ini-jardin") if o.decision is Decision.dismissed]
    assert outcome.resource_id == "res-new-93" and outcome.source == "alert"
    feed = app.client.get(relative(links(text, "/alertes/flux.atom")[0]))
    assert feed.status_code == 200 and "res-new-93" not in feed.text  # dismissed: out of the feed too
    assert AlertStore(app.engine.store.engine).get(sid).status == "active"


def test_one_click_unsubscribe_from_the_mail_removes_the_subscription(alert_app: AlertApp) -> None:
    app = alert_app
    sid = follow(app)
    app.add(new_garden())
    app.run()
    msg = app.sink.messages[0]
    url = msg["List-Unsubscribe"].strip("<>")
    r = app.client.post(relative(url), content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Désabonnement effectué" in r.text
    listed = app.client.get("/v1/subscriptions", headers=app.h("staff")).json()
    assert sid not in [s["id"] for s in listed["items"]]
    metrics = app.client.get("/metrics", headers=app.h("read-only")).text
    assert 'maillage_alerts_actions_total{action="unsubscribe"} 1.0' in metrics
    app.add(new_garden("res-later"))
    assert app.run().detection.new_items == 0 and len(app.sink.raw) == 1
    forged = app.client.post(relative(url)[:-3] + "AAA", content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert forged.status_code in (200, 400)  # already gone or refused: never a 5xx


def test_deleting_the_initiative_removes_its_subscriptions_and_waiting_alerts(alert_app: AlertApp) -> None:
    app = alert_app
    follow(app, "monthly")
    app.add(new_garden())
    app.run(send=False)
    alerts = AlertStore(app.engine.store.engine)
    assert alerts.counts()["subscriptions"] == 1
    assert app.client.delete("/v1/initiatives/ini-jardin", headers=app.h("staff")).status_code == 204
    assert alerts.counts() == {"subscriptions": 0, "pending_confirmation": 0, "waiting_items": 0, "unsent": 0,
                               "sent": 0}
