"""Offline evaluation: metrics, dataset adapters, baselines, the harness and its report.

Typical use (what ``maillage eval`` does)::

    evalset = load_eval_set("reserve-parlementaire", Path("../shared/data"))
    result = evaluate(evalset, make_systems(["popularity", "bm25", "maillage"]), encoder=encoder, seed=0)
    write_report(result, Path("eval-out/rp"))

A folder of import files is a labelled set too (``load_folder_set``); ``export_eval_set`` writes a
named set as one.
"""

from eval.datasets import EVAL_SETS, EvalQuery, EvalSet, eig_ministry, load_eval_set
from eval.export_set import export_eval_set
from eval.folder_set import load_folder_set
from eval.harness import Comparison, EvalResult, SystemResult, evaluate
from eval.judged import load_judged_set
from eval.judged_metrics import judged_figures
from eval.metrics import (
    CI,
    average_precision,
    bootstrap_ci,
    concentration_from_counts,
    coverage,
    gini,
    graded_ndcg_at_k,
    hit_at_k,
    most_exposed,
    ndcg_at_k,
    paired_bootstrap_pvalue,
    paired_ttest_pvalue,
    precision_at_k,
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
    NothingFits,
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
    "NothingFits",
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
    "export_eval_set",
    "format_table",
    "gini",
    "graded_ndcg_at_k",
    "hit_at_k",
    "judged_figures",
    "load_eval_set",
    "load_folder_set",
    "load_judged_set",
    "make_systems",
    "most_exposed",
    "ndcg_at_k",
    "paired_bootstrap_pvalue",
    "paired_ttest_pvalue",
    "precision_at_k",
    "provider_concentration",
    "recall_at_k",
    "reciprocal_rank",
    "write_report",
]
