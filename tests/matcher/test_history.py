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


def test_a_date_cut_shares_its_answers_and_they_are_those_of_a_fresh_view() -> None:
    from indexes import SparseIndex

    rng = np.random.default_rng(3)
    n = 40
    ids = [f"p{i}" for i in range(n)]
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [frozenset({"A" if i % 3 else "B", "C"} if i % 5 == 0 else {"A" if i % 3 else "B"}) for i in range(n)]
    texts = [f"jardin partagé quartier {'compost' if i % 2 else 'potager'} {i}" for i in range(n)]
    places = ["75" if i % 2 else "13" for i in range(n)]
    amounts = np.log1p(rng.uniform(1_000, 50_000, n))
    h = History(ids, vectors, labels, sparse=SparseIndex().build(ids, texts), dates=np.arange(n, dtype=np.float64),
                places=places, amounts=amounts, texts=texts)
    queries = rng.standard_normal((3, 8)).astype(np.float32)
    for before in (12.5, 30.0):
        for q, text in zip(queries, ("compost 3", "potager", "jardin 17"), strict=True):
            shared, fresh = h.view(before=before), h.view(before=before)
            fresh.memo = None  # computed from the mask alone
            assert shared.memo is h.cut_memo(before)
            for a, b in ((shared, fresh), (shared, fresh)):  # twice: the second reads the memo
                assert a.lexical_votes(text) == b.lexical_votes(text)
                np.testing.assert_array_equal(a.profile_similarity(q, ["A", "B", "C", "D"]),
                                              b.profile_similarity(q, ["A", "B", "C", "D"]))
                np.testing.assert_array_equal(a.local_share("75", ["A", "B", "C"]),
                                              b.local_share("75", ["A", "B", "C"]))
                np.testing.assert_array_equal(a.amount_typicality(9_000.0, ["A", "B", "C"]),
                                              b.amount_typicality(9_000.0, ["A", "B", "C"]))
    assert set(h.cuts) == {12.5, 30.0} and h.cut_memo(12.5)
    # A cut differs from the whole history, and a view that leaves a project out keeps no memo.
    assert h.view(before=12.5).local_share("75", ["A"]) != h.view().local_share("75", ["A"])
    assert h.view(before=12.5, exclude="p1").memo is None and h.view().memo is None
