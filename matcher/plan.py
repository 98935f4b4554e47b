"""Plans, not only lists: the resources an initiative can combine to cover its needs and amount.

A plan is chosen among the first :data:`PLAN_DEPTH` matches that ``Recommender.recommend`` ranks
(the only ranking path: nothing is re-ranked here). Walking them best first, a match joins the plan
when it covers a need not yet covered, or adds a funding towards the amount sought that the plan
has not reached, and when it can be combined with every resource already in the plan. Invariants:

* no resource in a plan failed any eligibility check (unknown is not a failure: it is said);
* no two resources in a plan are non-cumulable, whichever of the two states it
  (``non_cumulable_with``), nor does one break a general rule the other states (``cumulation_scope``:
  another regional aid, any other public aid, read as funding of the same expenses);
* steps are in the order to apply in: soonest deadline first, resources without one (rolling,
  permanent, or an annual session yet to be announced) last, rank breaking ties.

Each step and each resource left out says in French only what was measured: the need it covers,
the amount its source gives, its deadline, the rule that kept another out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from matcher.labels import NEED
from matcher.schemas import (
    CheckStatus,
    Criterion,
    CumulationScope,
    Initiative,
    Match,
    MatchQuery,
    Need,
    Outcome,
    Provider,
    ProviderKind,
    Recurrence,
    Resource,
    ResourceKind,
)

if TYPE_CHECKING:
    from matcher.recommender import Recommender

__all__ = [
    "CRITERION_LABELS",
    "PLAN_DEPTH",
    "LeftOut",
    "Plan",
    "PlanStep",
    "conflict",
    "make_plan",
    "offered_needs",
    "plan_for",
]

PLAN_DEPTH = 12
"""How many of the ranked matches a plan is chosen from."""

CRITERION_LABELS: dict[Criterion, str] = {
    Criterion.territory: "territoire", Criterion.legal_form: "type de structure", Criterion.stage: "stade du projet",
    Criterion.amount: "montant", Criterion.dates: "dates", Criterion.capacity: "capacité",
    Criterion.needs: "besoins", Criterion.conditions: "conditions de la source",
}
# What a resource offers when its record lists no need: what its kind is.
_KIND_NEEDS: dict[ResourceKind, tuple[Need, ...]] = {
    ResourceKind.financement: (Need.financement,), ResourceKind.appel_a_projets: (Need.financement,),
    ResourceKind.besoin_service_public: (Need.partenariat_public,),
    ResourceKind.accompagnement: (Need.accompagnement,), ResourceKind.donnees: (Need.donnees,),
    ResourceKind.expertise: (Need.expertise,), ResourceKind.lieu: (Need.lieu,),
}
_QUOTE_CHARS = 200


@dataclass(frozen=True)
class PlanStep:
    """One resource of a plan. ``order`` is 1-based, the order to apply in; ``covers`` the needs it is
    in the plan for (empty when it is there for the amount only); ``amount_max`` euros, the most its
    source says it gives (``None``: not given); ``deadline`` ``None`` when it has none to meet."""

    order: int
    match: Match
    covers: tuple[Need, ...]
    amount_max: float | None
    deadline: date | None
    explanation: tuple[str, ...]


@dataclass(frozen=True)
class LeftOut:
    """A match the plan did not take although it would have added something, and why (French)."""

    resource_id: str
    title: str
    rank: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """Compatible resources covering an initiative's needs and amount, in the order to apply in.

    ``needs`` are the needs the plan aimed at (the initiative's, or when it gives none every kind of
    help its matches offer); ``uncovered`` those no compatible match covers; ``amount_covered`` euros,
    the sum of the maximum amounts the plan's fundings state (``0.0`` when none states one)."""

    steps: tuple[PlanStep, ...]
    left_out: tuple[LeftOut, ...]
    needs: tuple[Need, ...]
    uncovered: tuple[Need, ...]
    amount_sought: float | None
    amount_covered: float
    summary: tuple[str, ...]

    @property
    def resource_ids(self) -> list[str]:
        """The plan's resources, in the order to apply in."""
        return [s.match.resource_id for s in self.steps]


def _euros(x: float) -> str:
    return f"{x:,.0f} €".replace(",", "\u202f")


def _day(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _quote(text: str) -> str:
    plain = " ".join(text.split())
    return plain if len(plain) <= _QUOTE_CHARS else plain[: _QUOTE_CHARS - 1].rstrip() + "…"


def _needs(needs: Sequence[Need]) -> str:
    return ", ".join(f"« {NEED[n]} »" for n in needs)


def offered_needs(resource: Resource) -> tuple[Need, ...]:
    """The needs a resource offers: those its record lists, else the one its kind is."""
    return tuple(resource.needs_covered) or _KIND_NEEDS.get(resource.kind, ())


def _is_funding(resource: Resource) -> bool:
    return Need.financement in offered_needs(resource)


def _is_regional(resource: Resource, providers: Mapping[str, Provider]) -> bool:
    provider = providers.get(resource.provider_id)
    return provider is not None and provider.kind is ProviderKind.region


_NOT_PUBLIC = frozenset({ProviderKind.fondation, ProviderKind.incubateur, ProviderKind.autre})


def _is_public(resource: Resource, providers: Mapping[str, Provider]) -> bool:
    """Whether the resource's provider is known to be a public body (a foundation, an incubator, another
    or an unknown provider is not: a rule about public aid says nothing of them)."""
    provider = providers.get(resource.provider_id)
    return provider is not None and provider.kind not in _NOT_PUBLIC


def _scope_breaks(holder: Resource, other: Resource, providers: Mapping[str, Provider]) -> bool:
    """Whether ``other`` beside ``holder`` breaks the general rule ``holder`` states."""
    if holder.cumulation_scope is None or not (_is_funding(holder) and _is_funding(other)):
        return False  # the rules are about funding the same expenses
    if holder.cumulation_scope is CumulationScope.aide_publique:
        return _is_public(other, providers)
    return _is_regional(other, providers)


def conflict(a: Resource, b: Resource, providers: Mapping[str, Provider]) -> str | None:
    """Why ``a`` and ``b`` cannot be in one plan (French, naming who states it), or ``None``.

    Symmetric: either resource naming the other, or stating a general rule the other breaks, is enough."""
    for holder, other in ((a, b), (b, a)):
        if other.id in holder.non_cumulable_with:
            return f"« {holder.title} » n'est pas cumulable avec « {other.title} » selon sa fiche"
    for holder, other in ((a, b), (b, a)):
        if _scope_breaks(holder, other, providers):
            rule = ("une autre aide régionale" if holder.cumulation_scope is CumulationScope.aide_regionale
                    else "une autre aide publique")
            said = f" (la source : « {_quote(holder.cumulation_text)} »)" if holder.cumulation_text else ""
            return (f"« {holder.title} » n'est pas cumulable avec {rule} (« {other.title} ») sur les mêmes "
                    f"dépenses{said}")
    return None


def _deadline(resource: Resource, today: date) -> date | None:
    """The date to apply by, or ``None``: permanent, undated, or an annual session already closed
    (the next one is yet to be announced)."""
    if resource.recurrence is Recurrence.permanent or resource.closes_at is None or resource.closes_at < today:
        return None
    return resource.closes_at


def _failed(match: Match) -> list[str]:
    return [CRITERION_LABELS[c.criterion] for c in match.checks if c.status is CheckStatus.failed]


def make_plan(matches: Sequence[Match], resources: Mapping[str, Resource], providers: Mapping[str, Provider], *,
              needs: Sequence[Need] = (), amount_sought: float | None = None, today: date) -> Plan:
    """The plan for one initiative from its ranked ``matches`` (best first, as ``recommend`` gives them;
    only the first :data:`PLAN_DEPTH` are read). ``resources`` and ``providers`` by id (the served
    index's); a match whose resource is not there is skipped. ``needs``: the initiative's; empty, the
    plan aims at every kind of help the matches offer. ``amount_sought`` euros; ``today`` decides
    which deadlines are still ahead."""
    considered = [m for m in matches[:PLAN_DEPTH] if m.resource_id in resources]
    left: list[LeftOut] = []
    feasible: list[Match] = []
    for m in considered:
        failed = _failed(m)
        if failed:
            left.append(LeftOut(m.resource_id, m.title, m.rank, "écartée : critère non rempli ("
                                + ", ".join(failed) + ")"))
        else:
            feasible.append(m)
    targets = list(dict.fromkeys(needs)) if needs else list(dict.fromkeys(
        n for m in feasible for n in offered_needs(resources[m.resource_id])))
    remaining = list(targets)
    chosen: list[tuple[Match, tuple[Need, ...], bool]] = []
    covered_amount = 0.0
    for m in feasible:
        r = resources[m.resource_id]
        new = tuple(n for n in offered_needs(r) if n in remaining)
        for_amount = (amount_sought is not None and _is_funding(r) and r.amount_max is not None
                      and covered_amount < amount_sought and (Need.financement in new or Need.financement in targets))
        if not new and not for_amount:
            continue
        clash = next((c for c in (conflict(resources[h.resource_id], r, providers) for h, _, _ in chosen) if c), None)
        if clash is not None:
            left.append(LeftOut(m.resource_id, m.title, m.rank, "écartée : " + clash))
            continue
        chosen.append((m, new, for_amount))
        remaining = [n for n in remaining if n not in new]
        if for_amount and r.amount_max is not None:
            covered_amount += r.amount_max
    return _assemble(chosen, left, resources, targets, remaining, amount_sought, covered_amount, today)


def _assemble(chosen: list[tuple[Match, tuple[Need, ...], bool]], left: list[LeftOut],
              resources: Mapping[str, Resource], targets: list[Need], remaining: list[Need],
              amount_sought: float | None, covered_amount: float, today: date) -> Plan:
    def key(item: tuple[Match, tuple[Need, ...], bool]) -> tuple[bool, date, int]:
        d = _deadline(resources[item[0].resource_id], today)
        return (d is None, d or date.max, item[0].rank)

    steps = []
    for order, (m, covers, for_amount) in enumerate(sorted(chosen, key=key), start=1):
        r = resources[m.resource_id]
        steps.append(PlanStep(order, m, covers, r.amount_max if _is_funding(r) else None, _deadline(r, today),
                              tuple(_explain(r, m, covers, for_amount, amount_sought, today))))
    summary = []
    if targets:
        summary.append(f"Besoins visés : {_needs(targets)}.")
    if remaining:
        summary.append(f"Non couvert parmi les {PLAN_DEPTH} premières suggestions compatibles : {_needs(remaining)}.")
    if amount_sought is not None:
        if covered_amount >= amount_sought:
            summary.append(f"Montant recherché {_euros(amount_sought)} : atteint par les montants maximaux indiqués "
                           f"({_euros(covered_amount)} au plus).")
        else:
            summary.append(f"Montant recherché {_euros(amount_sought)} : {_euros(covered_amount)} au plus selon les "
                           "montants maximaux indiqués par les sources.")
    if not steps:
        summary.append("Aucune ressource compatible ne couvre ces besoins : voir la liste des suggestions.")
    return Plan(tuple(steps), tuple(left), tuple(targets), tuple(remaining), amount_sought, covered_amount,
                tuple(summary))


def _explain(r: Resource, m: Match, covers: tuple[Need, ...], for_amount: bool, amount_sought: float | None,
             today: date) -> list[str]:
    lines = []
    if covers:
        lines.append(f"Couvre le besoin {_needs(covers)}." if len(covers) == 1
                     else f"Couvre les besoins {_needs(covers)}.")
    if _is_funding(r):
        if r.amount_max is not None:
            lines.append(f"Jusqu'à {_euros(r.amount_max)} selon la source"
                         + (f", compté pour le montant recherché de {_euros(amount_sought)}."
                            if for_amount and amount_sought is not None else "."))
        else:
            lines.append("Montant non indiqué par la source.")
    deadline = _deadline(r, today)
    if deadline is not None:
        lines.append(f"Date limite : {_day(deadline)}.")
    elif r.recurrence is Recurrence.annuel and r.closes_at is not None:
        lines.append(f"Session annuelle close le {_day(r.closes_at)} : prochaine date à annoncer.")
    else:
        lines.append("Sans date limite : à tout moment.")
    unknown = [CRITERION_LABELS[c.criterion] for c in m.checks if c.status is CheckStatus.unknown]
    if unknown:
        lines.append("À vérifier : " + ", ".join(dict.fromkeys(unknown)) + ".")
    if r.cumulation_text:
        lines.append(f"Cumul selon la source : « {_quote(r.cumulation_text)} »")
    return lines


def plan_for(recommender: Recommender, query: MatchQuery | Initiative, *, today: date,
             overrides: Mapping[str, Outcome] | None = None) -> Plan:
    """The plan for ``query`` from ``recommender.recommend`` (its first :data:`PLAN_DEPTH` matches,
    explained: the checks decide what is feasible)."""
    found = recommender.recommend(query, PLAN_DEPTH, today=today, overrides=overrides)
    index = recommender.index
    return make_plan(found.matches, index.resources, index.providers, needs=query.needs,
                     amount_sought=query.amount_sought, today=today)
