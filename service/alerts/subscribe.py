"""Making, confirming and ending subscriptions.

A new subscription starts from a **baseline**: the matches it would get today (its top
``MAILLAGE_ALERTS_DEPTH``, through ``recommend``) are recorded as already known, so that it hears only of
what is new from then on. A citizen's subscription is made ``pending`` with its confirmation request in
the outbox; only following that request's link makes it active (double opt-in).
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from matcher.recommender import Recommender
from matcher.schemas import Initiative, MatchQuery
from matcher.store import Catalogue
from service.alerts.detection import dedupe_key, item_data, queries_of
from service.alerts.digest import confirm_message, outbox_id
from service.alerts.links import Links
from service.alerts.store import AlertStore
from service.alerts.subscriptions import Frequency, Subscription

__all__ = ["CitizenRefused", "baseline", "follow", "new_subscription_id", "request_citizen_alerts"]


class CitizenRefused(ValueError):
    """A citizen's alerts cannot be asked for this initiative (message in French says why)."""


def new_subscription_id() -> str:
    return f"sub-{secrets.token_hex(8)}"


def baseline(rec: Recommender, catalogue: Catalogue, sub: Subscription, depth: int,
             today: date | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """What ``sub`` would be shown today: its top ``depth`` matches, as items already known."""
    query = queries_of(catalogue, [sub]).get(sub.id)
    if query is None:
        return []
    overrides = catalogue.overrides_for(sub.initiative_id) if sub.initiative_id else None
    result = rec.recommend(query, depth, today=today, overrides=overrides)
    served = rec.index.resources
    return [(m.resource_id, dedupe_key(served[m.resource_id]), item_data(m, served[m.resource_id]))
            for m in result.matches if m.resource_id in served]


def follow(alerts: AlertStore, rec: Recommender, catalogue: Catalogue, *, depth: int, label: str,
           created_by: str, frequency: Frequency, initiative_id: str | None = None, query: MatchQuery | None = None,
           email: str | None = None, webhook_url: str | None = None, today: date | None = None) -> Subscription:
    """Staff follow an initiative (which must exist) or a saved search. Raises ``KeyError`` for an unknown
    initiative and ``pydantic.ValidationError`` for a subscription that is not well formed."""
    if initiative_id is not None:
        catalogue.get_initiative(initiative_id)
    sub = Subscription(id=new_subscription_id(), owner="staff", initiative_id=initiative_id, query=query,
                       email=email, webhook_url=webhook_url, frequency=frequency, label=label,
                       created_by=created_by)
    return alerts.add(sub, baseline(rec, catalogue, sub, depth, today))


def request_citizen_alerts(alerts: AlertStore, rec: Recommender, catalogue: Catalogue, links: Links,
                           initiative: Initiative, *, source: str, frequency: Frequency, depth: int) -> Subscription:
    """A citizen asks to hear of new matches of the initiative they submitted with consent from the
    widget of ``source``: a pending subscription and its confirmation request, sent by the next run."""
    if initiative.source != source:
        raise CitizenRefused("cette initiative n'a pas été déposée depuis ce widget")
    if not initiative.consent or not initiative.contact_email:
        raise CitizenRefused("les alertes demandent le consentement de la personne et son adresse électronique")
    already = [s for s in alerts.subscriptions(initiative_id=initiative.id)[0] if s.owner == "citizen"]
    if already:
        return already[0]
    sub = Subscription(id=new_subscription_id(), owner="citizen", initiative_id=initiative.id,
                       email=initiative.contact_email, frequency=frequency, status="pending",
                       label=initiative.title[:200], created_by=source)
    alerts.add(sub, baseline(rec, catalogue, sub, depth))
    alerts.queue([{"id": outbox_id(sub.id, "email", "confirm", "confirm"), "subscription_id": sub.id,
                   "channel": "email", "kind": "confirm", "period": "confirm", "recipient": sub.email or "",
                   "payload": confirm_message(sub, links)}])
    return sub


