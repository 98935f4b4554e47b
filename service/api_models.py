"""Request and response bodies of the HTTP API (``/v1``), with the examples shown in the OpenAPI docs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from matcher._json_types import iso_text as _iso_text
from matcher._json_types import json_typed as _json_typed
from matcher._json_types import refuse_nul
from matcher._json_types import scalar_kind as _scalar_kind
from matcher.plan import Plan
from matcher.schemas import (
    EMAIL_PATTERN,
    MAX_DESCRIPTION_CHARS,
    Amount,
    Day,
    Initiative,
    InitiativeMatch,
    ItemId,
    LegalForm,
    Match,
    MatchQuery,
    Need,
    Provider,
    Resource,
    ResourceKind,
    Stage,
    TerritoryCode,
    Theme,
)
from matcher.understanding import FIELDS as UNDERSTOOD_FIELDS
from matcher.understanding import Field as UnderstoodField

__all__ = [
    "ImportResult", "IndexStatus", "InitiativeIn", "InitiativeMatches", "IsoDate", "KeyInfo", "MatchRequest",
    "MatchResponse", "ModelInfo", "OutcomeIn", "OverrideIn", "Page", "PlanLeftOut", "PlanResponse", "PlanStepOut",
    "ProviderIn", "ResourceIn", "SearchIn",
    "TerritoryHit",
    "UnderstoodItem", "WidgetInitiative",
]

T = TypeVar("T")

# Bodies are checked against the JSON types their OpenAPI schema declares (matcher._json_types, the rule
# the importer applies too): pydantic alone would read ``"12"`` as a number or ``0`` as 1970-01-01.
IsoDate = Annotated[date, BeforeValidator(lambda v: _iso_text(v, date))]
IsoDay = Annotated[Day, BeforeValidator(lambda v: _iso_text(v, date))]
"""A :data:`matcher.schemas.Day` (1900 to 2199) sent as ISO text."""


# What pydantic trims from strings (Unicode White_Space), spelled out: ``\s`` means something else in
# each regex dialect (JSON Schema's, Python's, Rust's).
_SPACE = r"\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


_NO_NUL = "[^\\x00]"
"""Any character but U+0000, which no text may hold (:func:`matcher._json_types.refuse_nul`)."""


def _not_blank(length: int) -> str:
    """A JSON Schema pattern: at least ``length`` characters once spaces are trimmed from both ends,
    and no NUL anywhere."""
    edge = f"[^{_SPACE}\\x00]"
    if length <= 1:
        return f"^{_NO_NUL}*{edge}{_NO_NUL}*$"
    return f"^{_NO_NUL}*{edge}{_NO_NUL}{{{length - 2},}}{edge}{_NO_NUL}*$"


# Patterns of the records that a NUL would still match, as the schema states them (the server refuses
# NUL in every text anyway; ids and days already exclude it).
_WITHOUT_NUL = {r"^https?://": f"^https?://{_NO_NUL}*$",
                EMAIL_PATTERN: EMAIL_PATTERN.replace("[^@", "[^\\x00@")}


def _document_text_rules(schema: dict[str, Any]) -> None:
    """Say in the schema what the server checks of every text: it is trimmed before its length is
    checked (a pattern where the schema only gives ``minLength``: a title of one space is refused
    although it is one character long), and it holds no NUL character (refused since issue 17)."""
    for prop in schema.get("properties", {}).values():
        for option in [prop, prop.get("items", {}), *prop.get("anyOf", [])]:
            for target in (option, option.get("items", {})):
                if target.get("type") != "string" or "enum" in target or "const" in target:
                    continue
                if "pattern" in target:
                    target["pattern"] = _WITHOUT_NUL.get(target["pattern"], target["pattern"])
                elif target.get("minLength"):
                    target["pattern"] = _not_blank(target["minLength"])
                elif target.get("format") not in ("date", "date-time"):
                    target["pattern"] = f"^{_NO_NUL}*$"


def _body_schema(*examples: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a request body: the text rules' patterns, and the examples shown in the docs."""

    def extra(schema: dict[str, Any]) -> None:
        _document_text_rules(schema)
        if examples:
            schema["examples"] = list(examples)

    return extra


class _JsonTyped(BaseModel):
    """Mixin for request bodies: numbers, booleans and dates must come as the JSON types (and ISO text)
    that the schema declares; strings are trimmed, as in the catalogue's records. A subclass that sets
    its own ``json_schema_extra`` passes it through :func:`_body_schema`."""

    model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra=_body_schema())

    @field_validator("*", mode="before")
    @classmethod
    def _declared_json_type(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kind = _scalar_kind(field.annotation) if field is not None else None
        return refuse_nul(value) if kind is None or value is None else _json_typed(value, kind)


class InitiativeIn(_JsonTyped, Initiative):
    """An initiative as written through the API (JSON types as declared, dates as ISO text)."""


class ResourceIn(_JsonTyped, Resource):
    """A resource as written through the API: JSON types as declared, ``amount_min`` ≤ ``amount_max``,
    ``opens_at`` ≤ ``closes_at``, and ``provider_id`` naming a stored provider (404 otherwise)."""


class ProviderIn(_JsonTyped, Provider):
    """A provider as written through the API."""


class SearchIn(_JsonTyped, MatchQuery):
    """A saved search of an alert subscription (``/v1/subscriptions``): a match query, JSON types as declared."""

    model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra=_body_schema())

FREE_TEXT_EXAMPLE = {
    "text": "Recyclerie solidaire et atelier de réparation de vélos pour les habitants du quartier",
    "territory": "93066",
    "legal_form": "association",
    "stage": "idee",
    "needs": ["financement", "lieu"],
    "k": 5,
}

# Nothing but the text: the amount, the place, the legal form, the need and the stage are read from it.
READ_TEXT_EXAMPLE = {
    "text": "Notre association anime un jardin partagé à Brest depuis 2019 ; il nous manque 18 000 euros "
            "pour construire une serre.",
    "k": 5,
}


class MatchRequest(_JsonTyped):
    """A project described in free text, with what is known of its holder."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_body_schema(FREE_TEXT_EXAMPLE, READ_TEXT_EXAMPLE))

    text: Annotated[str, Field(min_length=3, max_length=MAX_DESCRIPTION_CHARS,
                               description="the project, in the citizen's words; an amount sought, a territory, a "
                                           "legal form, needs and a stage are read from it (see `understood`)")]
    territory: TerritoryCode | None = Field(default=None, description="INSEE code: commune, département, "
                                            "région (R11) or FR")
    legal_form: LegalForm | None = None
    stage: Stage | None = None
    needs: list[Need] = Field(default=[], max_length=len(Need))
    themes: Annotated[list[Theme], Field(max_length=20)] = []
    amount_sought: Amount | None = None
    kinds: list[ResourceKind] = Field(default=[], max_length=len(ResourceKind),
                                      description="only resources of these kinds (a partner's preset); empty: all")
    k: Annotated[int, Field(ge=1, le=50)] = 10
    on: IsoDay | None = Field(
        default=None, description="date deciding what is open (default: today), between 1900-01-01 and 2199-12-31")
    ignore_understood: list[UnderstoodField] = Field(
        default=[], max_length=len(UNDERSTOOD_FIELDS),
        description="fields read from the text that must not be used (a reading the citizen corrected by "
                    "removing it); to replace a reading, send the field itself: an explicit field always wins")


class UnderstoodItem(BaseModel):
    """One thing read from the text, with the words that say it."""

    field: UnderstoodField
    value: float | str = Field(description="euros for amount_sought, an INSEE code for territory, an enum value "
                                           "for legal_form, stage and needs (one item per need)")
    text: str = Field(description="the words of the text that say it (text[start:end])")
    start: int
    end: int
    label: str = Field(description="what to show, in French")
    ambiguous: bool = Field(default=False, description="a commune name several communes bear, chosen without "
                                                       "evidence of its département: to check")
    alternatives: list[str] = Field(default=[], description="the other communes of that name (INSEE codes)")
    used: bool = Field(description="true when it filled a field of the query; false when the request gave that "
                                   "field itself, or asked to ignore it")


class MatchResponse(BaseModel):
    matches: list[Match]
    excluded: list[Match] = Field(default=[], description="hard failures, when asked for (staff only)")
    index_version: str
    model_version: str
    understood: list[UnderstoodItem] = Field(
        default=[], description="what was read from the free text (free-text matches only): the fields the request "
                                "left empty are filled from it")
    nothing_fits: bool = Field(default=False, description="true when no match reaches the calibrated relevance "
                                                          "threshold (or none is eligible): say that nothing fits well")
    near_misses: list[Match] = Field(default=[], description="when nothing fits: resources that fail a criterion by "
                                                              "little, each with what would open it")


class PlanStepOut(BaseModel):
    """One resource of a plan, in the order to apply in."""

    order: int = Field(ge=1, description="1 = apply first (soonest deadline); resources without one come last")
    resource_id: str
    title: str
    covers: list[Need] = Field(description="the needs it is in the plan for; empty: there for the amount sought")
    amount_max: float | None = Field(description="euros, the most its source says it gives; null: not given "
                                                 "or not a funding")
    deadline: date | None = Field(description="the date to apply by; null: none to meet (rolling, permanent, or "
                                              "an annual session yet to be announced)")
    explanation: list[str] = Field(description="in French: what it covers, its amount, its deadline, what to check")
    match: Match = Field(description="the match it comes from, with its checks and reasons")


class PlanLeftOut(BaseModel):
    """A match the plan did not take although it would have added something, and why."""

    resource_id: str
    title: str
    rank: int
    reason: str = Field(description="in French, e.g. « écartée : « A » n'est pas cumulable avec « B » … »")


class PlanResponse(BaseModel):
    """Compatible resources that together cover the needs and the amount sought, in the order to apply in."""

    steps: list[PlanStepOut]
    left_out: list[PlanLeftOut]
    needs: list[Need] = Field(description="the needs the plan aims at (every kind of help offered when none is given)")
    uncovered: list[Need]
    amount_sought: float | None
    amount_covered: float = Field(description="euros: the sum of the maximum amounts its fundings state")
    summary: list[str] = Field(description="in French")
    index_version: str
    model_version: str
    understood: list[UnderstoodItem] = Field(default=[], description="what was read from the free text (free-text "
                                                                     "plans only), as in `/v1/match`")

    @classmethod
    def of(cls, plan: Plan, index_version: str, model_version: str,
           understood: list[UnderstoodItem] | None = None) -> PlanResponse:
        steps = [PlanStepOut(order=s.order, resource_id=s.match.resource_id, title=s.match.title, covers=list(s.covers),
                             amount_max=s.amount_max, deadline=s.deadline, explanation=list(s.explanation),
                             match=s.match) for s in plan.steps]
        left = [PlanLeftOut(resource_id=x.resource_id, title=x.title, rank=x.rank, reason=x.reason)
                for x in plan.left_out]
        return cls(steps=steps, left_out=left, needs=list(plan.needs), uncovered=list(plan.uncovered),
                   amount_sought=plan.amount_sought, amount_covered=plan.amount_covered, summary=list(plan.summary),
                   index_version=index_version, model_version=model_version, understood=understood or [])


class InitiativeMatches(BaseModel):
    resource_id: str
    matches: list[InitiativeMatch]
    index_version: str


class Page(BaseModel, Generic[T]):
    """One page of a listing; ask again with ``offset=next_offset`` while it is not null."""

    items: list[T]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class OutcomeIn(_JsonTyped):
    """A decision about an (initiative, resource) pair: becomes a training label."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_body_schema({
        "initiative_id": "ini-0001", "resource_id": "res-0001", "decision": "shortlisted",
        "reason": "Projet solide, dossier à compléter", "actor": "c.martin",
    }))

    id: ItemId | None = Field(default=None, description="idempotency: an id already recorded is not added twice")
    initiative_id: ItemId
    resource_id: ItemId
    decision: Literal["contacted", "shortlisted", "applied", "obtained", "refused", "dismissed"]
    reason: Annotated[str, Field(max_length=2000)] | None = None
    actor: Annotated[str, Field(min_length=1, max_length=120)] = "staff"
    amount: Amount | None = None


class OverrideIn(_JsonTyped):
    """Pin a resource on top of an initiative's matches, or exclude it, with the reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_body_schema({
        "resource_id": "res-0001", "action": "pin", "reason": "Vu en comité le 12/11", "actor": "c.martin",
    }))

    resource_id: ItemId
    action: Literal["pin", "exclude"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    actor: Annotated[str, Field(min_length=1, max_length=120)] = "staff"


class WidgetInitiative(_JsonTyped):
    """A project submitted from a partner's widget, stored only with the citizen's consent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_body_schema({
        "title": "Recyclerie du quartier", "description": FREE_TEXT_EXAMPLE["text"], "territory": "93066",
        "legal_form": "association", "stage": "idee", "needs": ["financement"], "consent": True,
    }))

    title: Annotated[str, Field(min_length=3, max_length=300)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    territory: TerritoryCode = "FR"
    legal_form: LegalForm | None = None
    stage: Stage | None = None
    needs: list[Need] = Field(default=[], max_length=len(Need))
    contact_email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    # Only ``true`` is accepted (422 ``consent_required`` otherwise); the schema says so with ``const``.
    consent: bool = Field(description="the citizen ticked the consent box; nothing is stored otherwise",
                          json_schema_extra={"const": True})


class ImportResult(BaseModel):
    read: dict[str, int]
    inserted: dict[str, int]
    updated: dict[str, int]
    rejected: int
    errors: list[str]


class IndexStatus(BaseModel):
    version: str
    resources: int
    encoder: str
    built_at: str
    live_changes: int
    rebuilding: bool
    stale: bool
    repaired_at_start: str | None
    last_rebuild_error: str | None
    fallback_from: str | None = Field(None, description="the published snapshot refused at start when an older "
                                      "one is served instead (corrupt, and no new one could be written)")
    note: str | None = Field(None, description="what staff should know about the served index, in French")


class ModelInfo(BaseModel):
    version: str
    kind: str | None
    encoder: str
    served: bool
    metrics: dict[str, Any]


class KeyInfo(BaseModel):
    id: str
    name: str
    role: str
    origins: list[str]


class TerritoryHit(BaseModel):
    code: str
    name: str | None
    postcode: str | None
    departement: str | None
    label: str


class CreatedInitiative(BaseModel):
    initiative: Initiative
    matches: list[Match]
