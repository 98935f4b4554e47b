"""Plans: compatible resources covering a project's needs and amount, in the order to apply in
(:mod:`matcher.plan`), for a free-text project and for a stored initiative."""

import contextlib
from datetime import date
from typing import Annotated

import numpy as np
from fastapi import Body, Request

from indexes.batching import BatcherClosed
from matcher.explain import without_names
from matcher.schemas import ItemId
from service.admission import SHED, admitted
from service.api.deps import EngineDep, ReaderKey, WidgetKey
from service.api.routes.match import read_request, understood_items
from service.api.routing import v1_router
from service.api_models import IsoDate, MatchRequest, PlanResponse
from service.engine import Engine
from service.keys import ApiKey, Role

__all__ = ["router"]

router = v1_router("plan")

# Admitted and encoded exactly as a match (service.api.routes.match): a plan reads one ranked list.


@router.post("/plan", summary="Plan for a project described in free text", response_model=PlanResponse,
             description="The body is `/v1/match`'s, read the same way (`understood`); `k` is not used: the plan "
                         "is chosen among the first 12 matches. Steps are compatible resources (eligible, none "
                         "non-cumulable with another) covering the needs and the amount sought, soonest deadline "
                         "first, each explained in French.", responses=SHED)
async def plan_text(request: Request, engine: EngineDep, key: WidgetKey,
                    body: Annotated[MatchRequest, Body()]) -> PlanResponse:
    encoded: list[np.ndarray] = []

    async def encode() -> None:
        with contextlib.suppress(BatcherClosed):
            encoded.append(await engine.encode_query(body.text))

    return await admitted(request, key.id, len(body.text), lambda: _plan_text(engine, key, body, encoded),
                          before=encode)


def _plan_text(engine: Engine, key: ApiKey, body: MatchRequest, encoded: list[np.ndarray]) -> PlanResponse:
    read = read_request(body)
    vector = encoded[0] if encoded and read.query.text == body.text else None
    served = engine.plan(read.query, today=body.on, query_vector=vector)
    response = PlanResponse.of(served.plan, served.index_version, served.model_version, understood_items(read))
    if key.role is Role.partner:  # a public page: no other initiative is named
        for step in response.steps:
            step.match.reasons = [without_names(r) for r in step.match.reasons]
    return response


@router.post("/initiatives/{initiative_id}/plan", response_model=PlanResponse, responses=SHED,
             summary="Plan for a stored initiative (staff pins and exclusions applied)")
async def plan_initiative(request: Request, engine: EngineDep, key: ReaderKey, initiative_id: ItemId,
                          on: IsoDate | None = None) -> PlanResponse:
    return await admitted(request, key.id, 0, lambda: _plan_initiative(engine, initiative_id, on))


def _plan_initiative(engine: Engine, initiative_id: str, on: date | None) -> PlanResponse:
    ini = engine.store.get_initiative(initiative_id)
    served = engine.plan(ini, today=on, staff_overrides=True)
    return PlanResponse.of(served.plan, served.index_version, served.model_version)
