"""Eligibility, one check per criterion: passed, failed or unknown, with the clause that decided it.

Missing data is ``unknown``, never ``failed``: a citizen who did not say their legal form is not
excluded for it. A failed check carries, where one exists, a near miss: what would make the
initiative eligible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from matcher import territory
from matcher.labels import LEGAL_FORM, NEED, STAGE, french_date, join_fr
from matcher.schemas import CheckStatus, Criterion, EligibilityCheck, MatchQuery, Recurrence, Resource

__all__ = [
    "CHECKS",
    "HARD_CRITERIA",
    "check_all",
    "check_amount",
    "check_capacity",
    "check_conditions",
    "check_dates",
    "check_legal_form",
    "check_needs",
    "check_stage",
    "check_territory",
    "is_eligible",
]


@dataclass(frozen=True, slots=True)
class Check:
    """One criterion's verdict, as computed for every candidate of a pool.

    A plain frozen dataclass: a candidate pool needs thousands of these per query, and building
    validated :class:`EligibilityCheck` models for all of them cost more than the ranking itself. The
    few that are shown become models through :meth:`model` (same fields).
    """

    criterion: Criterion
    status: CheckStatus
    clause: str
    near_miss: str | None = None

    def model(self) -> EligibilityCheck:
        return EligibilityCheck(criterion=self.criterion, status=self.status, clause=self.clause,
                                near_miss=self.near_miss)


_check = Check


@lru_cache(maxsize=4096)
def _where(coverage: tuple[str, ...]) -> str:
    return join_fr([_name(c) for c in coverage])


@lru_cache(maxsize=8192)
def _name(code: str) -> str:
    return territory.parse_territory(code).name or code  # every territory of the COG has a name


def check_territory(resource: Resource, query: MatchQuery) -> Check:
    if resource.perimeter_text is not None:
        # The source named a perimeter that no INSEE code stands for: never read as all of France.
        return _check(
            criterion=Criterion.territory, status=CheckStatus.unknown,
            clause=f"Périmètre non rattaché à un territoire connu (source : « {resource.perimeter_text} ») ; "
                   "à vérifier.",
        )
    where = _where(tuple(resource.coverage))
    if query.territory is None:
        return _check(
            criterion=Criterion.territory, status=CheckStatus.unknown,
            clause=f"Périmètre : {where} ; territoire du projet non précisé.",
        )
    if query.territory in resource.coverage:
        return _check(
            criterion=Criterion.territory, status=CheckStatus.passed,
            clause=f"Réservé à {where} : votre territoire.",
        )
    if territory.covers(resource.coverage, query.territory):
        return _check(
            criterion=Criterion.territory, status=CheckStatus.passed,
            clause=f"Périmètre : {where}, qui couvre {_name(query.territory)}.",
        )
    return _check(
        criterion=Criterion.territory, status=CheckStatus.failed,
        clause=f"Périmètre : {where}, qui ne couvre pas {_name(query.territory)}.",
        near_miss=f"réservé à {where} : s'associer à un porteur de projet de ce territoire",
    )


def _next_session(closed: date, today: date) -> date:
    """The same day of the year as ``closed``, on or after ``today`` (29 February becomes the 28th)."""
    day = min(closed.day, 28) if closed.month == 2 else closed.day
    nxt = date(today.year, closed.month, day)
    if nxt >= today or today.year == date.max.year:  # no year after 9999: the last session stands
        return nxt
    return date(today.year + 1, closed.month, day)


def check_dates(resource: Resource, today: date) -> Check:
    if resource.recurrence is Recurrence.permanent:
        return _check(
            criterion=Criterion.dates, status=CheckStatus.passed, clause="Ouvert toute l'année."
        )
    if resource.opens_at is not None and resource.opens_at > today:
        return _check(
            criterion=Criterion.dates, status=CheckStatus.passed,
            clause=f"Ouverture le {french_date(resource.opens_at)} : le temps de préparer le dossier.",
        )
    if resource.closes_at is None:
        return _check(
            criterion=Criterion.dates, status=CheckStatus.unknown, clause="Date de clôture non précisée."
        )
    if resource.closes_at >= today:
        days = (resource.closes_at - today).days
        return _check(
            criterion=Criterion.dates, status=CheckStatus.passed,
            clause=f"Clôture le {french_date(resource.closes_at)} (dans {days} jours).",
        )
    if resource.recurrence is Recurrence.annuel:
        nxt = _next_session(resource.closes_at, today)
        return _check(
            criterion=Criterion.dates, status=CheckStatus.unknown,
            clause=f"Session close le {french_date(resource.closes_at)} ; session annuelle, "
                   f"prochaine clôture attendue vers le {french_date(nxt)}.",
            near_miss=f"prochaine session attendue vers le {french_date(nxt)}",
        )
    return _check(
        criterion=Criterion.dates, status=CheckStatus.failed,
        clause=f"Clos depuis le {french_date(resource.closes_at)}.",
    )


def check_legal_form(resource: Resource, query: MatchQuery) -> Check:
    if not resource.eligible_legal_forms:
        return _check(
            criterion=Criterion.legal_form, status=CheckStatus.passed, clause="Ouvert à toutes les structures."
        )
    allowed = join_fr([LEGAL_FORM[f] for f in resource.eligible_legal_forms])
    if query.legal_form is None:
        return _check(
            criterion=Criterion.legal_form, status=CheckStatus.unknown,
            clause=f"Ouvert aux structures : {allowed} ; forme du porteur non précisée.",
        )
    if query.legal_form in resource.eligible_legal_forms:
        return _check(
            criterion=Criterion.legal_form, status=CheckStatus.passed, clause=f"Ouvert aux structures : {allowed}."
        )
    return _check(
        criterion=Criterion.legal_form, status=CheckStatus.failed,
        clause=f"Ouvert aux structures : {allowed} ; pas à {LEGAL_FORM[query.legal_form]}.",
        near_miss=f"ouvert aux structures {allowed} : porter le projet avec l'une d'elles",
    )


def check_stage(resource: Resource, query: MatchQuery) -> Check:
    if not resource.eligible_stages:
        return _check(
            criterion=Criterion.stage, status=CheckStatus.passed, clause="Tous stades de projet."
        )
    allowed = join_fr([STAGE[s] for s in resource.eligible_stages])
    if query.stage is None:
        return _check(
            criterion=Criterion.stage, status=CheckStatus.unknown,
            clause=f"Stades acceptés : {allowed} ; stade du projet non précisé.",
        )
    if query.stage in resource.eligible_stages:
        return _check(
            criterion=Criterion.stage, status=CheckStatus.passed, clause=f"Stades acceptés : {allowed}."
        )
    earliest = min(resource.eligible_stages, key=lambda s: s.order)
    hint = (
        f"accessible à partir du stade « {STAGE[earliest]} »"
        if query.stage.order < earliest.order
        else f"réservé aux stades {allowed}"
    )
    return _check(
        criterion=Criterion.stage, status=CheckStatus.failed,
        clause=f"Stades acceptés : {allowed} ; pas « {STAGE[query.stage]} ».", near_miss=hint,
    )


def _euros(x: float) -> str:
    return f"{x:,.0f} €".replace(",", "\u202f")


def check_amount(resource: Resource, query: MatchQuery) -> Check:
    lo, hi = resource.amount_min, resource.amount_max
    if lo is None and hi is None:
        return _check(criterion=Criterion.amount, status=CheckStatus.unknown,
                                clause="Montant non précisé.")
    span = (f"de {_euros(lo)} à {_euros(hi)}" if lo is not None and hi is not None
            else f"à partir de {_euros(lo)}" if lo is not None else f"jusqu'à {_euros(hi or 0)}")
    if query.amount_sought is None:
        return _check(criterion=Criterion.amount, status=CheckStatus.unknown,
                                clause=f"Montant {span} ; montant recherché non précisé.")
    sought = query.amount_sought
    if lo is not None and sought < lo:
        return _check(
            criterion=Criterion.amount, status=CheckStatus.failed,
            clause=f"Montant {span} ; {_euros(sought)} recherchés, sous le minimum.",
            near_miss=f"montant minimum {_euros(lo)} : élargir le projet ou le mutualiser avec d'autres porteurs",
        )
    if hi is not None and sought > hi:
        # Partial funding is common: covering part of the need is not a failure.
        return _check(
            criterion=Criterion.amount, status=CheckStatus.passed,
            clause=f"Montant {span} : couvre une partie des {_euros(sought)} recherchés.",
        )
    return _check(criterion=Criterion.amount, status=CheckStatus.passed,
                            clause=f"Montant {span}, adapté aux {_euros(sought)} recherchés.")


def check_capacity(resource: Resource) -> Check:
    if resource.capacity is None:
        return _check(criterion=Criterion.capacity, status=CheckStatus.unknown,
                                clause="Capacité non précisée.")
    if resource.capacity == 0:
        return _check(
            criterion=Criterion.capacity, status=CheckStatus.failed,
            clause="Plus de place ni d'enveloppe disponible pour cette session.",
            near_miss="complet pour cette session : demander à être informé de la prochaine",
        )
    return _check(criterion=Criterion.capacity, status=CheckStatus.passed,
                            clause=f"Capacité restante : {resource.capacity}.")


def check_needs(resource: Resource, query: MatchQuery) -> Check:
    if not query.needs or not resource.needs_covered:
        return _check(criterion=Criterion.needs, status=CheckStatus.unknown,
                                clause="Besoins non précisés.")
    shared = [n for n in query.needs if n in resource.needs_covered]
    if shared:
        return _check(criterion=Criterion.needs, status=CheckStatus.passed,
                                clause="Répond à vos besoins : " + join_fr([NEED[n] for n in shared]) + ".")
    return _check(
        criterion=Criterion.needs, status=CheckStatus.failed,
        clause="Apporte " + join_fr([NEED[n] for n in resource.needs_covered]) + ", pas "
               + join_fr([NEED[n] for n in query.needs]) + ".",
    )


CONDITIONS_CLAUSE_CHARS = 1000
"""The source's conditions are cut to this many characters in a clause (the whole text stays on the resource)."""


def check_conditions(resource: Resource) -> Check | None:
    """The source's own eligibility conditions, always *unknown*: staff read and check them. None when
    the source gave none (Maillage's own records)."""
    text = " ".join((resource.eligibility_text or "").split())
    if not text:
        return None
    if len(text) > CONDITIONS_CLAUSE_CHARS:
        text = text[: CONDITIONS_CLAUSE_CHARS - 1].rstrip() + "… (texte complet sur la fiche de la ressource)"
    return _check(criterion=Criterion.conditions, status=CheckStatus.unknown,
                  clause=f"Conditions de la source, à vérifier : {text}")


# A failed hard criterion removes the match from the list (staff may still ask to see it);
# needs are soft: a resource that offers something else than what was asked is ranked lower.
HARD_CRITERIA = frozenset(
    {Criterion.territory, Criterion.dates, Criterion.legal_form, Criterion.stage, Criterion.amount,
     Criterion.capacity}
)


CHECKS: tuple[tuple[str, Callable[[MatchQuery, date], object],
                    Callable[[Resource, MatchQuery, date], Check | None]], ...] = (
    ("territory", lambda q, d: q.territory, lambda r, q, d: check_territory(r, q)),
    ("dates", lambda q, d: d, lambda r, q, d: check_dates(r, d)),
    ("legal_form", lambda q, d: q.legal_form, lambda r, q, d: check_legal_form(r, q)),
    ("stage", lambda q, d: q.stage, lambda r, q, d: check_stage(r, q)),
    ("amount", lambda q, d: q.amount_sought, lambda r, q, d: check_amount(r, q)),
    ("capacity", lambda q, d: None, lambda r, q, d: check_capacity(r)),
    ("needs", lambda q, d: tuple(q.needs), lambda r, q, d: check_needs(r, q)),
    ("conditions", lambda q, d: None, lambda r, q, d: check_conditions(r)),
)
"""Every check in its fixed order: its name, the one fact of the query and day it reads (what a memo
of it keys on, :class:`matcher.checking.Checker`), and the check itself (None: it does not apply)."""


def check_all(resource: Resource, query: MatchQuery, today: date) -> list[Check]:
    """One check per criterion, in a fixed order; the source's own conditions last, when it gave some."""
    return [c for _, _, check in CHECKS if (c := check(resource, query, today)) is not None]


def is_eligible(checks: list[Check]) -> bool:
    """No hard criterion failed (unknown is not a failure)."""
    return all(c.status is not CheckStatus.failed for c in checks if c.criterion in HARD_CRITERIA)
