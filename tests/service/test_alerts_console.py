"""The console's alerts page: a subscription made from its form, its frequency changed, the recent sends
listed, the subscription ended; forms without the session's CSRF token change nothing."""

from __future__ import annotations

from service.alerts import AlertStore
from tests.service.alerts_kit import AlertApp
from tests.service.test_alerts import new_garden
from tests.service.test_web import _csrf, _sign_in


def test_staff_follow_change_and_end_a_subscription_from_the_console(alert_app: AlertApp) -> None:
    app, c = alert_app, alert_app.client
    _sign_in(c, app.tokens["staff"])
    page = c.get("/console/alertes")
    assert page.status_code == 200 and "Aucun abonnement." in page.text
    csrf = _csrf(page.text)
    bad = c.post("/console/alertes", data={"csrf": csrf, "initiative_id": "ini-absente", "email": "a@b.fr"})
    assert bad.status_code == 422 and "Initiative inconnue" in bad.text
    assert c.post("/console/alertes", data={"csrf": "forged", "initiative_id": "ini-jardin",
                                            "email": "a@b.fr"}).status_code == 403
    r = c.post("/console/alertes", data={"csrf": csrf, "initiative_id": "ini-jardin", "email": "equipe@example.fr",
                                         "frequency": "immediate"}, follow_redirects=True)
    assert r.status_code == 200 and "Abonnement créé" in r.text and "Jardin partagé de la cité" in r.text
    search = c.post("/console/alertes", data={"csrf": csrf, "text": "compost de quartier", "territory": "93066",
                                              "email": "veille@example.fr", "frequency": "monthly"},
                    follow_redirects=True)
    assert "Recherche « compost de quartier »" in search.text
    alerts = AlertStore(app.engine.store.engine)
    subs = {s.initiative_id: s for s in alerts.subscriptions()[0]}
    staff_sub = subs["ini-jardin"]
    c.post(f"/console/alertes/{staff_sub.id}", data={"csrf": csrf, "frequency": "weekly"})
    assert alerts.get(staff_sub.id).frequency == "weekly"
    app.add(new_garden())
    app.run()
    sends = c.get("/console/alertes").text
    assert "equipe@example.fr" in sends and "résumé (courriel)" in sends
    c.post(f"/console/alertes/{staff_sub.id}", data={"csrf": csrf, "action": "delete"})
    assert staff_sub.id not in [s.id for s in alerts.subscriptions()[0]]
