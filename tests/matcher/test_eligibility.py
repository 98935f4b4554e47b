from __future__ import annotations

from datetime import date

import pytest

from matcher.eligibility import (
    check_all,
    check_amount,
    check_capacity,
    check_dates,
    check_legal_form,
    check_needs,
    check_stage,
    check_territory,
    is_eligible,
)
from matcher.schemas import CheckStatus, MatchQuery, Resource

TODAY = date(2026, 12, 1)


def res(**over: object) -> Resource:
    base: dict[str, object] = {"id": "r", "kind": "financement", "provider_id": "p", "title": "Aide"}
    base.update(over)
    return Resource(**base)  # type: ignore[arg-type]


def q(**over: object) -> MatchQuery:
    base: dict[str, object] = {"text": "un projet"}
    base.update(over)
    return MatchQuery(**base)  # type: ignore[arg-type]


def test_territory_pass_fail_unknown() -> None:
    r = res(coverage=["93", "R84"])
    passed = check_territory(r, q(territory="93066"))
    assert passed.status is CheckStatus.passed and "Seine-Saint-Denis" in passed.clause
    assert check_territory(r, q(territory="69123")).status is CheckStatus.passed  # Lyon, in R84
    failed = check_territory(r, q(territory="48"))
    assert failed.status is CheckStatus.failed and "ne couvre pas Lozère" in failed.clause
    assert failed.near_miss
    assert check_territory(r, q()).status is CheckStatus.unknown


@pytest.mark.parametrize(
    ("over", "status", "phrase"),
    [
        ({"recurrence": "permanent"}, CheckStatus.passed, "toute l'année"),
        ({"closes_at": date(2027, 3, 31)}, CheckStatus.passed, "Clôture le 31 mars 2027 (dans 120 jours)"),
        ({"closes_at": date(2026, 6, 30)}, CheckStatus.failed, "Clos depuis le 30 juin 2026"),
        ({"closes_at": date(2026, 6, 30), "recurrence": "annuel"}, CheckStatus.unknown, "30 juin 2027"),
        ({"opens_at": date(2027, 2, 1), "closes_at": date(2027, 4, 1)}, CheckStatus.passed, "Ouverture le 1er février"),
        ({}, CheckStatus.unknown, "non précisée"),
    ],
)
def test_dates(over: dict[str, object], status: CheckStatus, phrase: str) -> None:
    check = check_dates(res(**over), TODAY)
    assert check.status is status and phrase in check.clause


def test_legal_form_missing_is_unknown_not_failed() -> None:
    r = res(eligible_legal_forms=["association", "collectif"])
    assert check_legal_form(r, q()).status is CheckStatus.unknown
    assert check_legal_form(r, q(legal_form="association")).status is CheckStatus.passed
    failed = check_legal_form(r, q(legal_form="entreprise"))
    assert failed.status is CheckStatus.failed
    assert failed.near_miss == (
        "ouvert aux structures association et collectif citoyen : porter le projet avec l'une d'elles"
    )
    assert check_legal_form(res(), q(legal_form="entreprise")).status is CheckStatus.passed


def test_stage_near_miss_says_when_it_opens() -> None:
    r = res(eligible_stages=["experimentation", "deploiement"])
    early = check_stage(r, q(stage="idee"))
    assert early.status is CheckStatus.failed and early.near_miss == "accessible à partir du stade « expérimentation »"
    late = check_stage(r, q(stage="changement_echelle"))
    assert late.status is CheckStatus.failed and "réservé aux stades" in (late.near_miss or "")


def test_amount() -> None:
    r = res(amount_min=5000, amount_max=20000)
    assert check_amount(r, q(amount_sought=10000)).status is CheckStatus.passed
    low = check_amount(r, q(amount_sought=1000))
    assert low.status is CheckStatus.failed and "minimum" in (low.near_miss or "")
    high = check_amount(r, q(amount_sought=50000))
    assert high.status is CheckStatus.passed and "une partie" in high.clause
    assert check_amount(r, q()).status is CheckStatus.unknown
    assert check_amount(res(), q(amount_sought=10)).status is CheckStatus.unknown


def test_capacity_and_needs() -> None:
    assert check_capacity(res(capacity=0)).status is CheckStatus.failed
    assert check_capacity(res(capacity=3)).status is CheckStatus.passed
    assert check_capacity(res()).status is CheckStatus.unknown
    r = res(needs_covered=["financement", "accompagnement"])
    assert check_needs(r, q(needs=["lieu", "accompagnement"])).status is CheckStatus.passed
    assert check_needs(r, q(needs=["lieu"])).status is CheckStatus.failed
    assert check_needs(r, q()).status is CheckStatus.unknown


def test_needs_are_soft_other_criteria_hard() -> None:
    r = res(needs_covered=["financement"], recurrence="permanent")
    assert is_eligible(check_all(r, q(needs=["lieu"]), TODAY))  # a mismatch of needs does not exclude
    closed = res(closes_at=date(2025, 1, 1))
    assert not is_eligible(check_all(closed, q(), TODAY))
    checks = check_all(r, q(), TODAY)
    assert [c.criterion.value for c in checks] == [
        "territory", "dates", "legal_form", "stage", "amount", "capacity", "needs"
    ]
