"""``maillage observatory``: the observatory of the catalogue (or of a real labelled set), written as
a French report (HTML, Markdown, plots, one CSV per table) — a thin face over
:mod:`matcher.observatory`.

On the home's catalogue the result is also published under ``$MAILLAGE_HOME/observatory/`` for the
console page (``/console/observatoire``); a set given with ``--dataset`` is imported into a
temporary catalogue (deleted afterwards) and published nowhere but ``--out``."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from indexes import load_encoder
from matcher.importers.datasets import DATASETS
from matcher.observatory import DEFAULT_MIN_CELL, observe, published_path, save
from matcher.observatory.report import intro_lines, write_report
from matcher.observatory.sources import dataset_catalogue
from matcher.observatory.timeline import TIMELINE_SAMPLE
from matcher.recommender import Recommender
from service.cli._common import ensure_index, err, errors, load_settings, open_store, out, progress_bar

__all__ = ["observatory"]


def _checked(min_cell: int, workers: int, sample: int, months: int | None, dataset: str | None,
             data: Path | None, on: str | None) -> date:
    """The observation day, once every option is known good (``ValueError`` in French otherwise)."""
    if min_cell < 1:
        raise ValueError(f"--min-cell doit être un entier ≥ 1, reçu {min_cell}")
    if workers < 0:
        raise ValueError(f"--workers doit être un entier ≥ 0 (0 : un par cœur), reçu {workers}")
    if sample < 1:
        raise ValueError(f"--timeline-sample doit être un entier ≥ 1, reçu {sample}")
    if months is not None and months < 1:
        raise ValueError(f"--months doit être un entier ≥ 1, reçu {months}")
    if data is not None and dataset is None:
        raise ValueError("--data ne s'emploie qu'avec --dataset")
    if dataset is not None and dataset not in DATASETS:
        raise ValueError(f"jeu inconnu {dataset!r} : attendu {', '.join(DATASETS)}")
    try:
        return date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise ValueError(f"--on attend une date AAAA-MM-JJ, reçu {on!r}") from None


def observatory(
    out_dir: Annotated[Path, typer.Option("--out", help="dossier du rapport (HTML, Markdown, PNG, CSV)")] = Path(
        "observatoire"),
    min_cell: Annotated[int, typer.Option("--min-cell", help="cellules de moins de N initiatives masquées")] = (
        DEFAULT_MIN_CELL),
    dataset: Annotated[str | None, typer.Option("--dataset", help="un jeu réel importé dans un catalogue "
                                                "temporaire : " + ", ".join(DATASETS))] = None,
    data: Annotated[Path | None, typer.Option("--data", help="dossier des données partagées (avec --dataset)")] = None,
    on: Annotated[str | None, typer.Option("--on", help="date d'observation AAAA-MM-JJ (défaut : aujourd'hui)")] = None,
    months: Annotated[int | None, typer.Option("--months", help="seulement les N derniers mois de l'évolution")] = None,
    timeline: Annotated[bool, typer.Option("--timeline/--no-timeline", help="calculer l'évolution mensuelle")] = True,
    sample: Annotated[int, typer.Option("--timeline-sample", help="initiatives appariées au plus à chaque fin de "
                                        "mois (échantillon fixe au-delà)")] = TIMELINE_SAMPLE,
    workers: Annotated[int, typer.Option("--workers", help="processus d'appariement en parallèle (défaut : un "
                                         "par cœur) ; les chiffres ne changent pas")] = 0,
) -> None:
    """Observatoire : initiatives sans piste, ce qui les bloque, mois par mois ; rapport en français."""
    settings = load_settings()
    with errors():
        today = _checked(min_cell, workers, sample, months, dataset, data, on)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="maillage-observatory-") as tmp:
            if dataset is not None:
                encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                                       runtime=settings.encoder_runtime,
                                       batch_precision=settings.encoder_batch_precision)
                err.print(f"Import de {dataset} dans un catalogue temporaire…")
                store, index, _ = dataset_catalogue(dataset, data or settings.data, encoder, Path(tmp))
                rec = Recommender(index, encoder, stale_after_days=settings.stale_after_days)
            else:
                store = open_store(settings)
                _, rec = ensure_index(store, settings)
            initiatives, outcomes = store.initiatives(), store.outcomes()
            with progress_bar() as bar:
                tasks = {"now": bar.add_task("Appariement des initiatives", total=len(initiatives)),
                         "timeline": bar.add_task("Évolution mensuelle", total=None)}

                def progress(stage: str, done: int, total: int) -> None:
                    bar.update(tasks[stage], completed=done, total=total if total >= 0 else None)

                obs = observe(rec, initiatives, outcomes, today=today, min_cell=min_cell, months=months,
                              timeline=timeline, sample=sample, progress=progress,
                              workers=workers or os.cpu_count() or 1)
            store.close()
        paths = write_report(obs, out_dir)
        if dataset is None:
            save(obs, published_path(settings.home).parent)
    for line in intro_lines(obs):
        out.print(line, highlight=False)
    out.print(f"{len(paths)} fichiers écrits dans {out_dir} en {time.perf_counter() - started:.0f} s "
              f"(appariement : {obs.meta['seconds_now']:.0f} s, "
              f"évolution comprise : {obs.meta['seconds_total']:.0f} s)",
              highlight=False)
