"""Domain schemas: initiatives, resources, providers, matches, eligibility checks, outcomes.

These pydantic v2 models are the boundary of Maillage: everything that enters (API, widget, CLI,
imports) is parsed into one of them, and every rejection names the field, what is allowed and the
value given (see :func:`describe_validation_error`). Territory codes are INSEE codes, canonicalised
on the way in by :mod:`matcher.territory`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from matcher._fields import (
    DAY_PATTERN,
    EMAIL_PATTERN,
    MAX_CAPACITY,
    MAX_DAY,
    MAX_DESCRIPTION_CHARS,
    MAX_THEMES,
    MAX_TITLE_CHARS,
    MIN_DAY,
    Amount,
    Capacity,
    Day,
    Description,
    ItemId,
    Rna,
    Siren,
    Siret,
    TerritoryCode,
    Theme,
    Title,
    utcnow,
)
from matcher._identifiers import IDENTIFIER_ERROR, siret_extends_siren
from matcher._json_types import refuse_nul
from matcher._vocabulary import (
    CheckStatus,
    Criterion,
    CumulationScope,
    Decision,
    LegalForm,
    Need,
    ProviderKind,
    Recurrence,
    ResourceKind,
    Stage,
)
from matcher.errors_fr import french_message

__all__ = [
    "DAY_PATTERN",
    "EMAIL_PATTERN",
    "MAX_CAPACITY",
    "MAX_DAY",
    "MAX_DESCRIPTION_CHARS",
    "MAX_THEMES",
    "MAX_TITLE_CHARS",
    "MIN_DAY",
    "Amount",
    "Capacity",
    "CheckStatus",
    "Criterion",
    "CumulationScope",
    "Day",
    "Decision",
    "Description",
    "EligibilityCheck",
    "Initiative",
    "InitiativeMatch",
    "ItemId",
    "LegalForm",
    "Match",
    "MatchQuery",
    "Need",
    "Outcome",
    "Provider",
    "ProviderKind",
    "Recurrence",
    "Resource",
    "ResourceKind",
    "Rna",
    "Siren",
    "Siret",
    "SourceRef",
    "Stage",
    "TerritoryCode",
    "Theme",
    "Title",
    "describe_validation_error",
    "utcnow",
]

# The enums live in matcher._vocabulary and the field types in matcher._fields; both are imported from here.


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=True)


class _Record(_Schema):
    """A schema that takes text from outside (records, queries): no NUL character in any of it (it was
    stored on SQLite and refused by PostgreSQL with a 500)."""

    _no_nul = field_validator("*", mode="before")(refuse_nul)


def _dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


SourceRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300,
                                             pattern=r"^[^:\s]+:\S")]
"""Where a record comes from: ``"<source>:<key in that source>"``, e.g. ``"aides-territoires:at-3d9e-recycler"``."""


# --- catalogue records -------------------------------------------------------------------------


class Provider(_Record):
    """A body that offers resources: ministry, agency, région, commune, operator, incubator…"""

    id: ItemId
    name: Title
    kind: ProviderKind = ProviderKind.autre
    acronym: Annotated[str, StringConstraints(max_length=40)] | None = None
    territory: TerritoryCode = "FR"
    url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://")] | None = None
    description: Description = ""
    source: Annotated[str, StringConstraints(max_length=80)] = "manual"


class Initiative(_Record):
    """A project carried by citizens, a collective, an association or a social-economy firm."""

    id: ItemId
    title: Title
    description: Description = ""
    themes: Annotated[list[Theme], Field(max_length=MAX_THEMES)] = []
    territory: TerritoryCode = "FR"
    legal_form: LegalForm | None = None
    stage: Stage | None = None
    needs: list[Need] = []
    amount_sought: Amount | None = None
    # Empty means not given, in the schema as on the server (matcher._fields: Siren, Siret, Rna).
    rna: Rna = None
    siren: Siren = None
    siret: Siret = None
    source: Annotated[str, StringConstraints(max_length=80)] = "manual"
    consent: bool = False
    # Personal data, kept only with consent (widget submissions) and never shown to partners.
    contact_email: Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)] | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    _dedupe_lists = field_validator("themes", "needs")(_dedupe)

    _siret_extends_siren = field_validator("siret")(siret_extends_siren)

    def text(self) -> str:
        """The text that represents this initiative for retrieval: title, description, themes."""
        parts = [self.title, self.description, " ".join(self.themes)]
        return "\n".join(p for p in parts if p)


class Resource(_Record):
    """A state resource: funding, call for projects, public-service need, support, data, expertise, premises."""

    id: ItemId
    kind: ResourceKind
    provider_id: ItemId
    title: Title
    description: Description = ""
    themes: Annotated[list[Theme], Field(max_length=MAX_THEMES)] = []
    coverage: Annotated[list[TerritoryCode], Field(min_length=1, max_length=500)] = ["FR"]
    eligible_legal_forms: list[LegalForm] = []
    eligible_stages: list[Stage] = []
    needs_covered: list[Need] = []
    amount_min: Amount | None = Field(default=None, description="euros; at most `amount_max` when both are given")
    amount_max: Amount | None = Field(default=None, description="euros; at least `amount_min` when both are given")
    opens_at: Day | None = None
    closes_at: Day | None = Field(default=None, description="on or after `opens_at` when both are given")
    recurrence: Recurrence = Recurrence.ponctuel
    capacity: Capacity | None = None
    url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://")] | None = None
    # Whom to ask when there is no page to apply from (an e-mail, a phone, an office); shown with matches.
    contact: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    last_verified: Day | None = None
    active: bool = True
    source: Annotated[str, StringConstraints(max_length=80)] = "manual"
    # What a real catalogue says that Maillage's criteria cannot hold: its eligibility conditions in
    # its own words (shown to staff as a clause to check), the perimeter it gave when no INSEE code
    # could be found for it (the territory check is then unknown), and every source describing this
    # resource ("source:key"; two once a duplicate from another catalogue has been merged in).
    eligibility_text: Description | None = None
    perimeter_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    source_refs: Annotated[list[SourceRef], Field(max_length=20)] = []
    # Non-cumulation, as the source states it: the resources this one cannot be combined with (either
    # direction is enough: a plan never holds both), a general rule when the source gives one, and the
    # source's own words. A plan (matcher.plan) respects the first two; the text is shown to staff.
    non_cumulable_with: Annotated[list[ItemId], Field(max_length=200)] = Field(
        default=[], description="ids of resources that cannot be combined with this one")
    cumulation_scope: CumulationScope | None = Field(
        default=None, description="a general rule: not cumulable with another regional aid, or with any other "
                                  "public aid, on the same expenses")
    cumulation_text: Description | None = Field(default=None, description="the source's words on cumulation")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    _dedupe_lists = field_validator(
        "themes", "coverage", "eligible_legal_forms", "eligible_stages", "needs_covered", "source_refs",
        "non_cumulable_with",
    )(_dedupe)

    @model_validator(mode="before")
    @classmethod
    def _drop_self_reference(cls, data: Any) -> Any:
        # A resource "not cumulable with itself" states nothing: the self-reference is dropped rather
        # than refused (the API fuzzer sent one). Anything malformed is left for the field validators.
        if isinstance(data, dict) and isinstance(data.get("non_cumulable_with"), list) and "id" in data:
            data = {**data, "non_cumulable_with": [x for x in data["non_cumulable_with"] if x != data["id"]]}
        return data

    @model_validator(mode="after")
    def _check_ranges(self) -> Resource:
        if self.amount_min is not None and self.amount_max is not None and self.amount_min > self.amount_max:
            raise ValueError(
                f"amount_min ({self.amount_min:g}) doit être inférieur ou égal à amount_max ({self.amount_max:g})"
            )
        if self.opens_at is not None and self.closes_at is not None and self.closes_at < self.opens_at:
            raise ValueError(
                f"closes_at ({self.closes_at.isoformat()}) doit être le même jour que opens_at "
                f"({self.opens_at.isoformat()}) ou après"
            )
        return self

    def text(self) -> str:
        """The text that represents this resource for retrieval: title, description, themes."""
        parts = [self.title, self.description, " ".join(self.themes)]
        return "\n".join(p for p in parts if p)

    def is_open(self, on: date) -> bool:
        """Whether applications are possible on ``on`` (permanent and undated resources are open)."""
        if not self.active:
            return False
        if self.recurrence is Recurrence.permanent:
            return True
        if self.closes_at is not None and self.closes_at < on:
            # An annual resource reopens: it stays a candidate, its next session is announced.
            return self.recurrence is Recurrence.annuel
        return True


class MatchQuery(_Record):
    """A free-text match request (widget, API, CLI): a project description and its context."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_DESCRIPTION_CHARS)]
    territory: TerritoryCode | None = None
    legal_form: LegalForm | None = None
    stage: Stage | None = None
    needs: list[Need] = []
    themes: Annotated[list[Theme], Field(max_length=MAX_THEMES)] = []
    amount_sought: Amount | None = None
    initiative_id: ItemId | None = None
    # A hard filter, not a preference (a partner portal that only lists calls for projects, say).
    kinds: list[ResourceKind] = Field(default=[], description="only resources of these kinds; empty: all")

    @classmethod
    def from_initiative(cls, initiative: Initiative) -> MatchQuery:
        # Title, description and themes together may exceed what a query holds: a stored initiative
        # is matched on the first MAX_DESCRIPTION_CHARS characters rather than refused.
        text = initiative.text()[:MAX_DESCRIPTION_CHARS]
        return cls(
            text=text if len(text.strip()) >= 3 else initiative.title + " — projet",
            territory=initiative.territory,
            legal_form=initiative.legal_form,
            stage=initiative.stage,
            needs=initiative.needs,
            themes=initiative.themes,
            amount_sought=initiative.amount_sought,
            initiative_id=initiative.id,
        )


# --- matches and outcomes ----------------------------------------------------------------------


class EligibilityCheck(_Schema):
    """One criterion checked for one match: passed / failed / unknown, and the clause that decided it."""

    criterion: Criterion
    status: CheckStatus
    clause: str
    near_miss: str | None = None


class Match(_Schema):
    """One suggested partnership, with everything needed to explain and reproduce it."""

    initiative_id: str | None = None
    resource_id: str
    title: str
    provider: str | None = None
    kind: str | None = None
    score: float | None = Field(description="the ranker's score; null for a resource pinned by staff, which is "
                                            "placed first whatever its score")
    rank: Annotated[int, Field(ge=1)]
    relevance: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, description="calibrated probability that the match is relevant; null without a calibration "
                                  "or for a pinned resource")
    relevance_label: Literal["forte", "moyenne", "faible"] | None = Field(
        default=None, description="the relevance as staff and citizens read it")
    features: dict[str, float] = {}
    checks: list[EligibilityCheck] = []
    reasons: list[str] = []
    near_misses: list[str] = []
    closes_at: date | None = None
    url: str | None = None
    contact: str | None = Field(default=None, description="whom to ask when the resource has no page of its own: "
                                "its contact, else its provider's address")
    last_verified: date | None = None
    verified: str | None = Field(default=None, description="« vérifiée le JJ/MM/AAAA », as shown")
    stale: bool = Field(default=False, description="last verified longer ago than the service's threshold, or never")
    stale_warning: str | None = Field(default=None, description="the French warning shown when stale")
    index_version: str | None = None
    model_version: str | None = None


class InitiativeMatch(_Schema):
    """One initiative suggested for a resource (the reverse direction)."""

    initiative_id: str
    title: str
    territory: str
    score: float
    rank: Annotated[int, Field(ge=1)]
    checks: list[EligibilityCheck] = []
    reasons: list[str] = []


class Outcome(_Record):
    """A decision on an initiative × resource pair. Stored append-only; ``id`` is assigned by the store
    unless given (imports give deterministic ids so that re-importing adds nothing)."""

    id: ItemId | None = None
    initiative_id: ItemId
    resource_id: ItemId
    decision: Decision
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    actor: Annotated[str, StringConstraints(max_length=120)] = "staff"
    source: Annotated[str, StringConstraints(max_length=80)] = "manual"
    amount: Amount | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    recorded_at: datetime = Field(default_factory=utcnow)


# --- errors ------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…'"


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One French line per problem: ``field : what is wrong (allowed …), reçu <value>``
    (:func:`matcher.errors_fr.french_message`; field names stay the schema's).

    The value given is shortened, so a 10 MB description never ends up in a log or a response.
    """
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(enregistrement)"
        given = "" if err["type"] in {"missing", IDENTIFIER_ERROR} else f", reçu {_short(err.get('input'))}"
        lines.append(f"{loc} : {french_message(err)}{given}")
    return lines
