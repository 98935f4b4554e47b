"""How the benchmark shows its figures: a table on the log and ``latency.png`` (ours against the
flat baseline, by catalogue size)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.bench_data import size_label

__all__ = ["plot_latency", "print_table"]


def print_table(figures: dict[str, float], log: Callable[[str], None]) -> None:
    log(f"{'figure':44} {'ours':>12} {'baseline':>12} {'ratio':>8}")
    for key, value in figures.items():
        if key.startswith("baseline.") or key.endswith(".ratio"):
            continue
        base = figures.get(f"baseline.{key}")
        ratio = figures.get(f"{key}.ratio")
        log(f"{key:44} {value:12.4g} {'' if base is None else f'{base:12.4g}':>12} "
            f"{'' if ratio is None else f'{ratio:8.3g}':>8}")


def plot_latency(figures: dict[str, float], sizes: Sequence[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = ((axes[0], "retrieve_vector", "Vector → top 10", {"target p50 at 100k": 5.0}),
              (axes[1], "retrieve_text", "Free text → encode + hybrid top 10",
               {"target p50": 30.0, "target p99": 80.0}))
    for ax, what, title, targets in panels:
        for who, prefix, color in (("ours", "", "tab:blue"), ("baseline (flat)", "baseline.", "tab:red")):
            for pct, style in (("p50", "-o"), ("p99", "--^")):
                pts = [(n, figures[f"{prefix}{size_label(n)}.{what}.{pct}_ms"]) for n in sizes
                       if f"{prefix}{size_label(n)}.{what}.{pct}_ms" in figures]
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, color=color, label=f"{who} {pct}")
        for name, ms in targets.items():
            ax.axhline(ms, color="grey", linestyle=":", linewidth=1)
            ax.annotate(name, (0.01, ms), xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                        va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("catalogue size (items)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Maillage retrieval latency by catalogue size (2-core CPU)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
