"""Lists with a calibration: labels on every ranked match, "nothing fits" below the threshold, near misses."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.calibration import Calibration
from matcher.features import FEATURES
from matcher.pool import Pool
from matcher.recommender import Recommender
from matcher.schemas import Decision, MatchQuery, Outcome
from tests.conftest import TODAY
from tests.pool_fixture import build_demo
from training.calibrate import calibrate, served_lists


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Recommender, list[MatchQuery]]:
    rec, _store, queries = build_demo(tmp_path_factory.mktemp("demo"))
    return rec, queries


def _with(rec: Recommender, threshold: float) -> Recommender:
    cal = Calibration((1.0, -0.5, 1.0), -3.0, threshold, rec.encoder.model_id, "test", 10, 2)
    return Recommender(rec.index, rec.encoder, rec.config, rec.ranker, calibration=cal)


def test_every_ranked_match_carries_a_probability_and_its_label(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    got = _with(rec, 0.0).recommend(queries[0], 5, today=TODAY)
    assert got.matches and not got.nothing_fits and got.near_misses == []
    for m in got.matches:
        assert m.relevance is not None and 0.0 < m.relevance < 1.0
        assert m.relevance_label in {"forte", "moyenne", "faible"}
    # Without a calibration nothing is labelled, and a list with matches never says nothing fits.
    plain = rec.recommend(queries[0], 5, today=TODAY)
    assert all(m.relevance is None and m.relevance_label is None for m in plain.matches) and not plain.nothing_fits


def test_the_label_shown_follows_the_calibration_s_forte_bound(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    base = _with(rec, 0.0)
    assert base.calibration is not None
    shown = [m for q in queries[:12] for m in base.recommend(q, 5, today=TODAY).matches]
    p = sorted({m.relevance for m in shown if m.relevance is not None})
    bound = (p[len(p) // 2 - 1] + p[len(p) // 2]) / 2  # between two shown (rounded) probabilities
    assert bound > 0.6, "the test calibration gives some demo matches more than 0.6"
    cal = base.calibration
    moved = Recommender(rec.index, rec.encoder, rec.config, rec.ranker, calibration=Calibration(
        cal.coef, cal.intercept, cal.threshold, cal.encoder, cal.fitted_on, cal.pairs, cal.positives, strong=bound))
    for q in queries[:12]:
        for m in moved.recommend(q, 5, today=TODAY).matches:
            assert m.relevance is not None
            want = "forte" if m.relevance >= bound else "moyenne" if m.relevance >= 0.3 else "faible"
            assert m.relevance_label == want, (m.resource_id, m.relevance)
            if m.relevance_label != "forte":  # no reason claims a strong closeness the label does not
                assert not any("forte" in r for r in m.reasons)


def test_below_the_threshold_the_list_says_nothing_fits_and_shows_near_misses(
        demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    strict = _with(rec, 1.0)
    said = [strict.recommend(q, 5, today=TODAY) for q in queries[:12]]
    assert all(r.nothing_fits for r in said)
    near = [m for r in said for m in r.near_misses]
    assert near, "some demo query has a resource failing a criterion by little"
    assert all(m.near_misses for m in near) and all(len(r.near_misses) <= 3 for r in said)
    # Near misses are computed only when nothing fits.
    assert all(r.near_misses == [] for r in (_with(rec, 0.0).recommend(q, 5, today=TODAY) for q in queries[:12]))


def test_a_staff_pin_is_never_a_nothing_fits_list(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    q = queries[0]
    some = rec.recommend(q, 5, today=TODAY).matches[-1].resource_id
    pin = {some: Outcome(initiative_id=q.initiative_id or "x", resource_id=some, decision=Decision.pinned,
                         actor="staff")}
    got = _with(rec, 1.0).recommend(q, 5, today=TODAY, overrides=pin)
    assert got.matches[0].resource_id == some and got.matches[0].relevance is None and not got.nothing_fits


def test_calibration_lists_are_the_served_lists(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    labelled = []
    for q in queries[:20]:
        top = rec.recommend(q, 3, today=TODAY, exclude_history_of=q.initiative_id).matches
        labelled.append((q, frozenset({top[0].resource_id}) if top else frozenset(), None))
    lists = served_lists(rec, labelled, today=TODAY, k=10)
    assert lists.inputs.shape == (len(lists.labels), 3) and len(lists.starts) == 20
    best, fits = lists.best()
    assert fits.all() and (lists.labels[lists.starts] == 1).all()  # each list's first match is its relevant one
    cal = calibrate(rec, labelled, today=TODAY, fitted_on="test")
    assert cal is not None and cal.pairs == len(lists.labels) and cal.positives == 20
    assert (cal.probabilities(best) >= cal.threshold).all()


def test_an_empty_list_says_nothing_fits(demo: tuple[Recommender, list[MatchQuery]]) -> None:
    rec, queries = demo
    empty = Pool(queries[0], [], np.zeros((0, len(FEATURES))), [], np.zeros(0, dtype=bool), np.zeros(0), 0)
    got = rec.presenter.present(empty, 5, {}, [], with_excluded=False, explain=True)
    assert got.matches == [] and got.nothing_fits and got.near_misses == []
