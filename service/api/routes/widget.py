"""The widget's own endpoints: commune autocompletion and a project stored with the citizen's consent."""

import secrets
from typing import Annotated

from fastapi import Query, Request

from matcher import territory
from matcher.schemas import Initiative
from service.admission import SHED, admitted
from service.api.deps import EngineDep, PartnerKey, WidgetKey
from service.api.routing import v1_router
from service.api_models import CreatedInitiative, TerritoryHit, WidgetInitiative
from service.engine import Engine
from service.guard import ApiError

__all__ = ["router"]

router = v1_router("widget")


@router.get("/territories", response_model=list[TerritoryHit],
            summary="Commune autocompletion on INSEE data (name or postcode prefix)")
def territories(_: WidgetKey, q: Annotated[str, Query(min_length=1, max_length=80)],
                limit: Annotated[int, Query(ge=1, le=20)] = 8) -> list[TerritoryHit]:
    hits = territory.search_communes(q, limit)
    # The département's name tells homonyms apart: there are a dozen Sainte-Colombe.
    return [TerritoryHit(code=t.code, name=t.name, postcode=t.postcode, departement=t.departement,
                         label=_label(t)) for t in hits]


def _label(t: territory.Territory) -> str:
    """``"Saint-Denis (93200, Seine-Saint-Denis)"``, or without the postcode when it has none."""
    dep = territory.parse_territory(t.departement).name if t.departement else None
    return f"{t.name} ({', '.join(p for p in (t.postcode, dep) if p)})"


@router.post("/widget/initiatives", status_code=201, response_model=CreatedInitiative,
             summary="Store a project submitted from the widget, with the citizen's consent",
             description="Partner keys only: staff record initiatives through `POST /v1/initiatives`.",
             responses=SHED)
async def widget_initiative(request: Request, engine: EngineDep, key: PartnerKey,
                            body: WidgetInitiative) -> CreatedInitiative:
    if not body.consent:
        raise ApiError(422, "consent_required", "rien n'est enregistré sans le consentement de la personne",
                       details=[{"field": "consent", "message": "doit être vrai (case cochée)"}])
    # Through admission control like any match, but once started it runs to its end: a 503 after the
    # write would invite the citizen to submit twice.
    return await admitted(request, key.id, len(body.title) + len(body.description),
                          lambda: _store_and_match(engine, key.name, body), interruptible=False)


def _store_and_match(engine: Engine, key_name: str, body: WidgetInitiative) -> CreatedInitiative:
    ini = Initiative(
        id=f"web-{secrets.token_hex(8)}", title=body.title, description=body.description,
        territory=body.territory, legal_form=body.legal_form, stage=body.stage, needs=body.needs,
        consent=True, contact_email=body.contact_email,
        source=f"widget:{key_name}"[:80],
    )
    engine.upsert_initiatives([ini])
    served = engine.recommend(ini, 5)
    return CreatedInitiative(initiative=ini.model_copy(update={"contact_email": None}), matches=served.matches)
