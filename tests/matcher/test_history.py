"""Local habits and usual amounts in the history of past partnerships."""

from __future__ import annotations

import numpy as np

from matcher.history import History


def _history() -> History:
    ids = ["p1", "p2", "p3", "p4", "p5"]
    labels = [frozenset({"A"}), frozenset({"A"}), frozenset({"B"}), frozenset({"B"}), frozenset({"B"})]
    places = ["75", "75", "13", "13", None]
    amounts = np.log1p([900.0, 1100.0, 90_000.0, 110_000.0, np.nan])
    dates = np.asarray([1.0, 2.0, 3.0, 4.0, 5.0])
    return History(ids, np.zeros((5, 4), dtype=np.float32), labels, dates=dates, places=places, amounts=amounts)


def test_local_share_follows_the_departement_and_falls_back_to_the_national_share() -> None:
    h = _history()
    paris = h.view().local_share("75", ["A", "B", "C"])
    assert paris[0] > paris[1] > 0.0 and paris[2] == 0.0
    # national 2/5, 3/5 → mainland (p1–p4: 2 A, 2 B) → Paris (p1, p2: 2 A), 5 pseudo-projects each time
    mainland = [(2 + 5 * 2 / 5) / 9, (2 + 5 * 3 / 5) / 9]
    np.testing.assert_allclose(paris[:2], [(2 + 5 * mainland[0]) / 7, (0 + 5 * mainland[1]) / 7], rtol=1e-6)
    # A commune is read as its département; a query with no département gets the national shares.
    np.testing.assert_allclose(h.view().local_share("75056", ["A", "B"]), paris[:2])
    np.testing.assert_allclose(h.view().local_share("FR", ["A", "B"]), [2 / 5, 3 / 5], rtol=1e-6)
    np.testing.assert_allclose(h.view().local_share(None, ["A", "B"]), [2 / 5, 3 / 5], rtol=1e-6)
    np.testing.assert_allclose(h.view().local_share("XX", ["A", "B"]), [2 / 5, 3 / 5], rtol=1e-6)
    # As of a date and leaving one project out: only what was known before counts.
    early = h.view(before=3.5).local_share("13", ["A", "B"])  # p1, p2, p3 visible; one project from 13
    np.testing.assert_allclose(early, [(0 + 5 * 2 / 3) / 6, (1 + 5 * 1 / 3) / 6], rtol=1e-6)
    left_out = h.view(exclude="p1").local_share("75", ["A"])  # national 1/4; mainland p2–p4, one A
    np.testing.assert_allclose(left_out, [(1 + 5 * (1 + 5 * 1 / 4) / 8) / 6], rtol=1e-6)


def test_an_overseas_departement_without_history_borrows_what_the_other_overseas_ones_obtained() -> None:
    ids = [f"p{i}" for i in range(8)]
    labels = [frozenset({"sport"})] * 5 + [frozenset({"outre-mer"})] * 3
    places = ["75", "13", "69", "33", "59", "971", "972", "972"]
    h = History(ids, np.zeros((8, 4), dtype=np.float32), labels, places=places)
    reunion = h.view().local_share("974", ["sport", "outre-mer"])  # no past project from La Réunion
    national = h.view().local_share("FR", ["sport", "outre-mer"])
    np.testing.assert_allclose(national, [5 / 8, 3 / 8], rtol=1e-6)
    np.testing.assert_allclose(reunion, [(0 + 5 * 5 / 8) / 8, (3 + 5 * 3 / 8) / 8], rtol=1e-6)
    assert reunion[1] > reunion[0]  # overseas, the overseas programme leads; nationally it trails
    lyon = h.view().local_share("69", ["sport", "outre-mer"])
    assert lyon[0] > national[0] and lyon[1] < national[1]
    # Martinique has history of its own, smoothed towards the overseas zone.
    overseas = [(0 + 5 * 5 / 8) / 8, (3 + 5 * 3 / 8) / 8]
    np.testing.assert_allclose(h.view().local_share("97209", ["sport", "outre-mer"]),
                               [(0 + 5 * overseas[0]) / 7, (2 + 5 * overseas[1]) / 7], rtol=1e-6)


def test_amount_typicality_prefers_the_resource_used_to_such_amounts() -> None:
    h = _history()
    small = h.view().amount_typicality(1000.0, ["A", "B", "C"])
    assert small[0] > small[1]
    assert small[0] > -0.5 and small[1] < -5.0
    assert small[2] == 0.0  # no past amounts: neutral
    large = h.view().amount_typicality(100_000.0, ["A", "B"])
    assert large[1] > large[0]
    np.testing.assert_array_equal(h.view().amount_typicality(None, ["A", "B"]), [0.0, 0.0])
    # One known amount left is too few to judge what is usual.
    np.testing.assert_array_equal(h.view(exclude="p1").amount_typicality(1000.0, ["A"]), [0.0])
