"""No record the API accepts can break a later match (issue 17, item 1), on the values at the edges.

Hypothesis writes resources and initiatives whose numbers and dates run to the extremes and past
the bounds (capacities past float range, amounts up to the bound, dates from year 1 to 9999, every
recurrence), through ``PUT`` and through the bulk import, and after each write matches as a citizen,
as staff on a stored initiative, and in the reverse direction, on any day: no answer may be a server
error (records and days past the bounds are refused with 422 or rejected by line).
"""

from __future__ import annotations

import json
import os
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import Api

DATES = st.one_of(st.none(), st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
CAPACITY = st.one_of(st.none(), st.integers(0, 10), st.integers(10**6, 10**18), st.integers(10**300, 10**400))
AMOUNT = st.one_of(st.none(), st.floats(0, 1e12, allow_nan=False), st.sampled_from([0.0, 1e-300, 1e12]))


@st.composite
def resources(draw: st.DrawFn) -> dict[str, object]:
    low, high = sorted([draw(AMOUNT) or 0.0, draw(AMOUNT) or 0.0])
    opens, closes = draw(DATES), draw(DATES)
    if opens is not None and closes is not None and opens > closes:
        opens, closes = closes, opens
    return {
        "id": f"res-x{draw(st.integers(0, 3))}", "kind": draw(st.sampled_from(["financement", "appel_a_projets"])),
        "provider_id": "prov-93", "title": "Jardins partagés extrêmes", "description": "jardin partagé compost",
        "coverage": [draw(st.sampled_from(["93", "FR", "93066", "R11"]))],
        "recurrence": draw(st.sampled_from(["ponctuel", "annuel", "permanent"])),
        "amount_min": low if draw(st.booleans()) else None, "amount_max": high if draw(st.booleans()) else None,
        "opens_at": opens and opens.isoformat(), "closes_at": closes and closes.isoformat(),
        "capacity": draw(CAPACITY), "last_verified": (v := draw(DATES)) and v.isoformat(),
    }


@st.composite
def initiatives(draw: st.DrawFn) -> dict[str, object]:
    return {"id": "ini-jardin", "title": "Jardin partagé de la cité", "territory": "93066",
            "description": "jardin partagé compost quartier", "amount_sought": draw(AMOUNT),
            "legal_form": "association", "stage": draw(st.sampled_from(["idee", "experimentation", "deploiement"]))}


def _matches_answer(api: Api, on: date | None) -> None:
    body: dict[str, object] = {"text": "jardin partagé et compost de quartier", "territory": "93066", "k": 20}
    if on is not None:
        body["on"] = on.isoformat()
    for r in (api.client.post("/v1/match", json=body, headers=api.h("staff")),
              api.client.post("/v1/match", json=body, headers=api.h("partner")),
              api.client.post("/v1/initiatives/ini-jardin/match", json={}, headers=api.h("staff")),
              api.client.get("/v1/resources/res-jardin-93/initiatives", headers=api.h("staff")),
              api.client.get("/v1/resources/res-x0/initiatives", headers=api.h("staff"))):
        assert r.status_code < 500, r.text


EXAMPLES = settings(max_examples=int(os.environ.get("MAILLAGE_EXTREME_EXAMPLES", "40")), deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@EXAMPLES
@given(resource=resources(), initiative=initiatives(), on=DATES, bulk=st.booleans())
def test_no_extreme_record_breaks_a_later_match(api: Api, resource: dict[str, object],
                                                initiative: dict[str, object], on: date | None, bulk: bool) -> None:
    if bulk:
        r = api.client.post("/v1/import/resources", content=json.dumps(resource).encode(),
                            headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    else:
        r = api.client.put(f"/v1/resources/{resource['id']}", json=resource, headers=api.h("staff"))
    assert r.status_code < 500, r.text
    assert api.client.put("/v1/initiatives/ini-jardin", json=initiative, headers=api.h("staff")).status_code < 500
    _matches_answer(api, on)


@pytest.mark.parametrize("capacity", [10**12 + 1, 10**309, 10**400])
def test_an_imported_capacity_past_the_bound_is_rejected_by_line_and_breaks_no_match(api: Api, capacity: int) -> None:
    row = {"id": "res-x0", "kind": "financement", "provider_id": "prov-93", "title": "Jardins", "coverage": ["93"],
           "description": "jardin partagé compost", "recurrence": "permanent", "capacity": capacity}
    good = row | {"id": "res-x1", "capacity": 10**12}
    body = (json.dumps(row) + "\n" + json.dumps(good)).encode()
    r = api.client.post("/v1/import/resources", content=body,
                        headers=api.h("admin", **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200 and r.json()["rejected"] == 1, r.text
    assert r.json()["errors"][0].startswith("ligne 1") and "capacity" in r.json()["errors"][0]
    _matches_answer(api, None)
