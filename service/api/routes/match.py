"""Matching: a free-text project, a stored initiative (staff overrides applied), and the reverse view."""

from typing import Annotated

from fastapi import Body, Query

from matcher.explain import without_names
from matcher.schemas import ItemId, MatchQuery
from matcher.understanding import understand
from service.api.deps import EngineDep, MetricsDep, ReaderKey, WidgetKey
from service.api.routing import v1_router
from service.api_models import InitiativeMatches, IsoDate, MatchRequest, MatchResponse, UnderstoodItem
from service.keys import Role

__all__ = ["router"]

router = v1_router("match")


@router.post("/match", summary="Match a project described in free text", response_model=MatchResponse,
             description="The text is read for an amount sought, a territory, a legal form, needs and a stage "
                         "(`understood` in the response, each with its words); what is read fills only the "
                         "fields the request leaves empty. Correct a reading by sending the field, drop one "
                         "with `ignore_understood`.")
def match_text(engine: EngineDep, key: WidgetKey, metrics: MetricsDep, body: Annotated[MatchRequest, Body()],
               with_excluded: Annotated[bool, Query(description="also list hard failures (not for partner keys)")]
               = False) -> MatchResponse:
    given = MatchQuery(text=body.text, territory=body.territory, legal_form=body.legal_form, stage=body.stage,
                       needs=body.needs, themes=body.themes, amount_sought=body.amount_sought, kinds=body.kinds)
    read = understand(given, ignore=body.ignore_understood)
    served = engine.recommend(read.query, body.k, today=body.on,
                              with_excluded=with_excluded and key.role is not Role.partner)
    metrics.matches.labels("text", key.role.value).inc()
    if key.role is Role.partner:  # a public page: no other initiative is named
        for m in [*served.matches, *served.near_misses]:
            m.reasons = [without_names(r) for r in m.reasons]
    understood = [UnderstoodItem(field=i.field, value=i.value, text=i.text, start=i.start, end=i.end, label=i.label,
                                 ambiguous=i.ambiguous, alternatives=list(i.alternatives), used=read.is_used(i))
                  for i in read.understanding.items]
    return MatchResponse(matches=served.matches, excluded=served.excluded, index_version=served.index_version,
                         model_version=served.model_version, understood=understood, nothing_fits=served.nothing_fits,
                         near_misses=served.near_misses)


@router.post("/initiatives/{initiative_id}/match", response_model=MatchResponse,
             summary="Match a stored initiative (staff pins and exclusions applied)")
def match_initiative(engine: EngineDep, key: ReaderKey, metrics: MetricsDep, initiative_id: ItemId,
                     k: Annotated[int, Query(ge=1, le=50)] = 10, with_excluded: bool = False,
                     on: IsoDate | None = None) -> MatchResponse:
    ini = engine.store.get_initiative(initiative_id)
    served = engine.recommend(ini, k, today=on, with_excluded=with_excluded, staff_overrides=True)
    metrics.matches.labels("initiative", key.role.value).inc()
    return MatchResponse(matches=served.matches, excluded=served.excluded, index_version=served.index_version,
                         model_version=served.model_version, nothing_fits=served.nothing_fits,
                         near_misses=served.near_misses)


@router.get("/resources/{resource_id}/initiatives", response_model=InitiativeMatches,
            summary="Reverse match: the initiatives that fit a resource or public-service need")
def reverse(engine: EngineDep, _: ReaderKey, resource_id: ItemId, k: Annotated[int, Query(ge=1, le=50)] = 10,
            on: IsoDate | None = None) -> InitiativeMatches:
    engine.store.get_resource(resource_id)
    served = engine.recommend_initiatives(resource_id, k, today=on)
    return InitiativeMatches(resource_id=resource_id, matches=served.matches, index_version=served.index_version)
