"""Run systems on one split of one labelled set and collect every figure the report shows.

All systems are fitted on the same train split and rank the same test queries in the same process
(a cross-fitted set, :attr:`eval.datasets.EvalSet.folds`: on each fold's train split in turn, each
fit ranking that fold's test queries; every figure is then over all of them).
Per-query metrics are computed on each system's list of ``depth`` items (MRR and MAP over the whole
list, the others at each k); catalogue metrics (coverage, provider concentration) on the top
``main_k`` lists. Every figure carries a percentile-bootstrap 95 % CI over test queries; all
systems use the same resampled query sets (same seed), so their intervals are comparable.

Significance: the reference system (``maillage`` when present, else the best by nDCG) is compared
with every other one on each headline metric by a paired two-sided t-test over queries — through
``ranx.compare`` when ranx is installed (its figures are checked against ours), else scipy — and a
paired bootstrap of the difference (CI of the delta and a p-value). p-values are not corrected for
multiple comparisons.

Judged sets (queries with ``grades``, :mod:`eval.judged`): a query without a relevant resource
(nothing fits that project) is ranked like the others but left out of every per-query metric and
of significance; the judged figures of :mod:`eval.judged_metrics` (graded nDCG@5, P@5, "nothing
fits" shares, grade-0 slots, hubness) use every list, and the "nothing fits" flag of each system
that has one (:class:`eval.systems.NothingFits`; the others never say it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from tqdm import tqdm

from eval import metrics as M
from eval.calibration_report import calibration_figures
from eval.datasets import EvalQuery, EvalSet
from eval.judged_metrics import is_judged, judged_figures
from eval.significance import Comparison, compare, headline_metrics, significance_method
from eval.systems import NothingFits, System
from indexes import Encoder

__all__ = ["Comparison", "EvalResult", "SystemResult", "evaluate", "headline_metrics"]

_CHUNK = 64  # queries per rank() call: progress granularity and encoder batch size


@dataclass
class SystemResult:
    """One system's ranked lists and figures on the test split."""

    name: str
    rankings: list[list[str]]
    """Per test query, up to ``depth`` resource ids, best first."""
    per_query: dict[str, np.ndarray]
    """Metric name → ``(n_scored,) float64`` per-query values (``ndcg@k``, ``recall@k``, ``hit@k``, ``mrr``,
    ``map``), over the test queries that have a relevant resource (all of them outside judged sets)."""
    summary: dict[str, M.CI]
    """Metric name → mean over queries (or catalogue figure) with its 95 % CI."""
    fit_seconds: float
    rank_seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    nothing_fits: list[bool] = field(default_factory=list)
    """Per test query: did the system say nothing fits (always False for a system that cannot)."""
    judged: dict[str, Any] = field(default_factory=dict)
    """Judged sets only: :func:`eval.judged_metrics.judged_figures`."""
    relevances: list[list[float] | None] | None = None
    """Per test query, the calibrated probability of each ranked match (None: the system gives none)."""
    labels: list[list[str] | None] | None = None
    """Per test query, the relevance label shown with each ranked match ("forte", "moyenne", "faible")."""


@dataclass
class EvalResult:
    """Everything one evaluation produced; :mod:`eval.report` renders it."""

    dataset: dict[str, Any]
    k_values: tuple[int, ...]
    main_k: int
    depth: int
    seed: int
    encoder: str
    systems: dict[str, SystemResult]
    reference: str | None
    best_baseline: str | None
    comparisons: list[Comparison]
    significance: str
    slices: dict[str, dict[str, dict[str, Any]]]
    """Slice key → value → ``{"n": count, "systems": {system: {metric: mean}}}``."""
    query_ids: list[str]
    notes: list[str] = field(default_factory=list)
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)
    """System → :func:`eval.calibration_report.calibration_figures` (systems giving probabilities only)."""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def headline(self) -> list[str]:
        return headline_metrics(self.main_k)

    def to_dict(self) -> dict[str, Any]:
        """Every figure, JSON-ready (rankings and per-query arrays left out)."""
        systems = {}
        for name, s in self.systems.items():
            systems[name] = {
                "metrics": {m: ci.as_dict() for m, ci in s.summary.items()},
                "recall_curve": {str(k): s.summary[f"recall@{k}"].value for k in self.k_values},
                "fit_seconds": round(s.fit_seconds, 3),
                "rank_seconds": round(s.rank_seconds, 3),
                "config": s.config,
            }
            if s.judged:
                systems[name]["judged"] = {m: v.as_dict() if isinstance(v, M.CI) else v
                                           for m, v in s.judged.items()}
        return {
            "dataset": self.dataset,
            "k_values": list(self.k_values),
            "main_k": self.main_k,
            "depth": self.depth,
            "seed": self.seed,
            "encoder": self.encoder,
            "created_at": self.created_at,
            "systems": systems,
            "reference": self.reference,
            "best_baseline": self.best_baseline,
            "significance": self.significance,
            "comparisons": [asdict(c) for c in self.comparisons],
            "slices": self.slices,
            "calibration": self.calibration,
            "notes": self.notes,
        }


def _catalogue_names(main_k: int) -> list[str]:
    return [f"coverage@{main_k}", f"top10%_share@{main_k}", f"gini@{main_k}"]


def _check_k_values(k_values: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(sorted(set(k_values)))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"k_values must be positive ints, got {list(k_values)!r}")
    return ks


def evaluate(
    evalset: EvalSet,
    systems: Sequence[System],
    *,
    k_values: Sequence[int] = (1, 3, 5, 10, 20),
    encoder: Encoder,
    seed: int = 0,
    depth: int | None = None,
    limit: int | None = None,
    resamples: int = 1000,
    significance: str = "auto",
    progress: bool = True,
) -> EvalResult:
    """Fit every system on ``evalset``'s train split and score it on the test split.

    ``depth`` (default: ``max(max(k_values), min(100, candidates))``) is how many items each system
    ranks; ``limit`` keeps a seeded sample of that many test queries; ``significance`` is ``"ranx"``,
    ``"scipy"`` or ``"auto"`` (ranx when installed). Raises ``ValueError`` for bad arguments.
    """
    ks = _check_k_values(k_values)
    _check_arguments(evalset, systems, significance, limit)
    n_cand = len(evalset.resources)
    depth = depth or max(ks[-1], min(100, n_cand))
    if depth < ks[-1]:
        raise ValueError(f"depth ({depth}) must be >= the largest k ({ks[-1]})")
    main_k = 10 if 10 in ks else ks[-1]

    evalset, notes = _limited(evalset, limit, seed)
    queries = evalset.test
    # Only a judged set has queries without a relevant resource; they have no rank to score.
    scored = [i for i, q in enumerate(queries) if q.relevant]
    if not scored:
        raise ValueError(f"dataset {evalset.name}: no test query has a relevant resource")
    relevant = [queries[i].relevant for i in scored]

    results, calibration = _run_all(systems, evalset, encoder, scored, ks, depth, main_k, progress)
    provider_of = evalset.provider_of()
    for res in results.values():
        res.summary = _summaries(res, evalset.resource_ids, provider_of, main_k, resamples, seed)
        if is_judged(queries):
            res.judged = judged_figures(queries, res.rankings, res.nothing_fits, resamples=resamples, seed=seed)

    reference, best_baseline = _reference(results, main_k)
    method = significance_method(significance)
    comparisons, more_notes = compare(
        {n: r.per_query for n, r in results.items()},
        {n: [r.rankings[i] for i in scored] for n, r in results.items()}, reference,
        relevant, headline_metrics(main_k), method, resamples, seed)
    notes += more_notes
    return EvalResult(
        dataset=evalset.summary() | {"test_evaluated": len(queries)},
        k_values=ks, main_k=main_k, depth=depth, seed=seed, encoder=encoder.model_id,
        systems=results, reference=reference, best_baseline=best_baseline, comparisons=comparisons,
        significance=method, slices=_slices([queries[i] for i in scored], results, main_k),
        query_ids=[q.id for q in queries],
        notes=notes, calibration=calibration,
    )


def _run_all(systems: Sequence[System], evalset: EvalSet, encoder: Encoder, scored: list[int], ks: tuple[int, ...],
             depth: int, main_k: int, progress: bool) -> tuple[dict[str, SystemResult], dict[str, dict[str, Any]]]:
    """Every system's result, and the calibration figures of those that give probabilities."""
    results: dict[str, SystemResult] = {}
    calibration: dict[str, dict[str, Any]] = {}
    for system in systems:
        results[system.name] = _run(system, evalset, encoder, scored, ks, depth, progress)
        res = results[system.name]
        figures = calibration_figures(evalset.test, res.rankings, res.relevances, res.nothing_fits, main_k,
                                      labels=res.labels)
        if figures is not None:
            calibration[system.name] = figures
    return results, calibration


def _limited(evalset: EvalSet, limit: int | None, seed: int) -> tuple[EvalSet, list[str]]:
    """``evalset`` with a seeded sample of ``limit`` test queries (all when None), and its notes."""
    notes = list(evalset.notes)
    if limit is not None and limit < len(evalset.test):
        keep = np.sort(np.random.default_rng(seed).choice(len(evalset.test), size=limit, replace=False))
        kept = {evalset.test[i].id for i in keep}
        folds = [replace(f, test=[q for q in f.test if q.id in kept]) for f in evalset.folds]
        evalset = replace(evalset, test=[evalset.test[i] for i in keep] if not folds else
                          [q for f in folds for q in f.test], folds=[f for f in folds if f.test])
        notes.append(f"test queries limited to a seeded sample of {limit}")
    return evalset, notes


def _check_arguments(evalset: EvalSet, systems: Sequence[System], significance: str, limit: int | None) -> None:
    names = [s.name for s in systems]
    if not systems or len(set(names)) != len(names):
        raise ValueError(f"systems must be a non-empty list with distinct names, got {names}")
    if significance not in {"auto", "ranx", "scipy"}:
        raise ValueError(f"significance must be one of auto, ranx, scipy; got {significance!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if not evalset.test:
        raise ValueError(f"dataset {evalset.name} has no test queries for this split")


def _run(system: System, evalset: EvalSet, encoder: Encoder, scored: list[int], ks: tuple[int, ...],
         depth: int, progress: bool) -> SystemResult:
    """Fit ``system`` on the train split, rank the test queries ``depth`` deep, read its "nothing
    fits" flags and probabilities (then close it), and score the queries at positions ``scored``; the
    summary is filled in later. A cross-fitted set (``evalset.folds``) is fitted fold by fold, each
    fit ranking its fold's test queries."""
    queries = evalset.test
    parts = evalset.folds or [evalset]
    if [q.id for p in parts for q in p.test] != [q.id for q in queries]:
        raise ValueError(f"dataset {evalset.name}: the folds' test queries are not the set's test queries")
    rankings: list[list[str]] = []
    said: list[bool] = []
    probs: list[list[float] | None] | None = [] if callable(getattr(system, "relevances", None)) else None
    labels: list[list[str] | None] | None = [] if callable(getattr(system, "relevance_labels", None)) else None
    fit_s = rank_s = 0.0
    for n, part in enumerate(parts, start=1):
        fold = f" (fold {n}/{len(parts)})" if evalset.folds else ""
        t0 = time.perf_counter()
        _log(progress, f"{system.name}{fold}: fitting on {len(part.train)} train queries, "
                       f"{len(part.resources)} candidates")
        system.fit(part, encoder)
        t1 = time.perf_counter()
        try:
            rankings += _rank(system, part.test, depth, progress)
            flags = system.nothing_fits(part.test) if isinstance(system, NothingFits) else [False] * len(part.test)
            if len(flags) != len(part.test):
                raise ValueError(f"system {system.name!r} gave {len(flags)} nothing-fits flags for "
                                 f"{len(part.test)} queries")
            said += [bool(x) for x in flags]
            if probs is not None:
                probs += system.relevances(part.test)  # type: ignore[attr-defined]
            if labels is not None:
                labels += system.relevance_labels(part.test)  # type: ignore[attr-defined]
        finally:
            close = getattr(system, "close", None)
            if callable(close):
                close()
        fit_s, rank_s = fit_s + t1 - t0, rank_s + time.perf_counter() - t1
    per_query = _per_query([rankings[i] for i in scored], [queries[i].relevant for i in scored], ks)
    _log(progress, f"{system.name}: fit {fit_s:.1f} s, rank {rank_s:.1f} s")
    return SystemResult(system.name, rankings, per_query, {}, fit_s, rank_s, _config_of(system), said,
                        relevances=probs, labels=labels)


def _rank(system: System, queries: list[EvalQuery], depth: int, progress: bool) -> list[list[str]]:
    rankings: list[list[str]] = []
    with tqdm(total=len(queries), desc=f"{system.name}: ranking", unit="q", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        for start in range(0, len(queries), _CHUNK):
            chunk = queries[start : start + _CHUNK]
            for ranked in system.rank(chunk, depth):
                rankings.append(_ids(ranked, system.name))
            bar.update(len(chunk))
    return rankings


def _log(enabled: bool, message: str) -> None:
    if enabled:
        tqdm.write(message, file=sys.stderr)


def _ids(ranked: Sequence[tuple[str, float]], name: str) -> list[str]:
    ids = [rid for rid, _ in ranked]
    if len(set(ids)) != len(ids):
        raise ValueError(f"system {name!r} returned the same resource twice in one list")
    return ids


def _config_of(system: System) -> dict[str, Any]:
    config = getattr(system, "config", None)
    out = asdict(config) if is_dataclass(config) and not isinstance(config, type) else {}
    gate = getattr(system, "gate_", None)  # what the learned pipeline's training decided
    return {**out, "gate": dict(gate)} if gate else out


def _per_query(rankings: list[list[str]], relevant: list[frozenset[str]], ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"ndcg@{k}"] = np.array([M.ndcg_at_k(r, rel, k) for r, rel in zip(rankings, relevant, strict=True)])
        out[f"recall@{k}"] = np.array([M.recall_at_k(r, rel, k) for r, rel in zip(rankings, relevant, strict=True)])
        out[f"hit@{k}"] = np.array([M.hit_at_k(r, rel, k) for r, rel in zip(rankings, relevant, strict=True)])
    out["mrr"] = np.array([M.reciprocal_rank(r, rel) for r, rel in zip(rankings, relevant, strict=True)])
    out["map"] = np.array([M.average_precision(r, rel) for r, rel in zip(rankings, relevant, strict=True)])
    return out


def _summaries(
    res: SystemResult, candidates: list[str], provider_of: dict[str, str], k: int, resamples: int, seed: int
) -> dict[str, M.CI]:
    summary = {m: M.bootstrap_ci(v, resamples=resamples, seed=seed) for m, v in res.per_query.items()}
    # Catalogue metrics are not means of per-query values: resample queries and recompute them.
    cand_idx = {c: i for i, c in enumerate(candidates)}
    providers = sorted(set(provider_of.values()))
    prov_idx = {p: i for i, p in enumerate(providers)}
    top = np.full((len(res.rankings), k), -1, dtype=np.int64)
    prov = np.full((len(res.rankings), k), -1, dtype=np.int64)
    for row, ranked in enumerate(res.rankings):
        for col, rid in enumerate(ranked[:k]):
            top[row, col] = cand_idx.get(rid, -1)
            prov[row, col] = prov_idx.get(provider_of.get(rid, ""), -1)

    def cov(idx: np.ndarray) -> float:
        shown = top[idx]
        return float(np.unique(shown[shown >= 0]).size / max(1, len(candidates)))

    def counts(idx: np.ndarray) -> np.ndarray:
        shown = prov[idx]
        return np.bincount(shown[shown >= 0], minlength=len(providers)).astype(np.float64)

    n = len(res.rankings)
    names = _catalogue_names(k)
    summary[names[0]] = M.bootstrap_ci(statistic=cov, n=n, resamples=resamples, seed=seed, bounds=(0.0, 1.0))
    summary[names[1]] = M.bootstrap_ci(
        statistic=lambda idx: M.concentration_from_counts(counts(idx))[0], n=n, resamples=resamples, seed=seed,
        bounds=(0.0, 1.0),
    )
    summary[names[2]] = M.bootstrap_ci(
        statistic=lambda idx: M.gini(counts(idx)), n=n, resamples=resamples, seed=seed, bounds=(0.0, 1.0)
    )
    return summary


def _reference(results: dict[str, SystemResult], k: int) -> tuple[str | None, str | None]:
    """(the system under test, the best other system by nDCG@k)."""
    by_ndcg = sorted(results, key=lambda s: -results[s].summary[f"ndcg@{k}"].value)
    reference = "maillage" if "maillage" in results else by_ndcg[0]
    # Variants of our own pipeline (maillage-*) are ablations, not baselines.
    others = [s for s in by_ndcg if s != reference and not s.startswith("maillage")]
    return reference, (others[0] if others else None)


def _slices(scored: list[EvalQuery], results: dict[str, SystemResult], k: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Per-query means by slice value, over the ``scored`` queries (those the per-query arrays hold)."""
    metrics = [f"ndcg@{k}", f"recall@{k}", "mrr"]
    keys = sorted({key for q in scored for key in q.slices})
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in keys:
        values = sorted({q.slices[key] for q in scored if key in q.slices})
        out[key] = {}
        for value in values:
            mask = np.array([q.slices.get(key) == value for q in scored])
            out[key][value] = {
                "n": int(mask.sum()),
                "systems": {
                    name: {m: float(res.per_query[m][mask].mean()) for m in metrics}
                    for name, res in results.items()
                },
            }
    return out
