"""``maillage eval`` (systems evaluated on a labelled set, with a report), ``maillage export-set`` (a
named set written as import files) and ``maillage bench`` (the retrieval benchmark): thin faces over
``eval``, imported when a command runs so that the other commands start fast.

Bad input or missing data: one line on stderr and exit code 2; a model or store that cannot be used: exit code 1."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from indexes import EncoderError, load_encoder
from matcher.store import StoreError
from service.cli._common import load_settings
from service.settings import Settings

if TYPE_CHECKING:
    from eval.datasets import EvalSet

__all__ = ["DEFAULT_SYSTEMS", "bench", "eval_command", "export_set", "register_eval"]


DEFAULT_SYSTEMS = "random,popularity,bm25,dense,tfidf-lr,maillage-zero,maillage"


def _fail(message: str, code: int = 2) -> NoReturn:
    """``eval``'s own one-line error, plain text (the other commands print theirs through rich)."""
    typer.echo(f"erreur : {message}", err=True)
    raise typer.Exit(code)


def _k_values(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--k-values must be comma-separated positive integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise ValueError(f"--k-values must be comma-separated positive integers, got {text!r}")
    return ks


def eval_command(
    dataset: Annotated[str, typer.Option("--dataset", help="reserve-parlementaire, betagouv, betagouv-incubators, "
                                         "eig-defis, judged (eval/judged), or a folder of import files "
                                         "(providers, resources, initiatives, outcomes .jsonl)")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder for report.md, results.json and plots")],
    data: Annotated[Path | None, typer.Option("--data", help="shared data folder (default: MAILLAGE_DATA)")] = None,
    train: Annotated[Path | None, typer.Option("--train", help="JSONL train split (raw set's schema)")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="JSONL test split (raw set's schema)")] = None,
    test_ids: Annotated[Path | None, typer.Option("--test-ids", help="folder sets: test initiative ids, one a "
                                                  "line (default: the latest 20 % by first positive outcome)")] = None,
    train_ids: Annotated[Path | None, typer.Option("--train-ids", help="folder sets, with --test-ids: train "
                                                   "initiative ids (default: every other one)")] = None,
    folds: Annotated[int, typer.Option("--folds", help="folder sets without dates: cross-fitting folds")] = 5,
    split: Annotated[str, typer.Option("--split", help="test (the held-out years or judged "
                                       "projects, for reporting) or dev (inside the train years, or the judged "
                                       "dev projects: for choices)")] = "test",
    systems: Annotated[str, typer.Option("--systems", help="comma-separated systems")] = DEFAULT_SYSTEMS,
    model: Annotated[str | None, typer.Option("--model", help="encoder spec (default: MAILLAGE_MODEL)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="evaluate a seeded sample of N test queries")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed of sampling, folds, random baseline and bootstrap")] = 0,
    k_values: Annotated[str, typer.Option("--k-values", help="cut-offs, comma-separated")] = "1,3,5,10,20",
) -> None:
    """Evaluate baselines and the Maillage pipeline on a labelled set; write a report."""
    from eval.harness import evaluate
    from eval.report import format_table, write_report
    from eval.systems import make_systems

    settings = Settings()
    try:
        if limit is not None and limit < 1:
            raise ValueError(f"--limit must be >= 1, got {limit}")
        ks = _k_values(k_values)
        chosen = make_systems([s for s in systems.split(",") if s.strip()], seed=seed)
        started = time.perf_counter()
        evalset = _load_set(dataset, data or settings.data, train=train, test=test, test_ids=test_ids,
                            train_ids=train_ids, folds=folds, split=split, seed=seed,
                            data_given=data is not None)
        encoder = load_encoder(model or settings.model, models_dir=settings.models_dir,
                               cache_path=settings.cache_path, runtime=settings.encoder_runtime,
                               batch_precision=settings.encoder_batch_precision,
                               precision=settings.encoder_precision, lazy=True)
        result = evaluate(evalset, chosen, k_values=ks, encoder=encoder, seed=seed, limit=limit)
        paths = write_report(result, out_dir)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    except (EncoderError, StoreError) as exc:
        _fail(str(exc), code=1)
    typer.echo(format_table(result))
    typer.echo(f"{len(paths)} files written to {out_dir} in {time.perf_counter() - started:.0f} s", err=True)
    sys.stdout.flush()


def _load_set(dataset: str, data: Path, *, train: Path | None, test: Path | None, test_ids: Path | None,
              train_ids: Path | None, folds: int, split: str, seed: int, data_given: bool) -> EvalSet:
    """The set ``--dataset`` names: a named set, the judged set, or a folder of import files."""
    from eval.datasets import EVAL_SETS, load_eval_set
    from eval.folder_set import is_folder_set, load_folder_set
    from eval.judged import load_judged_set

    folder = dataset not in (*EVAL_SETS, "judged") and Path(dataset).is_dir()
    if not folder and (test_ids or train_ids):
        raise ValueError("--test-ids et --train-ids ne s'appliquent qu'à un dossier donné par --dataset DOSSIER")
    if folder:
        if data_given or train or test or split != "test":
            raise ValueError("--data, --train, --test et --split ne s'appliquent pas à un dossier : utilisez "
                             "--test-ids (et --train-ids)")
        if not is_folder_set(Path(dataset)):
            raise ValueError(f"le dossier {dataset} ne contient pas de outcomes.jsonl : fichiers providers, resources, "
                             "initiatives et outcomes attendus (docs/import-format.md)")
        return load_folder_set(Path(dataset), test_ids=test_ids, train_ids=train_ids, folds=folds, seed=seed)
    if dataset not in (*EVAL_SETS, "judged"):
        raise ValueError(f"jeu de données inconnu {dataset!r} : attendu l'un de "
                         f"{', '.join((*EVAL_SETS, 'judged'))} ou un dossier")
    if dataset == "judged":
        if data_given or train or test:
            raise ValueError("--data, --train et --test ne s'appliquent pas à --dataset judged (il lit eval/judged)")
        return load_judged_set(split)
    return load_eval_set(dataset, data, train_file=train, test_file=test, split=split)


def export_set(
    name: Annotated[str, typer.Argument(help="reserve-parlementaire, betagouv, betagouv-incubators or eig-defis")],
    out_dir: Annotated[Path, typer.Argument(help="folder to write the import files and ids files into")],
    data: Annotated[Path | None, typer.Option("--data", help="shared data folder (default: MAILLAGE_DATA)")] = None,
) -> None:
    """Write a named labelled set as import files, with its split ids (for eval --dataset DIR)."""
    from eval.export_set import export_eval_set

    try:
        manifest = export_eval_set(name, data or Settings().data, out_dir)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    test = manifest["splits"]["test"]
    typer.echo(f"{name} écrit dans {out_dir} : {test['train'] + test['test']} initiatives "
               f"({test['train']} d'apprentissage, {test['test']} de test)")
    typer.echo(f"mêmes chiffres : maillage eval --dataset {out_dir} --test-ids {out_dir / 'test_ids.txt'} --out …")


def bench(
    sizes: Annotated[str, typer.Option(help="catalogue sizes, e.g. 1k,10k,100k")] = "1k,10k,100k",
    quick: Annotated[bool, typer.Option(help="one pass, fewer queries (a smoke run)")] = False,
    output: Annotated[Path, typer.Option("--out", help="folder for results.json and latency.png")] = Path("bench"),
) -> None:
    """Retrieval benchmark: latency, throughput, build time and memory beside a plain baseline."""
    from eval.bench import main as bench_main

    settings = load_settings()
    argv = ["--sizes", sizes, "--out", str(output), "--model", settings.model, "--home", str(settings.home)]
    raise typer.Exit(bench_main(argv + (["--quick"] if quick else [])))


def register_eval(app: typer.Typer) -> None:
    """Add the ``eval`` and ``export-set`` commands to ``app`` (the ``maillage`` application, or a bare
    one in tests)."""
    app.command("eval")(eval_command)
    app.command("export-set")(export_set)
