"""Render an :class:`~eval.harness.EvalResult`: a Markdown report, every figure as JSON, PNG plots.

``write_report(result, out_dir)`` writes, through temporary files renamed into place:

- ``report.md``: dataset and split, the system table (headline metrics and catalogue metrics, each
  with its 95 % CI), significance of the reference system against the others, per-slice tables;
- ``results.json``: every figure of :meth:`EvalResult.to_dict`;
- ``metrics.png`` (headline metrics by system with CI error bars), ``recall_at_k.png`` (recall@k
  curves) and ``slice_<key>.png`` (nDCG per slice value and system);
- judged sets only: a "Judged set" section (graded nDCG@5, P@5, "nothing fits" shares, grade-0
  slots, hubness; :mod:`eval.judged_metrics`) and ``judged.png``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.harness import EvalResult
from eval.metrics import CI

__all__ = ["format_table", "write_report"]

_LABELS = {"mrr": "MRR", "map": "MAP"}


def _label(metric: str) -> str:
    if metric in _LABELS:
        return _LABELS[metric]
    name, _, k = metric.partition("@")
    pretty = {"ndcg": "nDCG", "recall": "recall", "hit": "hit", "coverage": "coverage",
              "top10%_share": "top-10% share", "gini": "Gini"}.get(name, name)
    return f"{pretty}@{k}" if k else pretty


def _columns(result: EvalResult) -> list[str]:
    k = result.main_k
    return [*result.headline(), f"coverage@{k}", f"top10%_share@{k}", f"gini@{k}"]


def _ci(ci: CI, *, bracket: bool = True) -> str:
    return f"{ci.value:.3f} [{ci.low:.3f}, {ci.high:.3f}]" if bracket else f"{ci.value:.3f}"


def format_table(result: EvalResult, *, with_ci: bool = True) -> str:
    """The system table as aligned plain text (for a terminal)."""
    cols = _columns(result)
    header = ["system", *(_label(c) for c in cols), "time (s)"]
    rows = [header]
    for name, s in result.systems.items():
        rows.append([name, *(_ci(s.summary[c], bracket=with_ci) for c in cols),
                     f"{s.fit_seconds + s.rank_seconds:.1f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    d = result.dataset
    title = (f"{d['name']}: {d['test_evaluated']} test queries, {d['train']} train, {d['candidates']} candidates "
             f"(encoder {result.encoder}; 95% bootstrap CI)")
    return "\n".join([title, *lines, *_judged_lines(result, with_ci)])


def _judged_lines(result: EvalResult, with_ci: bool) -> list[str]:
    """The judged table for a terminal (nothing outside judged sets)."""
    judged = {name: s.judged for name, s in result.systems.items() if s.judged}
    if not judged:
        return []
    k = next(iter(judged.values()))["k"]
    rows = [["system", f"nDCG@{k} fits", f"P@{k} fits", "nothing-fits (none)", "nothing-fits (fits)",
             f"grade-0 top{k}", "hub"]]
    for name, j in judged.items():
        rows.append([name, _ci(j[f"ndcg@{k}"], bracket=with_ci), _ci(j[f"p@{k}"], bracket=with_ci),
                     _ci(j["nothing_fits_none"], bracket=with_ci), _ci(j["nothing_fits_fits"], bracket=with_ci),
                     f"{j[f'grade0@{k}']}/{j[f'slots@{k}']}", f"{j[f'hub_share@{k}']:.2f} {j['hub_resource'] or ''}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["", f"judged set: {j['n_fits']} projects that fit, {j['n_none']} with nothing fitting", *lines]


def _p(p: float) -> str:
    # A t-test p underflows to 0 on thousands of queries; a bootstrap p is never below 1/(resamples+1).
    return "< 1e-300" if p == 0 else f"{p:.2g}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _markdown(result: EvalResult) -> str:
    d = result.dataset
    k = result.main_k
    parts = [f"# Offline evaluation — {d['name']}", ""]
    parts += [
        f"- Split: {d['split']}",
        f"- Train queries: {d['train']} (history: {d['history']} past outcomes, train only); "
        f"test queries: {d['test']} (evaluated: {d['test_evaluated']}); candidates: {d['candidates']} "
        f"resources from {d['providers']} providers.",
        f"- Encoder: `{result.encoder}`; lists of {result.depth} items (MRR and MAP over the whole list); "
        f"k ∈ {{{', '.join(map(str, result.k_values))}}}; seed {result.seed}; created {result.created_at}.",
        "- Figures are means over test queries with 95 % percentile-bootstrap CIs (1 resample = the test "
        "queries drawn with replacement; the same draws for every system). Coverage: share of candidates "
        f"shown in at least one top-{k}; top-10% share: share of top-{k} slots taken by the top 10 % of "
        "providers; Gini: of slots per provider.",
        "",
        "## Systems",
        "",
    ]
    cols = _columns(result)
    rows = [[f"`{name}`", *(_ci(s.summary[c]) for c in cols), f"{s.fit_seconds:.1f} / {s.rank_seconds:.1f}"]
            for name, s in result.systems.items()]
    parts += [_md_table(["system", *(_label(c) for c in cols), "fit / rank (s)"], rows), ""]
    parts += ["![metrics by system](metrics.png)", "", "![recall@k](recall_at_k.png)", ""]

    parts += _judged_section(result)
    parts += ["## Significance", ""]
    if result.comparisons:
        parts.append(
            f"`{result.reference}` against every other system (best baseline by nDCG@{k}: "
            f"`{result.best_baseline}`). Δ = reference − baseline, with its paired-bootstrap 95 % CI; "
            f"p: two-sided paired t-test ({result.significance}); p (boot.): paired bootstrap (10,000 "
            "resamples or more, so never below ~1e-4). ** p < 0.05. Not corrected for multiple comparisons."
        )
        parts.append("")
        rows = []
        for c in sorted(result.comparisons, key=lambda c: (c.baseline != result.best_baseline, c.baseline)):
            star = " **" if c.p_value < 0.05 else ""
            rows.append([f"`{c.baseline}`" + (" (best)" if c.baseline == result.best_baseline else ""),
                         _label(c.metric), f"{c.delta:+.3f} [{c.low:+.3f}, {c.high:+.3f}]",
                         _p(c.p_value) + star, _p(c.p_bootstrap)])
        parts += [_md_table(["baseline", "metric", "Δ", "p", "p (boot.)"], rows), ""]
    else:
        parts += ["Only one system was evaluated.", ""]

    parts += _slices_section(result)
    parts += _calibration_section(result)
    if result.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in result.notes), ""]
    return "\n".join(parts)


def _slices_section(result: EvalResult) -> list[str]:
    k = result.main_k
    parts = ["## Slices", ""]
    if not result.slices:
        parts += ["No slice information for this set.", ""]
    for key, values in result.slices.items():
        parts += [f"### {key}", "", f"nDCG@{k} (MRR) per slice value.", ""]
        names = list(result.systems)
        rows = []
        for value, cell in values.items():
            rows.append([value, str(cell["n"]),
                         *(f"{cell['systems'][s][f'ndcg@{k}']:.3f} ({cell['systems'][s]['mrr']:.3f})" for s in names)])
        parts += [_md_table([key, "n", *(f"`{s}`" for s in names)], rows), "",
                  f"![slices {key}](slice_{_safe(key)}.png)", ""]
    return parts


def _calibration_section(result: EvalResult) -> list[str]:
    if not result.calibration:
        return []
    k = result.main_k
    parts = ["## Calibration", "",
             f"Calibrated relevance of the top-{k} matches of every test query, fitted on the train split's "
             "validation lists (never on the test split). ECE: expected calibration error over 10 equal-width "
             "bins; \"forte\" in the top 5 (the label shown: from the calibration's fitted bound, at least "
             "p 0.6): how many, and the share that are relevant; nothing fits: "
             "share of test queries (each has a relevant resource) for which the list said nothing fits.", ""]
    rows = []
    for name, c in result.calibration.items():
        forte = "—" if c["forte_top5_relevant"] is None else f"{c['forte_top5_relevant']:.3f}"
        said = "—" if c["nothing_fits_said"] is None else f"{c['nothing_fits_said']:.3f}"
        rows.append([f"`{name}`", str(c["pairs"]), f"{c['ece']:.3f}", f"{c['mean_probability']:.3f}",
                     f"{c['share_relevant']:.3f}", str(c["forte_top5"]), forte, said])
    parts += [_md_table(["system", "pairs", "ECE", "mean p", "share relevant", "\"forte\" in top 5",
                         "of which relevant", "nothing fits said"], rows), "",
              "![reliability](reliability.png)", ""]
    return parts


def _judged_section(result: EvalResult) -> list[str]:
    judged = {name: s.judged for name, s in result.systems.items() if s.judged}
    if not judged:
        return []
    first = next(iter(judged.values()))
    k, n_fits, n_none = first["k"], first["n_fits"], first["n_none"]
    parts = [
        "## Judged set", "",
        f"{n_fits} projects with a fitting resource (\"fits\") and {n_none} without (\"none\"). nDCG@{k}: graded "
        f"(gain 2^g − 1, ideal from all grades of the project); P@{k}: share of the {k} top slots graded ≥ 2 "
        "(missing slots are misses); both on the fits projects. \"Nothing fits\" said: share of projects for "
        "which the system said nothing fits (systems that cannot say it never do). Grade-0 results: top-"
        f"{k} slots, over all {n_fits + n_none} projects, holding a resource graded 0 — grades do not tell "
        "an infeasible resource from an irrelevant one, so this counts both. Hubness: the largest share of "
        f"top-{k} lists holding one same resource, and that resource.", "",
    ]
    rows = []
    for name, j in judged.items():
        hub = f"{j[f'hub_share@{k}']:.2f} (`{j['hub_resource']}`)" if j["hub_resource"] else "0.00"
        rows.append([f"`{name}`", _ci(j[f"ndcg@{k}"]), _ci(j[f"p@{k}"]), _ci(j["nothing_fits_none"]),
                     _ci(j["nothing_fits_fits"]), f"{j[f'grade0@{k}']} / {j[f'slots@{k}']}", hub])
    header = ["system", f"nDCG@{k} (fits)", f"P@{k} (fits)", "nothing-fits said (none)",
              "nothing-fits said wrongly (fits)", f"grade-0 results in top {k}",
              f"share of lists holding the most frequent resource in top {k}"]
    return [*parts, _md_table(header, rows), "", "![judged set](judged.png)", ""]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plots(result: EvalResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    names = list(result.systems)
    width = 0.8 / max(1, len(names))

    def save(fig: object, filename: str) -> None:
        path = out / filename
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{filename}.", suffix=".png")
        os.close(fd)
        fig.savefig(tmp, dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        os.replace(tmp, path)
        written.append(path)

    metrics = [*result.headline(), f"coverage@{result.main_k}"]
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(metrics) + 0.4 * len(names)), 4.2))
    x = np.arange(len(metrics))
    for i, name in enumerate(names):
        cis = [result.systems[name].summary[m] for m in metrics]
        err = np.array([[c.value - c.low for c in cis], [c.high - c.value for c in cis]]).clip(min=0)
        ax.bar(x + (i - (len(names) - 1) / 2) * width, [c.value for c in cis], width, yerr=err, capsize=3,
               label=name)
    ax.set_xticks(x, [_label(m) for m in metrics])
    ax.set_ylim(0, 1)
    ax.set_ylabel("value (95% CI)")
    ax.set_title(f"{result.dataset['name']} — test split ({result.dataset['test_evaluated']} queries)")
    ax.legend(fontsize=8, ncol=min(3, len(names)))
    save(fig, "metrics.png")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in names:
        s = result.systems[name].summary
        ks = list(result.k_values)
        ax.plot(ks, [s[f"recall@{k}"].value for k in ks], marker="o", label=name)
        ax.fill_between(ks, [s[f"recall@{k}"].low for k in ks], [s[f"recall@{k}"].high for k in ks], alpha=0.12)
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.dataset['name']} — recall@k")
    ax.legend(fontsize=8)
    save(fig, "recall_at_k.png")

    _slice_plots(result, plt, save, width)
    _judged_plot(result, plt, save, width)
    if result.calibration:
        _reliability_plot(result, plt, save)
    return written


def _reliability_plot(result: EvalResult, plt: Any, save: Callable[[object, str], None]) -> None:
    """Share relevant against mean calibrated probability per bin, one line per system."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, c in result.calibration.items():
        bins = c["reliability"]
        ax.plot([b["mean_probability"] for b in bins], [b["share_relevant"] for b in bins], marker="o",
                label=f"{name} (ECE {c['ece']:.3f})")
    ax.set_xlabel("calibrated probability (bin mean)")
    ax.set_ylabel("share relevant")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.dataset['name']} — reliability of the top-{result.main_k}")
    ax.legend(fontsize=8)
    save(fig, "reliability.png")


def _judged_plot(result: EvalResult, plt: Any, save: Callable[[object, str], None], width: float) -> None:
    """Bars with CIs of the judged set's shares: nDCG@5, P@5 and the two "nothing fits" shares."""
    import numpy as np

    judged = {name: s.judged for name, s in result.systems.items() if s.judged}
    if not judged:
        return
    k = next(iter(judged.values()))["k"]
    metrics = [(f"ndcg@{k}", f"nDCG@{k}\n(fits)"), (f"p@{k}", f"P@{k}\n(fits)"),
               ("nothing_fits_none", "nothing fits\nsaid (none)"), ("nothing_fits_fits", "nothing fits\nsaid (fits)")]
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(metrics) + 0.4 * len(judged)), 4.2))
    x = np.arange(len(metrics))
    for i, (name, j) in enumerate(judged.items()):
        cis = [j[m] for m, _ in metrics]
        err = np.array([[c.value - c.low for c in cis], [c.high - c.value for c in cis]]).clip(min=0)
        ax.bar(x + (i - (len(judged) - 1) / 2) * width, [c.value for c in cis], width, yerr=err, capsize=3,
               label=name)
    ax.set_xticks(x, [label for _, label in metrics])
    ax.set_ylim(0, 1)
    ax.set_ylabel("value (95% CI)")
    ax.set_title(f"{result.dataset['name']} — judged figures")
    ax.legend(fontsize=8, ncol=min(3, len(judged)))
    save(fig, "judged.png")


def _slice_plots(result: EvalResult, plt: Any, save: Callable[[object, str], None], width: float) -> None:
    """One bar chart of nDCG@main_k per slice key (values side by side, one bar per system)."""
    import numpy as np

    names = list(result.systems)
    metric = f"ndcg@{result.main_k}"
    for key, by_value in result.slices.items():
        labels = list(by_value)
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) * max(1, len(names)) / 3), 4))
        pos = np.arange(len(labels))
        for i, name in enumerate(names):
            ax.bar(pos + (i - (len(names) - 1) / 2) * width,
                   [by_value[v]["systems"][name][metric] for v in labels], width, label=name)
        ax.set_xticks(pos, [f"{v}\n(n={by_value[v]['n']})" for v in labels])
        ax.set_ylim(0, 1)
        ax.set_ylabel(_label(metric))
        ax.set_title(f"{result.dataset['name']} — {_label(metric)} by {key}")
        ax.legend(fontsize=8, ncol=min(3, len(names)))
        save(fig, f"slice_{_safe(key)}.png")


def write_report(result: EvalResult, out_dir: Path) -> list[Path]:
    """Write ``report.md``, ``results.json`` and the PNG plots into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "report.md", out / "results.json"
    _write_atomic(js, (json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    written = _plots(result, out)
    _write_atomic(md, _markdown(result).encode("utf-8"))
    return [md, js, *written]
