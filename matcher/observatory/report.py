"""The observatory as people read it: a French report in Markdown and HTML, the plots, and one CSV
per table (every row), all written from the suppressed tables of an :class:`Observatory`.

The Markdown and HTML pages show the first :data:`SHOWN_ROWS` rows of each table and name its CSV;
a CSV holds every row, lists of initiatives joined by `` | ``. Nothing in them depends on when the
report was written except the line that says so, so two runs on one catalogue write the same CSVs.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from matcher.observatory.observe import Observatory, save
from matcher.observatory.plots import PLOTS, write_plots
from matcher.observatory.table import Table

__all__ = ["SHOWN_ROWS", "cell_text", "intro_lines", "write_report"]

SHOWN_ROWS = 20


def cell_text(value: Any) -> str:
    """A printed cell: lists of ids joined by `` | ``, everything else as is."""
    if isinstance(value, list):
        return " | ".join(str(v) for v in value)
    return "" if value is None else str(value)


def write_csv(table: Table, path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.header for c in table.columns])
        for row in table.rows:
            w.writerow([cell_text(row.get(c.key)) for c in table.columns])
    return path


def intro_lines(obs: Observatory) -> list[str]:
    """The report's opening sentences (French), from the headline figures."""
    h = obs.headline
    n = h["initiatives"]

    def part(x: int) -> str:
        return f"{x} ({100 * x / n:.1f} %)" if n else str(x)

    lines = [
        f"{n} initiatives et {h['resources']} ressources au {obs.meta.get('today', '')}.",
        f"Sans aucune ressource éligible : {part(h['sans_eligible'])}.",
        f"Rien ne convient (aucune ressource éligible, ou aucune assez pertinente) : {part(h['rien_ne_convient'])}.",
        f"Bloquées par un critère (leurs {h['best']} meilleures pistes échouent toutes sur le même) : "
        f"{part(h['bloquees'])}.",
    ]
    if h.get("calibration"):
        lines.append(f"Seuil de pertinence : {100 * h['seuil']:.0f} % (calibration servie).")
    else:
        lines.append("Pas de calibration servie pour ce catalogue : « rien ne convient » veut dire ici "
                     "« aucune ressource éligible » ; maillage train en ajuste une.")
    lines.append(f"Cellules de moins de {h['min_cell']} initiatives masquées (« < {h['min_cell']} »), "
                 "listes d'initiatives retirées des lignes masquées.")
    return lines


def _md_table(table: Table) -> list[str]:
    cols = table.columns
    out = [f"## {table.title}", ""]
    if table.note:
        out += [table.note, ""]
    if not table.rows:
        return [*out, "Aucune ligne.", ""]
    out.append("| " + " | ".join(c.header for c in cols) + " |")
    out.append("| " + " | ".join("---:" if c.kind in ("count", "share", "number") else "---" for c in cols) + " |")
    for row in table.rows[:SHOWN_ROWS]:
        out.append("| " + " | ".join(cell_text(row.get(c.key)).replace("|", "/") for c in cols) + " |")
    more = len(table.rows) - SHOWN_ROWS
    out += ["", f"{len(table.rows)} lignes" + (f" ({more} de plus dans " if more > 0 else " (") +
            f"`{table.name}.csv`).", ""]
    return out


def _html_table(table: Table) -> str:
    e = html.escape
    head = "".join(f"<th scope=\"col\">{e(c.header)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(cell_text(row.get(c.key)))}</td>" for c in table.columns) + "</tr>"
        for row in table.rows[:SHOWN_ROWS])
    note = f"<p>{e(table.note)}</p>" if table.note else ""
    rows = (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if table.rows
            else "<p>Aucune ligne.</p>")
    return (f"<section><h2>{e(table.title)}</h2>{note}{rows}<p>{len(table.rows)} lignes ; table complète : "
            f"<a href=\"{e(table.name)}.csv\">{e(table.name)}.csv</a>.</p></section>")


def write_report(obs: Observatory, folder: Path) -> list[Path]:
    """Write ``report.md``, ``report.html``, the plots, one CSV per table and ``observatory.json``
    into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(t, folder / f"{t.name}.csv") for t in obs.tables]
    plots = write_plots(obs, folder)
    intro = intro_lines(obs)
    md = ["# Observatoire de Maillage : ce qui bloque les projets", "", *[f"- {x}" for x in intro], ""]
    md += [f"![{PLOTS[p.stem]}]({p.name})" for p in plots] + [""]
    for t in obs.tables:
        md += _md_table(t)
    md.append(f"Calculé le {obs.meta.get('computed_at', '')} (index {obs.meta.get('index_version', '')}, "
              f"modèle {obs.meta.get('model_version', '')}).")
    (folder / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    e = html.escape
    figures = "".join(f"<figure><img src=\"{e(p.name)}\" alt=\"{e(PLOTS[p.stem])}\"><figcaption>"
                      f"{e(PLOTS[p.stem])}</figcaption></figure>" for p in plots)
    page = ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Observatoire de Maillage"
            "</title><style>body{font-family:sans-serif;max-width:75rem;margin:auto;padding:1rem}"
            "table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.2rem .4rem}"
            "img{max-width:100%}</style></head><body><h1>Observatoire de Maillage : ce qui bloque les projets</h1>"
            "<ul>" + "".join(f"<li>{e(x)}</li>" for x in intro) + "</ul>" + figures
            + "".join(_html_table(t) for t in obs.tables) + "</body></html>\n")
    (folder / "report.html").write_text(page, encoding="utf-8")
    return [*paths, *plots, folder / "report.md", folder / "report.html", save(obs, folder)]
