"""Plans: compatible resources covering an initiative's needs and amount, in the order to apply in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.plan import PLAN_DEPTH, Plan, conflict, make_plan, plan_for
from matcher.recommender import Recommender
from matcher.schemas import (
    CheckStatus,
    Criterion,
    CumulationScope,
    EligibilityCheck,
    Match,
    Need,
    Provider,
    ProviderKind,
    Recurrence,
    Resource,
    ResourceKind,
)
from matcher.store import Catalogue
from tests.conftest import TODAY

PROVIDERS = {"prov-region": Provider(id="prov-region", name="Région Grand Est", kind="region"),
             "prov-etat": Provider(id="prov-etat", name="Ministère", kind="ministere"),
             "prov-fondation": Provider(id="prov-fondation", name="Fondation X", kind="fondation")}


def _res(rid: str, kind: str, **fields: object) -> Resource:
    return Resource.model_validate({"id": rid, "kind": kind, "provider_id": "prov-etat", "title": f"Titre {rid}",
                                    **fields})


def _match(r: Resource, rank: int, *failed: Criterion, unknown: tuple[Criterion, ...] = ()) -> Match:
    checks = [EligibilityCheck(criterion=c, status=CheckStatus.failed, clause="non") for c in failed]
    checks += [EligibilityCheck(criterion=c, status=CheckStatus.unknown, clause="?") for c in unknown]
    return Match(resource_id=r.id, title=r.title, score=1.0 / rank, rank=rank, kind=r.kind.value, checks=checks,
                 closes_at=r.closes_at)


def _plan(resources: list[Resource], *, failed: dict[str, Criterion] | None = None, needs: Sequence[Need] = (),
          amount_sought: float | None = None) -> Plan:
    failed = failed or {}
    matches = [_match(r, i, *([failed[r.id]] if r.id in failed else [])) for i, r in enumerate(resources, start=1)]
    return make_plan(matches, {r.id: r for r in resources}, PROVIDERS, needs=needs, amount_sought=amount_sought,
                     today=TODAY)


def test_a_funding_a_place_and_support_in_the_order_of_their_deadlines() -> None:
    fund = _res("fund", "financement", amount_max=20000, closes_at=date(2027, 5, 1))
    fund2 = _res("fund2", "financement", amount_max=5000, closes_at=date(2027, 1, 15))
    place = _res("place", "lieu", recurrence="permanent")
    support = _res("support", "accompagnement", closes_at=date(2027, 2, 1))
    support2 = _res("support2", "accompagnement", closes_at=date(2026, 12, 15))  # a second support adds nothing
    plan = _plan([fund, place, support, support2, fund2],
                 needs=[Need.financement, Need.lieu, Need.accompagnement], amount_sought=25000)
    assert plan.resource_ids == ["fund2", "support", "fund", "place"]  # soonest first, rolling last
    assert [s.order for s in plan.steps] == [1, 2, 3, 4]
    assert plan.uncovered == () and plan.amount_covered == 25000
    by_id = {s.match.resource_id: s for s in plan.steps}
    assert by_id["fund"].covers == (Need.financement,) and by_id["fund2"].covers == ()  # there for the amount
    assert "Couvre le besoin « lieu »." in by_id["place"].explanation
    assert "Sans date limite : à tout moment." in by_id["place"].explanation
    assert "Date limite : 15/01/2027." in by_id["fund2"].explanation
    assert any("20\u202f000 €" in line for line in by_id["fund"].explanation)
    assert any("atteint" in line for line in plan.summary)


def test_the_amount_stops_once_reached_and_is_said_when_short() -> None:
    funds = [_res(f"f{i}", "financement", amount_max=10000) for i in range(4)]
    plan = _plan(funds, needs=[Need.financement], amount_sought=15000)
    assert plan.resource_ids == ["f0", "f1"] and plan.amount_covered == 20000
    short = _plan(funds, needs=[Need.financement], amount_sought=100000)
    assert len(short.steps) == 4 and any("40\u202f000 €" in line for line in short.summary)


def test_a_non_cumulable_resource_is_left_out_saying_with_which() -> None:
    a = _res("a", "financement", non_cumulable_with=["b"])
    b = _res("b", "financement", amount_max=3000)
    c = _res("c", "financement", amount_max=3000)
    plan = _plan([a, b, c], needs=[Need.financement], amount_sought=5000)
    assert plan.resource_ids == ["a", "c"]
    assert [(x.resource_id, x.reason) for x in plan.left_out] == [
        ("b", "écartée : « Titre a » n'est pas cumulable avec « Titre b » selon sa fiche")]
    reverse = _plan([b, a, c], needs=[Need.financement], amount_sought=5000)  # stated by the other one
    assert "a" not in reverse.resource_ids and "b" in reverse.resource_ids


def test_a_regional_rule_keeps_out_another_regional_funding_only() -> None:
    rule = "Non cumulable avec une autre aide régionale sur les mêmes dépenses."
    a = _res("a", "financement", amount_max=1000, cumulation_scope="aide_regionale", cumulation_text=rule)
    regional = _res("reg", "financement", amount_max=1000, provider_id="prov-region")
    state = _res("etat", "financement", amount_max=1000)
    place = _res("lieu", "lieu", provider_id="prov-region")
    plan = _plan([a, regional, state, place], needs=[Need.financement, Need.lieu], amount_sought=5000)
    assert plan.resource_ids == ["a", "etat", "lieu"]
    assert plan.left_out[0].resource_id == "reg" and rule in plan.left_out[0].reason
    assert plan.left_out[0].reason.startswith("écartée : « Titre a » n'est pas cumulable avec une autre aide "
                                              "régionale (« Titre reg ») sur les mêmes dépenses")
    assert any(rule in line for line in plan.steps[0].explanation)  # the source's words beside the step


def test_a_public_aid_rule_does_not_keep_out_a_foundations_grant() -> None:
    rule = "Non cumulable avec toute autre aide publique."
    a = _res("a", "financement", amount_max=1000, cumulation_scope="aide_publique", cumulation_text=rule)
    state = _res("etat", "financement", amount_max=1000)
    foundation = _res("fond", "financement", amount_max=1000, provider_id="prov-fondation")
    plan = _plan([a, state, foundation], needs=[Need.financement], amount_sought=5000)
    assert plan.resource_ids == ["a", "fond"]
    assert [x.resource_id for x in plan.left_out] == ["etat"] and "aide publique" in plan.left_out[0].reason


def test_a_failed_check_keeps_a_resource_out_and_unknown_ones_are_said() -> None:
    a, b = _res("a", "lieu"), _res("b", "lieu")
    plan = _plan([a, b], failed={"a": Criterion.territory}, needs=[Need.lieu])
    assert plan.resource_ids == ["b"]
    assert plan.left_out[0].reason == "écartée : critère non rempli (territoire)"
    m = _match(a, 1, unknown=(Criterion.conditions,))
    unsure = make_plan([m], {"a": a}, PROVIDERS, needs=[Need.lieu], today=TODAY)
    assert "À vérifier : conditions de la source." in unsure.steps[0].explanation


def test_without_needs_the_plan_takes_one_resource_per_kind_of_help_offered() -> None:
    plan = _plan([_res("f", "financement"), _res("f2", "financement"), _res("l", "lieu"),
                  _res("d", "donnees")])
    assert plan.resource_ids == ["f", "l", "d"] and plan.needs == (Need.financement, Need.lieu, Need.donnees)


def test_only_the_first_matches_are_read_and_an_uncovered_need_is_said() -> None:
    many = [_res(f"f{i}", "financement") for i in range(PLAN_DEPTH)] + [_res("late", "lieu")]
    plan = _plan(many, needs=[Need.financement, Need.lieu])
    assert "late" not in plan.resource_ids and plan.uncovered == (Need.lieu,)
    assert any("« lieu »" in line for line in plan.summary)


# --- properties --------------------------------------------------------------------------------

_IDS = [f"r{i}" for i in range(14)]


@st.composite
def _catalogues(draw: st.DrawFn) -> tuple[list[Resource], list[Match], list[Need], float | None]:
    n = draw(st.integers(1, len(_IDS)))
    resources, matches = [], []
    for i, rid in enumerate(_IDS[:n]):
        closes = draw(st.one_of(st.none(), st.integers(-30, 400).map(lambda d: TODAY + timedelta(days=d))))
        r = Resource(
            id=rid, kind=draw(st.sampled_from(list(ResourceKind))), title=f"Ressource {rid}",
            provider_id=draw(st.sampled_from(sorted(PROVIDERS))),
            needs_covered=draw(st.lists(st.sampled_from(list(Need)), max_size=3)),
            amount_max=draw(st.one_of(st.none(), st.integers(0, 50000).map(float))),
            closes_at=closes, recurrence=draw(st.sampled_from(list(Recurrence))),
            non_cumulable_with=draw(st.lists(st.sampled_from(_IDS), max_size=4)),
            cumulation_scope=draw(st.one_of(st.none(), st.sampled_from(list(CumulationScope)))),
        )
        statuses = draw(st.lists(st.sampled_from(list(CheckStatus)), max_size=3))
        checks = [EligibilityCheck(criterion=c, status=s, clause="x")
                  for c, s in zip(Criterion, statuses, strict=False)]
        resources.append(r)
        matches.append(Match(resource_id=rid, title=r.title, score=1.0 - i / 100, rank=i + 1, checks=checks,
                             closes_at=r.closes_at))
    needs = draw(st.lists(st.sampled_from(list(Need)), max_size=4))
    amount = draw(st.one_of(st.none(), st.integers(0, 100000).map(float)))
    return resources, matches, needs, amount


_KIND_OFFERS = {ResourceKind.financement: Need.financement, ResourceKind.appel_a_projets: Need.financement,
                ResourceKind.besoin_service_public: Need.partenariat_public, ResourceKind.accompagnement:
                Need.accompagnement, ResourceKind.donnees: Need.donnees, ResourceKind.expertise: Need.expertise,
                ResourceKind.lieu: Need.lieu}


def _funding(r: Resource) -> bool:
    return Need.financement in r.needs_covered or (not r.needs_covered and r.kind in (
        ResourceKind.financement, ResourceKind.appel_a_projets))


def _incompatible(a: Resource, b: Resource) -> bool:
    """The rules, written again from the schema's documentation: the oracle for the plan."""
    if a.id in b.non_cumulable_with or b.id in a.non_cumulable_with:
        return True
    for holder, other in ((a, b), (b, a)):
        if holder.cumulation_scope is not None and _funding(holder) and _funding(other):
            kind = PROVIDERS[other.provider_id].kind
            if holder.cumulation_scope is CumulationScope.aide_publique and kind is not ProviderKind.fondation:
                return True
            if kind is ProviderKind.region:
                return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_catalogues())
def test_a_plan_never_holds_an_ineligible_or_two_non_cumulable_resources(
        case: tuple[list[Resource], list[Match], list[Need], float | None]) -> None:
    resources, matches, needs, amount = case
    by_id = {r.id: r for r in resources}
    plan = make_plan(matches, by_id, PROVIDERS, needs=needs, amount_sought=amount, today=TODAY)
    steps = [s.match for s in plan.steps]
    assert len(set(plan.resource_ids)) == len(steps)
    assert all(m.rank <= PLAN_DEPTH for m in steps)
    assert all(c.status is not CheckStatus.failed for m in steps for c in m.checks)
    for a, b in combinations(plan.resource_ids, 2):
        assert not _incompatible(by_id[a], by_id[b]), (a, b)
        assert conflict(by_id[a], by_id[b], PROVIDERS) is None
    # The order to apply in: deadlines ahead soonest first, then the ones without.
    deadlines = [s.deadline for s in plan.steps]
    dated = [d for d in deadlines if d is not None]
    assert dated == sorted(dated) and deadlines == dated + [None] * (len(deadlines) - len(dated))
    assert all(d >= TODAY for d in dated)
    # A need left uncovered: every feasible match offering it clashes with the plan.
    for need in plan.uncovered:
        for m in matches[:PLAN_DEPTH]:
            r = by_id[m.resource_id]
            offers = need in (r.needs_covered or [_KIND_OFFERS[r.kind]])
            if offers and all(c.status is not CheckStatus.failed for c in m.checks):
                assert any(_incompatible(r, by_id[x]) for x in plan.resource_ids), (need, r.id)


def test_plan_for_reads_the_recommenders_list(filled_store: Catalogue, encoder: HashingEncoder,
                                              tmp_path: Path) -> None:
    rec = Recommender(ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes"), encoder)
    ini = filled_store.get_initiative("ini-jardin")
    listed = rec.recommend(ini, PLAN_DEPTH, today=TODAY).matches
    plan = plan_for(rec, ini, today=TODAY)
    assert plan.steps and plan.needs == (Need.financement,)
    assert set(plan.resource_ids) <= {m.resource_id for m in listed}
    assert plan.steps[0].match.resource_id == "res-jardin-93"  # the best match covers the need
    assert "res-jardin-closed" not in plan.resource_ids
