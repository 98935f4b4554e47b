"""Request and response bodies of the HTTP API (``/v1``), with the examples shown in the OpenAPI docs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from matcher.schemas import (
    MAX_DESCRIPTION_CHARS,
    Amount,
    Initiative,
    InitiativeMatch,
    ItemId,
    LegalForm,
    Match,
    Need,
    ResourceKind,
    Stage,
    TerritoryCode,
    Theme,
)

__all__ = [
    "ImportResult", "IndexStatus", "InitiativeMatches", "KeyInfo", "MatchRequest", "MatchResponse", "ModelInfo",
    "OutcomeIn", "OverrideIn", "Page", "TerritoryHit", "WidgetInitiative",
]

T = TypeVar("T")

FREE_TEXT_EXAMPLE = {
    "text": "Recyclerie solidaire et atelier de réparation de vélos pour les habitants du quartier",
    "territory": "93066",
    "legal_form": "association",
    "stage": "lancement",
    "needs": ["financement", "local"],
    "k": 5,
}


class MatchRequest(BaseModel):
    """A project described in free text, with what is known of its holder."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FREE_TEXT_EXAMPLE]})

    text: Annotated[str, Field(min_length=3, max_length=MAX_DESCRIPTION_CHARS,
                               description="the project, in the citizen's words")]
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
    on: date | None = Field(default=None, description="date deciding what is open (default: today)")


class MatchResponse(BaseModel):
    matches: list[Match]
    excluded: list[Match] = Field(default=[], description="hard failures, when asked for (staff only)")
    index_version: str
    model_version: str


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


class OutcomeIn(BaseModel):
    """A decision about an (initiative, resource) pair: becomes a training label."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "initiative_id": "ini-0001", "resource_id": "res-0001", "decision": "shortlisted",
        "reason": "Projet solide, dossier à compléter", "actor": "c.martin",
    }]})

    id: ItemId | None = Field(default=None, description="idempotency: an id already recorded is not added twice")
    initiative_id: ItemId
    resource_id: ItemId
    decision: Literal["contacted", "shortlisted", "applied", "obtained", "refused", "dismissed"]
    reason: Annotated[str, Field(max_length=2000)] | None = None
    actor: Annotated[str, Field(min_length=1, max_length=120)] = "staff"
    amount: Amount | None = None


class OverrideIn(BaseModel):
    """Pin a resource on top of an initiative's matches, or exclude it, with the reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "resource_id": "res-0001", "action": "pin", "reason": "Vu en comité le 12/11", "actor": "c.martin",
    }]})

    resource_id: ItemId
    action: Literal["pin", "exclude"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    actor: Annotated[str, Field(min_length=1, max_length=120)] = "staff"


class WidgetInitiative(BaseModel):
    """A project submitted from a partner's widget, stored only with the citizen's consent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "Recyclerie du quartier", "description": FREE_TEXT_EXAMPLE["text"], "territory": "93066",
        "legal_form": "association", "stage": "lancement", "needs": ["financement"], "consent": True,
    }]})

    title: Annotated[str, Field(min_length=3, max_length=300)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    territory: TerritoryCode = "FR"
    legal_form: LegalForm | None = None
    stage: Stage | None = None
    needs: list[Need] = Field(default=[], max_length=len(Need))
    contact_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    consent: bool = Field(description="the citizen ticked the consent box; nothing is stored otherwise")


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
