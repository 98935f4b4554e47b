"""``maillage batch``: a register of initiatives matched shard by shard into a folder (one Parquet or CSV
file per shard and ``manifest.json``), resumable, in this process or on Ray (:mod:`eval.shards`,
:mod:`eval.ray_batch`). A thin face: it reads the options, opens the home, and hands over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from indexes import load_encoder
from matcher.indexing import ResourceIndex
from matcher.recommender import Recommender
from service.cli._common import (
    ensure_index,
    err,
    errors,
    fail,
    load_settings,
    open_store,
    out,
    parse_day,
    progress_bar,
)
from service.settings import Settings
from service.startup import served_recommender

__all__ = ["HomeRecommender", "batch"]

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class HomeRecommender:
    """Builds, in a Ray worker, the recommender the driver matched with: the home's published snapshot
    (loaded, never built here) and served ranker, refused unless they are the versions the run's
    fingerprint names (a snapshot published or a model promoted meanwhile would mix two rankings)."""

    settings: Settings
    index_version: str
    model_version: str

    def __call__(self) -> Recommender:
        s = self.settings
        encoder = load_encoder(s.model, models_dir=s.models_dir, cache_path=s.cache_path, runtime=s.encoder_runtime,
                               batch_precision=s.encoder_batch_precision, precision=s.encoder_precision)
        index = ResourceIndex.load(open_store(s), encoder, s.index_dir)
        rec = served_recommender(index, encoder, s)
        if (index.version, rec.model_version) != (self.index_version, self.model_version):
            raise ValueError(
                f"le travailleur Ray trouve l'index {index.version} et le modèle {rec.model_version}, le lot a été "
                f"lancé avec l'index {self.index_version} et le modèle {self.model_version} : relancez le lot"
            )
        return rec


def _day(on: str | None) -> date:
    return parse_day(on) or date.today()


def _check_engine(engine: str, ray_address: str | None, workers: int | None) -> None:
    if engine not in ENGINES:
        fail(f"--engine inconnu {engine!r} : attendu l'un de {', '.join(ENGINES)}")
    if ray_address and engine != "ray":
        fail("--ray-address ne s'emploie qu'avec --engine ray")
    if workers is not None and workers < 1:
        fail(f"--workers doit être un entier ≥ 1, reçu {workers}")


def _snapshot_recommender(settings: Settings) -> Recommender:
    """The home's recommender on its published snapshot (built first if missing or stale), as loaded from
    disk: the workers and any resumed run load it so, and an index just built in memory scores a few
    1e-6 apart from its reloaded snapshot."""
    store = open_store(settings)
    encoder = ensure_index(store, settings)[1].encoder
    return served_recommender(ResourceIndex.load(store, encoder, settings.index_dir), encoder, settings)


def batch(
    input_file: Annotated[Path, typer.Argument(help="register of initiatives, JSONL or CSV (import format)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder: one file per shard and manifest.json")],
    k: Annotated[int, typer.Option("-k")] = 10,
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD)")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", help="initiatives per shard (by position)")] = 1000,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    engine: Annotated[str, typer.Option("--engine", help="local (this process) or ray (Ray Data)")] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to join: auto (on a "
                                                    "cluster node) or ray://head:10001 (default: a local Ray)")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Ray actors (default: one per CPU)")] = None,
    overwrite: Annotated[bool, typer.Option(help="start OUTPUT afresh, deleting its shards and manifest")] = False,
) -> None:
    """Match a register shard by shard; run the same command again to resume an interrupted run."""
    from eval.batch import count_rows, iter_cohort
    from eval.shards import EngineUnavailable, Fingerprint, file_sha256, local_executor, resumed_day, run_sharded

    _check_engine(engine, ray_address, workers)
    settings = load_settings()
    problems: list[str] = []
    with errors():
        # Resuming without --on keeps the run's own date (a run killed after midnight resumes as it began).
        previous = None if on is not None or overwrite else resumed_day(output)
        if previous is not None:
            err.print(f"Reprise du lot apparié au {previous} (--on)", highlight=False)
        day = _day(on or previous)
        if not input_file.is_file():
            raise FileNotFoundError(f"fichier introuvable : {input_file}")
        total = count_rows(input_file)
        rec = _snapshot_recommender(settings)
        if not 1 <= k <= rec.config.max_k:
            raise ValueError(f"k doit être entre 1 et {rec.config.max_k}, reçu {k}")
        fp = Fingerprint(input_sha256=file_sha256(input_file), index_version=rec.index.version,
                         model_version=rec.model_version, encoder_id=rec.encoder.model_id, k=k, on=day.isoformat(),
                         shard_size=shard_size, format=fmt)
        if engine == "ray":
            from eval.ray_batch import ray_executor

            execute = ray_executor(HomeRecommender(settings, rec.index.version, rec.model_version), k=k, today=day,
                                   fmt=fmt, workers=workers, address=ray_address)
        else:
            execute = local_executor(rec, k=k, today=day, fmt=fmt)
        try:
            with progress_bar() as progress:
                task = progress.add_task("Appariement du registre", total=total)
                cohort = iter_cohort(input_file, problems, on_rejected=lambda: progress.advance(task, 1))
                report = run_sharded(cohort, output, fp, execute, progress=lambda n: progress.advance(task, n),
                                     overwrite=overwrite)
        except EngineUnavailable as exc:
            fail(str(exc), code=1)
    for p in problems[:20]:
        err.print(f"  {p}", highlight=False, markup=False)
    if len(problems) > 20:
        err.print(f"  … et {len(problems) - 20} autres")
    out.print(
        f"{report.shards} lots ({report.done} appariés, {report.skipped} déjà faits, {report.rewritten} réécrits) : "
        f"{report.initiatives} initiatives, {report.rows} lignes, {len(problems)} ligne(s) rejetée(s) → {output}",
        highlight=False,
    )
