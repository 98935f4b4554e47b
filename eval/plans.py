"""Plans against lists: does the plan hold everything a project really obtained?

For each test query with at least one obtained resource, the plan (:func:`matcher.plan.make_plan` on
the first :data:`~matcher.plan.PLAN_DEPTH` matches of ``Recommender.recommend``) is compared with
the top-n list of the same ``recommend`` call, n being the plan's size: the baseline has exactly as
many resources to apply to. A query counts when *all* its obtained resources are in the plan
(resp. the list). A plan of 0 steps and its list of 0 both hold nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from eval.datasets import EvalQuery, EvalSet
from matcher.plan import PLAN_DEPTH, make_plan
from matcher.recommender import Recommender

__all__ = ["PlanFigures", "all_found", "evaluate_plans"]


def all_found(lists: Sequence[Collection[str]], relevant: Sequence[Collection[str]]) -> float:
    """Share of queries whose relevant ids are all in their list (queries without relevant ids are
    not counted; 0.0 when none is left)."""
    if len(lists) != len(relevant):
        raise ValueError(f"{len(lists)} lists for {len(relevant)} relevant sets")
    judged = [(set(found), set(rel)) for found, rel in zip(lists, relevant, strict=True) if rel]
    return sum(rel <= found for found, rel in judged) / len(judged) if judged else 0.0


@dataclass(frozen=True)
class PlanFigures:
    """One set's figures: ``queries`` counted (test queries with an obtained resource), the share whose
    obtained resources are all in the plan, the same for the top-n list of the same size, the mean
    plan size, and the paired counts (found by the plan only, by the list only)."""

    set_name: str
    queries: int
    plan_all_found: float
    topn_all_found: float
    mean_plan_size: float
    plan_only: int
    topn_only: int

    def as_dict(self) -> dict[str, object]:
        return {"set": self.set_name, "queries": self.queries, "plan_all_found": round(self.plan_all_found, 4),
                "topn_same_size_all_found": round(self.topn_all_found, 4),
                "mean_plan_size": round(self.mean_plan_size, 3), "plan_only": self.plan_only,
                "topn_only": self.topn_only}


def evaluate_plans(rec: Recommender, evalset: EvalSet, queries: Sequence[EvalQuery] | None = None) -> PlanFigures:
    """Plans and same-size lists for ``queries`` (default: the test split), ``evalset.today`` deciding
    what is open. One ``recommend`` call per query makes both."""
    plans: list[list[str]] = []
    lists: list[list[str]] = []
    relevant: list[frozenset[str]] = []
    index = rec.index
    for q in queries if queries is not None else evalset.test:
        if not q.relevant:
            continue
        found = rec.recommend(q.initiative, PLAN_DEPTH, today=evalset.today)
        plan = make_plan(found.matches, index.resources, index.providers, needs=q.initiative.needs,
                         amount_sought=q.initiative.amount_sought, today=evalset.today)
        plans.append(plan.resource_ids)
        lists.append([m.resource_id for m in found.matches[: len(plan.steps)]])
        relevant.append(q.relevant)
    in_plan = [rel <= set(p) for p, rel in zip(plans, relevant, strict=True)]
    in_list = [rel <= set(t) for t, rel in zip(lists, relevant, strict=True)]
    return PlanFigures(evalset.name, len(plans), all_found(plans, relevant), all_found(lists, relevant),
                       sum(map(len, plans)) / len(plans) if plans else 0.0,
                       sum(p and not t for p, t in zip(in_plan, in_list, strict=True)),
                       sum(t and not p for p, t in zip(in_plan, in_list, strict=True)))
