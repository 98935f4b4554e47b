"""Matching: a free-text project, a stored initiative (staff overrides applied), and the reverse view."""

import contextlib
from datetime import date
from typing import Annotated

import numpy as np
from fastapi import Body, Query, Request

from indexes.batching import BatcherClosed
from matcher.deadline import checkpoint
from matcher.explain import without_names
from matcher.schemas import ItemId, MatchQuery
from matcher.understanding import UnderstoodQuery, understand
from service.admission import SHED, admitted
from service.api.deps import EngineDep, MetricsDep, ReaderKey, WidgetKey
from service.api.routing import v1_router
from service.api_models import InitiativeMatches, IsoDate, MatchRequest, MatchResponse, UnderstoodItem
from service.engine import Engine
from service.guard import Metrics
from service.keys import ApiKey, Role

__all__ = ["read_request", "router", "understood_items"]

router = v1_router("match")

# Every match runs through admission control (service.admission): in its bounded thread pool, at a
# cost counted from the text it reads, stopped between stages when abandoned. The routes are async so
# that no request waits for a thread of the shared pool; only admitted work takes one of the gate's.
# A free text is encoded first, on the event loop, in a batch with the other requests' texts
# (indexes.batching): waiting for its batch holds no thread.


@router.post("/match", summary="Match a project described in free text", response_model=MatchResponse,
             description="The text is read for an amount sought, a territory, a legal form, needs and a stage "
                         "(`understood` in the response, each with its words); what is read fills only the "
                         "fields the request leaves empty. Correct a reading by sending the field, drop one "
                         "with `ignore_understood`.", responses=SHED)
async def match_text(request: Request, engine: EngineDep, key: WidgetKey, metrics: MetricsDep,
                     body: Annotated[MatchRequest, Body()],
                     with_excluded: Annotated[bool, Query(description="also list hard failures (not for partner "
                                                                      "keys)")] = False) -> MatchResponse:
    encoded: list[np.ndarray] = []

    async def encode() -> None:  # batched with the other requests' texts, holding no thread meanwhile
        with contextlib.suppress(BatcherClosed):  # shutting down: the thread encodes it alone
            encoded.append(await engine.encode_query(body.text))

    return await admitted(request, key.id, len(body.text),
                          lambda: _match_text(engine, key, metrics, body, with_excluded, encoded), before=encode)


def _match_text(engine: Engine, key: ApiKey, metrics: Metrics, body: MatchRequest, with_excluded: bool,
                encoded: list[np.ndarray]) -> MatchResponse:
    read = read_request(body)
    vector = encoded[0] if encoded and read.query.text == body.text else None
    served = engine.recommend(read.query, body.k, today=body.on,
                              with_excluded=with_excluded and key.role is not Role.partner, query_vector=vector)
    metrics.matches.labels("text", key.role.value).inc()
    if key.role is Role.partner:  # a public page: no other initiative is named
        for m in [*served.matches, *served.near_misses]:
            m.reasons = [without_names(r) for r in m.reasons]
    return MatchResponse(matches=served.matches, excluded=served.excluded, index_version=served.index_version,
                         model_version=served.model_version, understood=understood_items(read),
                         nothing_fits=served.nothing_fits, near_misses=served.near_misses)


def read_request(body: MatchRequest) -> UnderstoodQuery:
    """The query a free-text request asks for: its fields, and what its text says for those it leaves empty."""
    given = MatchQuery(text=body.text, territory=body.territory, legal_form=body.legal_form, stage=body.stage,
                       needs=body.needs, themes=body.themes, amount_sought=body.amount_sought, kinds=body.kinds)
    read = understand(given, ignore=body.ignore_understood)
    checkpoint()
    return read


def understood_items(read: UnderstoodQuery) -> list[UnderstoodItem]:
    """What was read from the text, as the responses show it."""
    return [UnderstoodItem(field=i.field, value=i.value, text=i.text, start=i.start, end=i.end, label=i.label,
                           ambiguous=i.ambiguous, alternatives=list(i.alternatives), used=read.is_used(i))
            for i in read.understanding.items]


@router.post("/initiatives/{initiative_id}/match", response_model=MatchResponse,
             summary="Match a stored initiative (staff pins and exclusions applied)", responses=SHED)
async def match_initiative(request: Request, engine: EngineDep, key: ReaderKey, metrics: MetricsDep,
                           initiative_id: ItemId, k: Annotated[int, Query(ge=1, le=50)] = 10,
                           with_excluded: bool = False, on: IsoDate | None = None) -> MatchResponse:
    # A stored initiative's text is read in the thread: it costs one unit (its vector is cached).
    return await admitted(request, key.id, 0,
                          lambda: _match_initiative(engine, key, metrics, initiative_id, k, with_excluded, on))


def _match_initiative(engine: Engine, key: ApiKey, metrics: Metrics, initiative_id: str, k: int,
                      with_excluded: bool, on: date | None) -> MatchResponse:
    ini = engine.store.get_initiative(initiative_id)
    served = engine.recommend(ini, k, today=on, with_excluded=with_excluded, staff_overrides=True)
    metrics.matches.labels("initiative", key.role.value).inc()
    return MatchResponse(matches=served.matches, excluded=served.excluded, index_version=served.index_version,
                         model_version=served.model_version, nothing_fits=served.nothing_fits,
                         near_misses=served.near_misses)


@router.get("/resources/{resource_id}/initiatives", response_model=InitiativeMatches,
            summary="Reverse match: the initiatives that fit a resource or public-service need", responses=SHED)
async def reverse(request: Request, engine: EngineDep, key: ReaderKey, resource_id: ItemId,
                  k: Annotated[int, Query(ge=1, le=50)] = 10, on: IsoDate | None = None) -> InitiativeMatches:
    engine.initiatives.get()  # 503 at once while the initiative index is first being built (no thread taken)
    return await admitted(request, key.id, 0, lambda: _reverse(engine, resource_id, k, on))


def _reverse(engine: Engine, resource_id: str, k: int, on: date | None) -> InitiativeMatches:
    engine.store.get_resource(resource_id)
    served = engine.recommend_initiatives(resource_id, k, today=on)
    return InitiativeMatches(resource_id=resource_id, matches=served.matches, index_version=served.index_version)
