"""eval.plans: the all-found share by hand, and plans against same-size lists on a small set."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.datasets import EvalQuery, EvalSet
from eval.plans import all_found, evaluate_plans
from indexes import HashingEncoder
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from matcher.schemas import Initiative
from matcher.store import Catalogue
from tests.conftest import TODAY, small_catalogue


def test_all_found_by_hand() -> None:
    lists = [["a", "b"], ["a"], [], ["c"]]
    relevant = [{"a", "b"}, {"a", "b"}, set(), {"c"}]
    assert all_found(lists, relevant) == pytest.approx(2 / 3)  # the query without relevant ids is not counted
    assert all_found([[]], [set()]) == 0.0
    with pytest.raises(ValueError, match="2 lists for 1"):
        all_found([[], []], [{"a"}])


def test_plans_against_lists_of_the_same_size(filled_store: Catalogue, encoder: HashingEncoder,
                                              tmp_path: Path) -> None:
    providers, resources, _ = small_catalogue()
    rec = Recommender(ResourceIndex.ensure(filled_store, encoder, tmp_path / "indexes"), encoder)
    garden = Initiative(id="q-1", title="Jardin partagé", territory="93066", legal_form="association",
                        description="jardin partagé compost potager quartier", needs=["financement"])
    mobility = Initiative(id="q-2", title="Garage solidaire", territory="93066", legal_form="association",
                          description="garage solidaire covoiturage transport à la demande")
    queries = [EvalQuery("q-1", garden, frozenset({"res-jardin-93"})),
               EvalQuery("q-2", mobility, frozenset({"res-mobilite", "res-national-eco"})),
               EvalQuery("q-3", garden, frozenset())]
    evalset = EvalSet("petit", providers, resources, [], queries, [], today=TODAY)
    figures = evaluate_plans(rec, evalset)
    assert figures.queries == 2  # q-3 obtained nothing: not counted
    top = rec.recommend(garden, 12, today=TODAY).matches
    assert top[0].resource_id == "res-jardin-93"
    # Every resource here is a funding: each plan is one step, the best match. The garden's holds its
    # grant (as its list of one does); the garage obtained two fundings, which no plan of one holds.
    assert figures.mean_plan_size == 1.0
    assert (figures.plan_all_found, figures.topn_all_found, figures.plan_only, figures.topn_only) == (0.5, 0.5, 0, 0)
