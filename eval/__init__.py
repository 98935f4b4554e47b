"""Offline evaluation: metrics, dataset adapters, baselines, the harness and its report.

Typical use (what ``maillage eval`` does)::

    evalset = load_eval_set("reserve-parlementaire", Path("../shared/data"))
    result = evaluate(evalset, make_systems(["popularity", "bm25", "maillage"]), encoder=encoder, seed=0)
    write_report(result, Path("eval-out/rp"))
"""

from eval.datasets import EVAL_SETS, EvalQuery, EvalSet, eig_ministry, load_eval_set
from eval.harness import Comparison, EvalResult, SystemResult, evaluate
from eval.metrics import (
    CI,
    average_precision,
    bootstrap_ci,
    concentration_from_counts,
    coverage,
    gini,
    hit_at_k,
    ndcg_at_k,
    paired_bootstrap_pvalue,
    paired_ttest_pvalue,
    provider_concentration,
    recall_at_k,
    reciprocal_rank,
)
from eval.report import format_table, write_report
from eval.systems import (
    SYSTEMS,
    BM25System,
    DenseSystem,
    MaillageSystem,
    PopularitySystem,
    RandomSystem,
    System,
    TfidfLRSystem,
    make_systems,
)

__all__ = [
    "CI",
    "EVAL_SETS",
    "SYSTEMS",
    "BM25System",
    "Comparison",
    "DenseSystem",
    "EvalQuery",
    "EvalResult",
    "EvalSet",
    "MaillageSystem",
    "PopularitySystem",
    "RandomSystem",
    "System",
    "SystemResult",
    "TfidfLRSystem",
    "average_precision",
    "bootstrap_ci",
    "concentration_from_counts",
    "coverage",
    "eig_ministry",
    "evaluate",
    "format_table",
    "gini",
    "hit_at_k",
    "load_eval_set",
    "make_systems",
    "ndcg_at_k",
    "paired_bootstrap_pvalue",
    "paired_ttest_pvalue",
    "provider_concentration",
    "recall_at_k",
    "reciprocal_rank",
    "write_report",
]
