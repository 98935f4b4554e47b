"""The ``maillage`` command line: a thin face over the matcher.

Each command parses its options, calls the core, and turns domain errors into one line on stderr
and an exit code (2: bad input or unknown id; 1: a store or index that cannot be used).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eval.batch import read_cohort, run_batch
from indexes import EncoderError, SnapshotError, current, load_encoder, verify
from matcher import territory
from matcher.demo_catalogue import load_demo
from matcher.importers import RECORD_KINDS, ImportReport, dataset_rows, read_file_rows, run_import
from matcher.importers.datasets import DATASETS
from matcher.indexing import InitiativeIndex, ResourceIndex, catalogue_signature
from matcher.labels import KIND
from matcher.recommender import Recommendation, Recommender
from matcher.registry import ModelRegistry, PromotionRefused
from matcher.schemas import Decision, LegalForm, MatchQuery, Need, Outcome, Stage, describe_validation_error
from matcher.store import Catalogue, NotFoundError, StoreError
from service.cli_eval import register as register_eval
from service.engine import served_recommender
from service.settings import Settings
from training import train_from_catalogue

__all__ = ["app", "main"]

app = typer.Typer(
    name="maillage",
    help="Maillage: matches citizen initiatives with State resources, explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build, inspect and verify the resource index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
register_eval(app)

out = Console()
err = Console(stderr=True)

# Demo initiatives shown by ``maillage demo`` when none is named: urban, rural, overseas.
DEMO_SHOWCASE = ("ini-0001", "ini-0002", "ini-0004")


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]erreur[/] : {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Translate domain errors into one line and an exit code."""
    try:
        yield
    except ValidationError as exc:
        _fail("; ".join(describe_validation_error(exc)))
    except (NotFoundError, territory.TerritoryError) as exc:
        _fail(str(exc))
    except (StoreError, SnapshotError, EncoderError) as exc:
        _fail(str(exc), code=1)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))


def _settings() -> Settings:
    return Settings()


def _open_store(settings: Settings) -> Catalogue:
    return Catalogue.open(settings.db_url)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


def _print_report(report: ImportReport, what: str) -> None:
    table = Table(title=f"Import : {what}", title_justify="left")
    for col in ("type", "lus", "ajoutés", "mis à jour", "inchangés", "rejetés"):
        table.add_column(col, justify="right" if col != "type" else "left")
    for kind in report.read:
        rejected = sum(1 for e in report.errors if e.kind == kind)
        table.add_row(
            kind, str(report.read[kind]), str(report.inserted.get(kind, 0)),
            str(report.updated.get(kind, 0)), str(report.unchanged(kind)), str(rejected),
        )
    out.print(table)
    if report.errors:
        err.print(f"{report.rejected} ligne(s) rejetée(s) :")
        for e in report.errors[:20]:
            err.print(f"  {e}", highlight=False, markup=False)
        if report.rejected > 20:
            err.print(f"  … et {report.rejected - 20} autres")


def _ensure_index(store: Catalogue, settings: Settings) -> tuple[ResourceIndex, Recommender]:
    encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision)
    with _progress() as progress:
        task = progress.add_task("Indexation des ressources", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        index = ResourceIndex.ensure(store, encoder, settings.index_dir, progress=tick)
    return index, served_recommender(index, encoder, settings)


def _print_matches(rec: Recommendation, heading: str, show_excluded: bool) -> None:
    table = Table(title=heading, title_justify="left", show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Ressource", ratio=3)
    table.add_column("Type", ratio=1)
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("Pourquoi", ratio=4)
    for m in rec.matches:
        kind = KIND.get(m.kind, m.kind) if m.kind else ""  # type: ignore[call-overload]
        table.add_row(
            str(m.rank), f"[bold]{m.title}[/]\n{m.provider or ''}", kind, f"{m.score:.3f}",
            "\n".join(m.reasons),
        )
    if not rec.matches:
        table.add_row("", "Aucune ressource éligible trouvée.", "", "", "")
    out.print(table)
    if show_excluded and rec.excluded:
        out.print("[bold]Écartées (critère non rempli)[/] :")
        for m in rec.excluded[:10]:
            failed = [c.clause for c in m.checks if c.status.value == "failed"]
            out.print(f"  • {m.title} — {' '.join(failed)}", highlight=False)


# --- commands ----------------------------------------------------------------------------------


@app.command("import")
def import_(
    what: Annotated[str, typer.Argument(help="providers|resources|initiatives|outcomes, or a dataset: "
                                             + "|".join(DATASETS))],
    file: Annotated[Path | None, typer.Argument(help="JSONL or CSV file (record kinds only)")] = None,
    data: Annotated[Path | None, typer.Option(help="shared data folder (datasets only)")] = None,
) -> None:
    """Import records from a file, or one of the real labelled sets."""
    settings = _settings()
    with _errors():
        if what in DATASETS:
            rows = dataset_rows(what, data or settings.data)
            label = what
        else:
            kind = what.removesuffix("s")
            if kind not in RECORD_KINDS:
                raise ValueError(
                    f"unknown import target {what!r}: expected providers, resources, initiatives, "
                    f"outcomes, or a dataset ({', '.join(DATASETS)})"
                )
            if file is None:
                raise ValueError(f"maillage import {what} needs a FILE (JSONL or CSV)")
            rows = read_file_rows(file, kind)
            label = str(file)
        store = _open_store(settings)
        with _progress() as progress:
            task = progress.add_task(f"Import {label}", total=None)
            report = run_import(store, rows, progress=lambda n: progress.advance(task, n))
        _print_report(report, label)


@app.command()
def match(
    initiative: Annotated[str | None, typer.Option("--initiative", "-i", help="id of a stored initiative")] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="free-text project description")] = None,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="reverse: initiatives that fit "
                                                 "this resource")] = None,
    territory_code: Annotated[str | None, typer.Option("--territory", help="INSEE code (commune, "
                                                       "département, R+région) or FR")] = None,
    legal_form: Annotated[LegalForm | None, typer.Option("--legal-form")] = None,
    stage: Annotated[Stage | None, typer.Option("--stage")] = None,
    need: Annotated[list[Need] | None, typer.Option("--need")] = None,
    k: Annotated[int, typer.Option("-k", help="number of matches")] = 10,
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD)")] = None,
    show_excluded: Annotated[bool, typer.Option("--show-excluded", help="list hard failures too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Match a stored initiative, or a free-text project, with resources (or, with --resource,
    a resource with the initiatives that fit it)."""
    settings = _settings()
    with _errors():
        if sum(x is not None for x in (initiative, text, resource)) != 1:
            raise ValueError("give exactly one of --initiative ID, --text \"…\" or --resource ID")
        today = date.fromisoformat(on) if on else None
        store = _open_store(settings)
        _, rec = _ensure_index(store, settings)
        if resource is not None:
            _reverse(store, rec, resource, k, today, as_json)
            return
        if initiative is not None:
            ini = store.get_initiative(initiative)
            result = rec.recommend(ini, k, today=today, with_excluded=show_excluded,
                                   overrides=store.overrides_for(ini.id))
            heading = f"{ini.title} ({ini.id}, {ini.territory})"
        else:
            query = MatchQuery(text=text or "", territory=territory_code, legal_form=legal_form,
                               stage=stage, needs=need or [])
            result = rec.recommend(query, k, today=today, with_excluded=show_excluded)
            heading = f"« {query.text[:80]} »" + (f" ({query.territory})" if query.territory else "")
        if as_json:
            sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in result.matches],
                                        ensure_ascii=False, indent=2) + "\n")
        else:
            _print_matches(result, heading, show_excluded)


def _reverse(store: Catalogue, rec: Recommender, resource_id: str, k: int, today: date | None,
             as_json: bool) -> None:
    res = store.get_resource(resource_id)
    with _progress() as progress:
        task = progress.add_task("Indexation des initiatives", total=None)
        inis = InitiativeIndex.build(store, rec.encoder,
                                     progress=lambda d, t: progress.update(task, completed=d, total=t))
    found = rec.recommend_initiatives(resource_id, inis, k, today=today)
    if as_json:
        sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in found], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Initiatives pour : {res.title} ({res.id})", title_justify="left", show_lines=True,
                  expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Initiative", ratio=3)
    table.add_column("Territoire", no_wrap=True)
    table.add_column("Pourquoi", ratio=4)
    for m in found:
        table.add_row(str(m.rank), f"[bold]{m.title}[/]\n{m.initiative_id}", m.territory, "\n".join(m.reasons))
    if not found:
        table.add_row("", "Aucune initiative éligible trouvée.", "", "")
    out.print(table)


@app.command()
def override(
    initiative: Annotated[str, typer.Option("--initiative", "-i")],
    resource: Annotated[str, typer.Option("--resource", "-r")],
    pin: Annotated[bool, typer.Option("--pin/--exclude", help="pin the resource on top, or exclude it")],
    reason: Annotated[str, typer.Option(help="why (kept with the decision, shown to staff)")],
    actor: Annotated[str, typer.Option(help="who decides")] = "staff",
) -> None:
    """Pin or exclude a resource for an initiative; stored as an outcome, so it becomes a label."""
    settings = _settings()
    with _errors():
        store = _open_store(settings)
        store.get_initiative(initiative)
        store.get_resource(resource)
        outcome = Outcome(initiative_id=initiative, resource_id=resource,
                          decision=Decision.pinned if pin else Decision.excluded, reason=reason, actor=actor)
        store.append_outcomes([outcome])
        out.print(f"{'Épinglé' if pin else 'Exclu'} : {resource} pour {initiative}.")


@app.command()
def batch(
    input_file: Annotated[Path, typer.Argument(help="cohort of initiatives, JSONL or CSV (import format)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV, one row per (initiative, rank)")],
    k: Annotated[int, typer.Option("-k")] = 10,
    on: Annotated[str | None, typer.Option("--on", help="date deciding what is open (YYYY-MM-DD)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing OUTPUT that is not a run to resume")] = False,
) -> None:
    """Match a whole cohort to CSV; run the same command again to resume an interrupted run."""
    settings = _settings()
    with _errors():
        cohort, problems = read_cohort(input_file)
        for p in problems[:20]:
            err.print(f"  {p}", highlight=False, markup=False)
        store = _open_store(settings)
        _, rec = _ensure_index(store, settings)
        with _progress() as progress:
            task = progress.add_task("Appariement du lot", total=len(cohort))
            report = run_batch(rec, cohort, output, k=k, today=date.fromisoformat(on) if on else None,
                               progress=lambda n: progress.advance(task, n), overwrite=overwrite)
        out.print(
            f"{report.done} initiatives appariées ({report.rows} lignes), {report.skipped_already_done} déjà "
            f"faites, {len(problems)} lignes rejetées → {output}"
        )


@app.command()
def demo(
    initiative: Annotated[list[str] | None, typer.Option("--initiative", "-i")] = None,
    k: Annotated[int, typer.Option("-k")] = 5,
) -> None:
    """Load the demo catalogue if the store is empty, index it, and show explained matches."""
    settings = _settings()
    with _errors():
        store = _open_store(settings)
        if store.counts()["resources"] == 0:
            with _progress() as progress:
                task = progress.add_task("Chargement du catalogue de démonstration", total=None)
                report = load_demo(store, progress=lambda n: progress.advance(task, n))
            _print_report(report, "catalogue de démonstration")
        counts = store.counts()
        out.print(
            f"Catalogue : {counts['resources']} ressources, {counts['providers']} financeurs, "
            f"{counts['initiatives']} initiatives, {counts['outcomes']} décisions passées "
            f"({settings.masked()['database_url']})."
        )
        index, rec = _ensure_index(store, settings)
        out.print(f"Index {index.version} : {index.manifest.count} ressources, modèle {index.manifest.encoder_id}.")
        for ini_id in initiative or [i for i in DEMO_SHOWCASE if _has(store, i)]:
            ini = store.get_initiative(ini_id)
            result = rec.recommend(ini, k)
            _print_matches(result, f"{ini.title} — {ini.id}, territoire {ini.territory}", False)
        out.print(
            "Ensuite : [bold]maillage match --text \"…\" --territory 93066[/], "
            "[bold]maillage serve[/] (API, console de l'équipe, widget), "
            "[bold]maillage import reserve-parlementaire[/]."
        )


def _has(store: Catalogue, initiative_id: str) -> bool:
    try:
        store.get_initiative(initiative_id)
    except NotFoundError:
        return False
    return True


@app.command()
def status() -> None:
    """Counts of the catalogue and the published index."""
    settings = _settings()
    with _errors():
        store = _open_store(settings)
        for key, value in settings.masked().items():
            out.print(f"{key}: {value}", highlight=False)
        for name, count in store.counts().items():
            out.print(f"{name}: {count}")
        _index_status(store, settings)


def _index_status(store: Catalogue, settings: Settings) -> None:
    folder = current(settings.index_dir)
    if folder is None:
        out.print("index: aucun (maillage index build)")
        return
    manifest = verify(folder)
    stale = manifest.catalogue_hash != catalogue_signature(store)
    out.print(
        f"index: {manifest.version}, {manifest.count} ressources, modèle {manifest.encoder_id} "
        f"(dim {manifest.dim}), créé {manifest.created_at}" + (" — [yellow]périmé[/]" if stale else "")
    )


@index_app.command("build")
def index_build() -> None:
    """Encode every live resource and publish a new snapshot."""
    settings = _settings()
    with _errors():
        store = _open_store(settings)
        encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision)
        with _progress() as progress:
            task = progress.add_task("Indexation des ressources", total=None)
            index = ResourceIndex.build(
                store, encoder, settings.index_dir,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        out.print(f"Index {index.version} publié : {index.manifest.count} ressources ({encoder.model_id}).")


@index_app.command("status")
def index_status() -> None:
    """Show the published snapshot and whether the catalogue changed since."""
    settings = _settings()
    with _errors():
        _index_status(_open_store(settings), settings)


@index_app.command("verify")
def index_verify() -> None:
    """Re-hash every file of the published snapshot; exit 1 if anything is corrupt."""
    settings = _settings()
    with _errors():
        folder = current(settings.index_dir)
        if folder is None:
            raise SnapshotError(f"no index published under {settings.index_dir}")
        manifest = verify(folder)
        out.print(f"index {manifest.version} : {len(manifest.files)} fichiers vérifiés, intègre.")


@app.command()
def train(
    source: Annotated[str | None, typer.Option(help="only initiatives of this source (e.g. reserve-parlementaire)")]
    = None,
    limit: Annotated[int, typer.Option(help="at most this many example initiatives, thinned over time")] = 3000,
    promote_if_better: Annotated[bool, typer.Option("--promote", help="promote if it beats the served model")]
    = False,
) -> None:
    """Train a ranker from the catalogue's outcomes and register it (see maillage promote)."""
    settings = _settings()
    with _errors():
        store = _open_store(settings)
        index, rec = _ensure_index(store, settings)
        registry = ModelRegistry(settings.rankers_dir)
        with _progress() as progress:
            task = progress.add_task("Paires d'entraînement", total=None)
            result = train_from_catalogue(store, index, rec.encoder, registry, today=date.today(), source=source,
                                          limit=limit, progress=lambda n: progress.advance(task, n))
        out.print(
            f"Modèle {result.version} enregistré : {result.train_queries} requêtes d'entraînement, "
            f"{result.validation_queries} de validation.\n"
            f"  nDCG@10 validation : {result.validation_ndcg10:.4f} (modèle servi : "
            f"{result.current_validation_ndcg10:.4f}) ; validation croisée {result.fit.cv_ndcg10:.4f} "
            f"(a priori {result.fit.cv_ndcg10_prior:.4f})",
            highlight=False,
        )
        if promote_if_better:
            _promote(registry, result.version, force=False)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="model version (maillage models)")],
    force: Annotated[bool, typer.Option(help="serve it even if it does not beat the served model")] = False,
) -> None:
    """Serve a registered ranker, only if it beat the served one on the validation split."""
    settings = _settings()
    with _errors():
        _promote(ModelRegistry(settings.rankers_dir), version, force=force)


def _promote(registry: ModelRegistry, version: str, *, force: bool) -> None:
    try:
        registry.promote(version, force=force)
    except PromotionRefused as exc:
        _fail(f"promotion refusée : {exc}", code=3)
    out.print(f"Modèle {version} servi.")


@app.command()
def models() -> None:
    """List registered rankers and which one is served."""
    settings = _settings()
    with _errors():
        registry = ModelRegistry(settings.rankers_dir)
        served = registry.current_version()
        for m in registry.versions():
            metrics = m.extra.get("metrics", {})
            mark = "*" if m.version == served else " "
            out.print(
                f"{mark} {m.version}  {m.extra.get('ranker_kind')}  {m.encoder_id}  "
                f"validation nDCG@10 {metrics.get('validation_ndcg10', float('nan')):.4f} "
                f"(servi alors : {metrics.get('current_validation_ndcg10', float('nan')):.4f})",
                highlight=False,
            )


@app.command()
def bench(
    sizes: Annotated[str, typer.Option(help="catalogue sizes, e.g. 1k,10k,100k")] = "1k,10k,100k",
    quick: Annotated[bool, typer.Option(help="one pass, fewer queries (a smoke run)")] = False,
    output: Annotated[Path, typer.Option("--out", help="folder for results.json and latency.png")] = Path("bench"),
) -> None:
    """Retrieval benchmark: latency, throughput, build time and memory beside a plain baseline."""
    from eval.bench import main as bench_main

    settings = _settings()
    argv = ["--sizes", sizes, "--out", str(output), "--model", settings.model, "--home", str(settings.home)]
    raise typer.Exit(bench_main(argv + (["--quick"] if quick else [])))


keys_app = typer.Typer(help="API keys: create, list, revoke (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who holds it (a partner, a person, a job)")],
    role: Annotated[str, typer.Option(help="admin, staff, read-only, or partner (publishable, for the widget)")],
    origin: Annotated[list[str] | None, typer.Option(help="allowed origin of a partner key (repeat)")] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from service.keys import KeySpecError, KeyStore

    settings = _settings()
    with _errors():
        try:
            key, token = KeyStore(_open_store(settings)).create(name, role, origin or [])
        except KeySpecError as exc:
            _fail(str(exc))
        out.print(f"Clé {key.id} ({key.role.value}) créée pour {key.name}"
                  + (f", origines : {', '.join(key.origins)}" if key.origins else "") + ".", highlight=False)
        err.print("Notez-la maintenant, elle ne sera plus affichée :", highlight=False)
        sys.stdout.write(token + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from service.keys import KeyStore

    settings = _settings()
    with _errors():
        keys = KeyStore(_open_store(settings)).list()
        table = Table(title="Clés d'API", title_justify="left")
        for col in ("id", "nom", "rôle", "origines", "créée", "révoquée"):
            table.add_column(col)
        for k in keys:
            table.add_row(k.id, k.name, k.role.value, "\n".join(k.origins), f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
        out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (maillage keys list)")]) -> None:
    """Revoke a key: it stops working at once, in every worker."""
    from service.keys import KeyStore

    settings = _settings()
    with _errors():
        KeyStore(_open_store(settings)).revoke(key_id)
        out.print(f"Clé {key_id} révoquée.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (each loads the model once)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the API, the widget and the staff console (demo catalogue when the store is empty)."""
    import logging

    import uvicorn

    settings = _settings()
    with _errors():
        store = _open_store(settings)  # fail here, clearly, if the catalogue cannot be opened or migrated
        counts = store.counts()
        store.close()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for key, value in settings.masked().items():
        err.print(f"  {key} = {value}", highlight=False)
    base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    err.print(
        f"Catalogue : {counts['resources']} ressources, {counts['initiatives']} initiatives"
        + (" (vide : le catalogue de démonstration sera chargé)" if counts["resources"] == 0
           and settings.demo_when_empty else "") + ".\n"
        f"  Console équipe : {base}/console\n  Widget (démo)  : {base}/widget/demo\n"
        f"  API (docs)     : {base}/docs\n"
        "  Clés : maillage keys create --name … --role staff|partner|admin|read-only",
        highlight=False,
    )
    uvicorn.run("service.api:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=10)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
