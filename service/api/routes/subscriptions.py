"""Alert subscriptions (:mod:`service.alerts`): staff follow an initiative or a saved search; a citizen
asks, from the widget, to hear of new matches of the project they submitted (double opt-in by e-mail).

Subscriptions hold e-mail addresses: only staff and admin keys read them. The webhook key of a
subscription is shown once, in the answer that made it (it is derived from the server secret, never
stored).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matcher.schemas import EMAIL_PATTERN, ItemId, MatchQuery
from service.alerts import AlertStore, Subscription, links_for
from service.alerts.subscribe import CitizenRefused, follow, request_citizen_alerts
from service.api.deps import EngineDep, PartnerKey, WriterKey
from service.api.routing import error, v1_router
from service.api_models import Page, SearchIn
from service.engine import Engine
from service.guard import ApiError

__all__ = ["router"]

router = v1_router("alerts")

SubscriptionId = Annotated[str, Field(pattern=r"^sub-[0-9a-f]{16}$", examples=["sub-0123456789abcdef"])]
Frequency = Literal["immediate", "weekly", "monthly"]


class SubscriptionIn(BaseModel):
    """Follow an initiative (``initiative_id``) or a saved search (``query``: text, territory, legal form,
    stage, kinds, themes), told by e-mail, by webhook, or both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "initiative_id": "ini-0001", "email": "equipe@accelerateur.example.fr", "frequency": "weekly"}]})

    initiative_id: ItemId | None = None
    query: SearchIn | None = None
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    frequency: Frequency = "weekly"
    label: str | None = Field(default=None, min_length=1, max_length=200)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    frequency: Frequency | None = None
    label: str | None = Field(default=None, min_length=1, max_length=200)
    query: SearchIn | None = None


class SubscriptionOut(BaseModel):
    subscription: Subscription
    feed_url: str
    webhook_key: str | None = Field(default=None, description="shown only when the subscription is made")


class AlertOut(BaseModel):
    id: str
    resource_id: str
    detected_at: str
    sent: bool
    dismissed: bool
    data: dict[str, Any]


class CitizenAlertsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initiative_id: ItemId
    frequency: Frequency = "weekly"


def _query(search: SearchIn | None) -> MatchQuery | None:
    return None if search is None else MatchQuery.model_validate(search.model_dump())


def _alerts(engine: Engine) -> AlertStore:
    return AlertStore(engine.store.engine)


def _out(engine: Engine, sub: Subscription, *, with_key: bool = False) -> SubscriptionOut:
    links = links_for(engine.settings)
    return SubscriptionOut(subscription=sub, feed_url=links.url("feed", sub.id),
                           webhook_key=links.webhook_key(sub.id) if with_key and sub.webhook_url else None)


def _invalid(exc: ValueError) -> ApiError:
    message = "; ".join(e["msg"] for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
    return ApiError(422, "invalid_input", f"abonnement non valide : {message}")


@router.get("/subscriptions", response_model=Page[Subscription], summary="Alert subscriptions, oldest first")
def list_subscriptions(engine: EngineDep, _: WriterKey, initiative_id: ItemId | None = None,
                       offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Page[Subscription]:
    items, total = _alerts(engine).subscriptions(offset=offset, limit=limit, initiative_id=initiative_id)
    return Page(items=items, total=total, offset=offset, limit=limit,
                next_offset=offset + limit if offset + limit < total else None)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut,
             summary="Follow an initiative or a saved search", responses={404: error(404, "the initiative is unknown")},
             description="Exactly one of `initiative_id` and `query`, and at least one of `email` and "
                         "`webhook_url` (422 otherwise). What matches today is recorded as already known: only "
                         "what is new from now on becomes an alert.")
def create_subscription(engine: EngineDep, key: WriterKey, body: SubscriptionIn) -> SubscriptionOut:
    label = body.label
    if label is None:
        label = (engine.store.get_initiative(body.initiative_id).title[:200] if body.initiative_id
                 else (body.query.text[:200] if body.query else "recherche"))
    try:
        with engine.lock.read():
            sub = follow(_alerts(engine), engine.rec, engine.store, depth=engine.settings.alerts_depth, label=label,
                         created_by=key.name[:200], frequency=body.frequency, initiative_id=body.initiative_id,
                         query=_query(body.query), email=body.email, webhook_url=body.webhook_url)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return _out(engine, sub, with_key=True)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One subscription",
            responses={404: error(404)})
def get_subscription(engine: EngineDep, _: WriterKey, subscription_id: SubscriptionId) -> SubscriptionOut:
    return _out(engine, _alerts(engine).get(subscription_id))


@router.put("/subscriptions/{subscription_id}", response_model=SubscriptionOut,
            summary="Change a subscription's frequency, channels, label or saved search", responses={404: error(404)})
def update_subscription(engine: EngineDep, _: WriterKey, subscription_id: SubscriptionId,
                        body: SubscriptionUpdate) -> SubscriptionOut:
    alerts = _alerts(engine)
    sub = alerts.get(subscription_id)
    changes = body.model_dump(exclude_unset=True)
    if "query" in changes and sub.query is None:
        raise ApiError(422, "invalid_input", "cet abonnement suit une initiative : il n'a pas de recherche à changer")
    if sub.owner == "citizen" and set(changes) - {"frequency"}:
        raise ApiError(422, "invalid_input", "l'abonnement d'un citoyen ne change que de fréquence")
    try:
        updated = Subscription.model_validate(sub.model_dump() | changes)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return _out(engine, alerts.replace(updated))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="End a subscription",
               description="Its waiting alerts and every message to it go too.", responses={404: error(404)})
def delete_subscription(engine: EngineDep, _: WriterKey, subscription_id: SubscriptionId) -> Response:
    alerts = _alerts(engine)
    alerts.get(subscription_id)
    alerts.delete([subscription_id])
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/alerts", response_model=list[AlertOut],
            summary="What a subscription was told of (or is about to be), newest first", responses={404: error(404)})
def subscription_alerts(engine: EngineDep, _: WriterKey, subscription_id: SubscriptionId,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[AlertOut]:
    alerts = _alerts(engine)
    alerts.get(subscription_id)
    return [AlertOut(id=i.id, resource_id=i.resource_id, detected_at=i.detected_at.isoformat(),
                     sent=i.outbox_id is not None, dismissed=i.dismissed_at is not None, data=i.data)
            for i in alerts.items(subscription_id, limit=limit)]


@router.post("/widget/alerts", status_code=202, response_model=dict[str, str],
             summary="A citizen asks to hear of new matches of the project they submitted",
             description="Partner keys only, for an initiative submitted with consent and an e-mail address from "
                         "this partner's widget. Nothing is sent but a confirmation request until the citizen "
                         "follows its link (double opt-in).",
             responses={404: error(404), 422: error(422)})
def citizen_alerts(engine: EngineDep, key: PartnerKey, body: CitizenAlertsIn) -> dict[str, str]:
    ini = engine.store.get_initiative(body.initiative_id)
    try:
        with engine.lock.read():
            request_citizen_alerts(_alerts(engine), engine.rec, engine.store, links_for(engine.settings), ini,
                                   source=f"widget:{key.name}"[:80], frequency=body.frequency,
                                   depth=engine.settings.alerts_depth)
    except CitizenRefused as exc:
        raise ApiError(422, "alerts_refused", str(exc)) from exc
    return {"status": "pending", "message": "Un message de confirmation va être envoyé à l'adresse donnée."}
