"""What every command shares: the two consoles (``out``, ``err``), one-line errors with an exit code
(:func:`errors`: 2 for bad input or an unknown id, 1 for a store or index that cannot be used), the
settings, the store, progress bars, and the tables of an import and of matches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from indexes import EncoderError, SnapshotError, load_encoder
from matcher import territory
from matcher.history import HistoryError
from matcher.indexing import ResourceIndex
from matcher.labels import KIND
from matcher.ranker import RankerError
from matcher.recommender import Recommendation, Recommender
from matcher.schema_version import SchemaTooNewError
from matcher.schemas import CheckStatus, Criterion, Match, describe_validation_error
from matcher.store import Catalogue, NotFoundError, StoreError
from service.settings import Settings
from service.startup import served_recommender

if TYPE_CHECKING:  # the importers are the import commands' (a one-off match does not load them)
    from matcher.importers import ImportReport

__all__ = ["ensure_index", "err", "errors", "fail", "load_settings", "open_store", "out", "parse_day",
           "print_matches", "print_report", "progress_bar"]


out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]erreur[/] : {escape(message)}", highlight=False, soft_wrap=True)  # paths, values: as is
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Translate domain errors into one line and an exit code."""
    try:
        yield
    except ValidationError as exc:
        fail("; ".join(describe_validation_error(exc)))
    except (NotFoundError, territory.TerritoryError, SchemaTooNewError) as exc:
        fail(str(exc))
    except SnapshotError as exc:
        fail(f"{exc} — pour (re)construire l'index : maillage index build", code=1)
    except (RankerError, HistoryError) as exc:
        fail(f"{exc} — pour entraîner un modèle sur ce schéma : maillage train, puis maillage promote", code=1)
    except (StoreError, EncoderError) as exc:
        fail(str(exc), code=1)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


def load_settings() -> Settings:
    return Settings()


def open_store(settings: Settings) -> Catalogue:
    return Catalogue.open(settings.db_url)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


def print_report(report: ImportReport, what: str) -> None:
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


def ensure_index(store: Catalogue, settings: Settings, *, onnx_first: bool = False
                 ) -> tuple[ResourceIndex, Recommender]:
    """The published index (built now if missing or stale) and its recommender. ``onnx_first``: queries
    from the model's ONNX export, PyTorch imported only if a text needs it, and the model loaded only
    when a text is missing from the embedding cache (a one-off match)."""
    encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision,
                           precision=settings.encoder_precision, onnx_first=onnx_first, lazy=onnx_first)
    with progress_bar() as progress:
        task = progress.add_task("Indexation des ressources", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        index = ResourceIndex.ensure(store, encoder, settings.index_dir, progress=tick)
    return index, served_recommender(index, encoder, settings)


def relevance_text(m: Match) -> str:
    """What the relevance column says: the calibrated label and probability, "épinglé" for a pin, the
    raw score only when no calibration exists."""
    if m.score is None:
        return "épinglé"
    if m.relevance_label is not None and m.relevance is not None:
        return f"{m.relevance_label} ({round(100 * m.relevance)} %)"
    return f"score {m.score:.3f}"


def freshness_text(m: Match) -> str:
    """The lines under a match's provider: when it was verified, the warning when that is old, and
    whom to ask when it has no page (rich markup; the record's own words escaped)."""
    lines = [f"[dim]{escape(m.verified)}[/]" if m.verified else ""]
    if m.stale_warning:
        lines.append(f"[yellow]⚠ {escape(m.stale_warning)}[/]")
    if m.contact:
        lines.append(f"Contact : {escape(m.contact)}")
    return "\n".join(line for line in lines if line)


CLAUSE_CHARS = 160
"""A clause to check is cut to this many characters in the terminal (the API and console give it whole)."""


def _to_check(m: Match) -> list[str]:
    """The clauses staff must check themselves: an undecided perimeter, the source's own conditions."""
    shown = []
    for c in m.checks:
        if c.status is CheckStatus.unknown and c.criterion in (Criterion.territory, Criterion.conditions):
            text = c.clause if len(c.clause) <= CLAUSE_CHARS else c.clause[: CLAUSE_CHARS - 1] + "…"
            shown.append(f"[italic]{escape(text)}[/]")
    return shown


def print_matches(rec: Recommendation, heading: str, show_excluded: bool) -> None:
    table = Table(title=heading, title_justify="left", show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Ressource", ratio=3)
    table.add_column("Type", ratio=1)
    table.add_column("Pertinence", justify="right", no_wrap=True)
    table.add_column("Pourquoi", ratio=4)
    for m in rec.matches:
        kind = KIND.get(m.kind, m.kind) if m.kind else ""  # type: ignore[call-overload]
        table.add_row(
            str(m.rank), f"[bold]{m.title}[/]\n{m.provider or ''}\n{freshness_text(m)}", kind, relevance_text(m),
            "\n".join([*m.reasons, *_to_check(m)]),
        )
    if not rec.matches:
        table.add_row("", "Aucune ressource éligible trouvée.", "", "", "")
    out.print(table)
    labels = {m.relevance_label for m in rec.matches if m.score is not None}
    if rec.nothing_fits and rec.matches:
        out.print("[bold]Rien dans le catalogue ne correspond vraiment à ce projet[/] : les pistes ci-dessus sont "
                  "les moins éloignées, aucune n'atteint une pertinence suffisante.")
    elif labels == {"faible"}:
        out.print("Aucune de ces pistes n'a une pertinence estimée forte ou moyenne : à examiner avec prudence.")
    if rec.nothing_fits and rec.near_misses:
        out.print("[bold]Presque éligibles[/], et ce qui les ouvrirait :")
        for m in rec.near_misses:
            out.print(f"  • {m.title} — {' ; '.join(m.near_misses)}", highlight=False)
    if show_excluded and rec.excluded:
        out.print("[bold]Écartées (critère non rempli)[/] :")
        for m in rec.excluded[:10]:
            failed = [c.clause for c in m.checks if c.status.value == "failed"]
            out.print(f"  • {m.title} — {' '.join(failed)}", highlight=False)


def parse_day(on: str | None, option: str = "--on") -> date | None:
    """The date an option gives (``AAAA-MM-JJ``), ``None`` when not given; a French error otherwise."""
    if on is None:
        return None
    try:
        return date.fromisoformat(on)
    except ValueError:
        raise ValueError(f"{option} doit être une date AAAA-MM-JJ, reçu {on!r}") from None
