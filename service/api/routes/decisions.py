"""Decisions about matches: outcomes (the labels that training learns from) and staff overrides."""

from typing import Annotated

from fastapi import Query

from matcher.schemas import Decision, ItemId, Outcome
from service.api.deps import EngineDep, ReaderKey, WriterKey
from service.api.routing import error, v1_router
from service.api_models import OutcomeIn, OverrideIn
from service.audit import record
from service.guard import ApiError

__all__ = ["router"]

router = v1_router("decisions")


@router.post("/outcomes", status_code=201, response_model=Outcome,
             summary="Record a decision about an (initiative, resource) pair",
             responses={404: error(404, "the initiative or the resource is unknown"),
                        409: error(409, "the outcome id is already used by another pair")})
def record_outcome(engine: EngineDep, key: WriterKey, body: OutcomeIn) -> Outcome:
    engine.store.get_initiative(body.initiative_id)
    engine.store.get_resource(body.resource_id, include_deleted=True)
    outcome = Outcome(id=body.id, initiative_id=body.initiative_id, resource_id=body.resource_id,
                      decision=Decision(body.decision), reason=body.reason, actor=body.actor, amount=body.amount,
                      source="api")
    if engine.store.append_outcomes([outcome]):
        record(engine.store, key, f"decision.{outcome.decision.value}", target_kind="initiative",
               target_id=body.initiative_id, detail={"resource_id": body.resource_id})
    stored = [o for o in engine.store.outcomes(initiative_id=body.initiative_id)
              if o.resource_id == body.resource_id]
    if body.id is None:
        return stored[-1]
    same = next((o for o in stored if o.id == body.id), None)
    if same is None:  # the id was taken by another (initiative, resource) pair: nothing was written
        raise ApiError(409, "outcome_id_taken",
                       f"l'identifiant de décision {body.id!r} est déjà utilisé pour un autre couple "
                       "(initiative, ressource)", details=[{"field": "id", "message": "already used"}])
    return same


@router.get("/outcomes", response_model=list[Outcome],
            summary="Decisions recorded, in the order they were recorded",
            description="Those of an initiative (`initiative_id`), of a resource (`resource_id`), of both, or "
                        "every decision when neither is given; `offset` and `limit` page through them.")
def list_outcomes(engine: EngineDep, _: ReaderKey, initiative_id: ItemId | None = None,
                  resource_id: ItemId | None = None, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 1000) -> list[Outcome]:
    # Neither id given answered 422 although the schema allowed it: it now lists every decision.
    return engine.store.outcomes(initiative_id=initiative_id, resource_id=resource_id, offset=offset, limit=limit)


@router.post("/initiatives/{initiative_id}/overrides", status_code=201, response_model=Outcome,
             summary="Pin a resource on top of an initiative's matches, or exclude it")
def override(engine: EngineDep, key: WriterKey, initiative_id: ItemId, body: OverrideIn) -> Outcome:
    engine.store.get_initiative(initiative_id)
    engine.store.get_resource(body.resource_id)
    outcome = Outcome(initiative_id=initiative_id, resource_id=body.resource_id,
                      decision=Decision.pinned if body.action == "pin" else Decision.excluded,
                      reason=body.reason, actor=body.actor, source="api")
    engine.store.append_outcomes([outcome])
    record(engine.store, key, f"override.{body.action}", target_kind="initiative", target_id=initiative_id,
           detail={"resource_id": body.resource_id})
    return engine.store.overrides_for(initiative_id)[body.resource_id]
