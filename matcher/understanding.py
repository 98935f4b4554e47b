"""What Maillage understands from a project's free text: the amount sought, the territory, the legal
form, the needs and the stage, each with the words that say it.

A deterministic, rule-based French reader (regular expressions and small lexicons, no model): the
same text always gives the same reading, and every item carries its evidence span so that a person
can check it. Precision comes first: a wrong field is worse than a missing one, so each reader
needs a cue (see :mod:`matcher._reading_amounts`, :mod:`matcher._reading_places` and
:mod:`matcher._reading_lexicon` for the rules), and a text with none reads as nothing.

Only the first :data:`MAX_READ_CHARS` characters are read (a match query holds at most that many): a
10 MB text costs what 20,000 characters cost.

What is read fills only what the query leaves empty (:func:`apply_understanding`): an explicit field
always wins, the needs read are used only when the query gives none, and a field named in ``ignore``
is not used at all. So a reading is corrected by sending the field explicitly, and dropped by
naming it in ``ignore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from matcher import labels, territory
from matcher._reading_amounts import read_amount
from matcher._reading_lexicon import read_legal_form, read_needs, read_stage
from matcher._reading_places import common_territory, read_places
from matcher.schemas import MAX_DESCRIPTION_CHARS, LegalForm, MatchQuery, Need, Stage
from matcher.territory import TerritoryError

__all__ = ["FIELDS", "MAX_READ_CHARS", "Field", "Understanding", "Understood", "UnderstoodQuery",
           "apply_understanding", "read_text", "understand"]

Field = Literal["amount_sought", "territory", "legal_form", "needs", "stage"]
FIELDS: tuple[Field, ...] = ("amount_sought", "territory", "legal_form", "needs", "stage")
MAX_READ_CHARS = MAX_DESCRIPTION_CHARS
MAX_AMOUNT = 1e12  # the bound of an amount in a query (``matcher.schemas.Amount``)
_SHOWN_CHARS = 120  # longest evidence quoted in a label


@dataclass(frozen=True)
class Understood:
    """One thing read from the text.

    ``value``: euros (float) for ``amount_sought``; a canonical INSEE code for ``territory``; an enum
    value for ``legal_form``, ``stage`` and ``needs`` (one item per need). ``text == source[start:end]``
    is the evidence. ``ambiguous`` with ``alternatives`` (other codes) when a homonym commune was
    chosen without evidence of its département. ``label`` is the French line shown to people.
    """

    field: Field
    value: float | str
    start: int
    end: int
    text: str
    label: str
    ambiguous: bool = False
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Understanding:
    """Everything read from one text, in the order of :data:`FIELDS`."""

    items: tuple[Understood, ...] = ()
    truncated: bool = False  # the text was longer than MAX_READ_CHARS; the rest was not read

    def get(self, field: Field) -> Understood | None:
        """The first item of ``field``, or None."""
        return next((item for item in self.items if item.field == field), None)

    def values(self, field: Field) -> list[float | str]:
        return [item.value for item in self.items if item.field == field]

    def __bool__(self) -> bool:
        return bool(self.items)


def _euros(x: float) -> str:
    text = f"{x:,.2f}".rstrip("0").rstrip(".") if x != int(x) else f"{x:,.0f}"
    return text.replace(",", "\u202f").replace(".", ",") + " €"


def _place(code: str) -> str:
    t = territory.parse_territory(code)
    return f"{t.name} ({code})" if t.name else code


def _quote(text: str) -> str:
    shown = " ".join(text.split())
    return shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS - 1].rstrip() + "…"


def _item(source: str, field: Field, value: float | str, start: int, end: int, *,
          ambiguous: bool = False, alternatives: tuple[str, ...] = ()) -> Understood:
    if field == "amount_sought":
        what = f"montant recherché : {_euros(float(value))}"
    elif field == "territory":
        what = f"territoire : {_place(str(value))}"
        if ambiguous:
            what += " — plusieurs communes portent ce nom, à vérifier (aussi : " + \
                ", ".join(_place(c) for c in alternatives) + ")"
    elif field == "legal_form":
        what = f"type de structure : {labels.LEGAL_FORM[LegalForm(str(value))]}"
    elif field == "stage":
        what = f"stade du projet : {labels.STAGE[Stage(str(value))]}"
    else:
        what = f"besoin : {labels.NEED[Need(str(value))]}"
    text = source[start:end]
    return Understood(field, value, start, end, text, f"{what} (« {_quote(text)} »)", ambiguous, alternatives)


def read_text(text: str, *, departement_hint: str | None = None) -> Understanding:
    """Read a project's French free text (see the module docstring).

    ``departement_hint`` (a département code, or any code inside one, e.g. a partner's default
    territory) decides between homonym communes when the text itself does not; it never makes a
    territory by itself. Only the first :data:`MAX_READ_CHARS` characters are read.
    """
    source = text[:MAX_READ_CHARS] if isinstance(text, str) else ""
    hint = None
    if departement_hint:
        try:
            hint = territory.departement_of(departement_hint)
        except TerritoryError:
            hint = None
    items: list[Understood] = []
    amount = read_amount(source)
    if amount is not None and not 0 < amount.value <= MAX_AMOUNT:
        amount = None  # "1 000 000 000 000 000 €" is a typo or a joke, not a sum any resource covers
    if amount is not None:
        items.append(_item(source, "amount_sought", amount.value, amount.start, amount.end))
    places = read_places(source, departement_hint=hint)
    code = common_territory(places)
    if code is not None:
        named = [p for p in places if p.code == code] or places
        start, end = min(p.start for p in places), max(p.end for p in places)
        if len(named) == 1 or end - start > _SHOWN_CHARS:
            start, end = named[0].start, named[0].end
        first = named[0]
        items.append(_item(source, "territory", code, start, end, ambiguous=first.ambiguous and first.code == code,
                           alternatives=first.alternatives if first.code == code else ()))
    form = read_legal_form(source)
    if form is not None:
        items.append(_item(source, "legal_form", form.value, form.start, form.end))
    needs = read_needs(source)
    if amount is not None and Need.financement.value not in {n.value for n in needs}:
        items.append(_item(source, "needs", Need.financement.value, amount.start, amount.end))
    items.extend(_item(source, "needs", n.value, n.start, n.end) for n in needs)
    stage = read_stage(source)
    if stage is not None:
        items.append(_item(source, "stage", stage.value, stage.start, stage.end))
    return Understanding(tuple(items), truncated=len(text) > MAX_READ_CHARS if isinstance(text, str) else False)


def apply_understanding(query: MatchQuery, understood: Understanding, *,
                        ignore: Iterable[Field] = ()) -> MatchQuery:
    """``query`` with the fields it leaves empty filled from ``understood``.

    Explicit fields always win; needs are filled only when the query gives none; a field in
    ``ignore`` is not filled. Returns a new query (``query`` itself is not changed).
    """
    skip = set(ignore)
    update: dict[str, object] = {}
    for field in FIELDS:
        if field in skip or getattr(query, field) not in (None, []):
            continue
        values = understood.values(field)
        if not values:
            continue
        if field == "needs":
            update["needs"] = [Need(str(v)) for v in values]
        elif field == "legal_form":
            update[field] = LegalForm(str(values[0]))
        elif field == "stage":
            update[field] = Stage(str(values[0]))
        else:
            update[field] = values[0]
    if not update:
        return query
    return MatchQuery.model_validate({**query.model_dump(), **update})


@dataclass(frozen=True)
class UnderstoodQuery:
    """A free-text query after reading: the query to match, everything read (fields the query gave
    explicitly included, for display) and the fields the reading filled (``used``)."""

    query: MatchQuery
    understanding: Understanding
    used: frozenset[Field]

    def is_used(self, item: Understood) -> bool:
        return item.field in self.used


def understand(query: MatchQuery, *, ignore: Iterable[Field] = ()) -> UnderstoodQuery:
    """Read ``query.text`` (its territory, if any, as the département hint) and apply the reading:
    what the service and the CLI call for a free-text match."""
    understood = read_text(query.text, departement_hint=query.territory)
    applied = apply_understanding(query, understood, ignore=ignore)
    used = frozenset(f for f in FIELDS if getattr(applied, f) != getattr(query, f))
    return UnderstoodQuery(applied, understood, used)
