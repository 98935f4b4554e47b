"""``maillage train``, ``maillage promote`` and ``maillage models``: rankers fitted from the catalogue's
outcomes, registered, and served only if they beat the served one."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from matcher.registry import ModelRegistry, PromotionRefused
from service.cli._common import ensure_index, errors, fail, load_settings, open_store, out, progress_bar

__all__ = ["models", "promote", "train"]


def train(
    source: Annotated[str | None, typer.Option(help="only initiatives of this source (e.g. reserve-parlementaire)")]
    = None,
    limit: Annotated[int, typer.Option(help="at most this many example initiatives, thinned over time")] = 3000,
    promote_if_better: Annotated[bool, typer.Option("--promote", help="promote if it beats the served model")]
    = False,
    judged: Annotated[Path | None, typer.Option(help="hand-judged projects (the judged set's JSON Lines format, "
                                                     "grades over this catalogue's resources): the model's "
                                                     "content weight and calibration are chosen on them")] = None,
) -> None:
    """Train a ranker from the catalogue's outcomes and register it (see maillage promote)."""
    from training import train_from_catalogue

    settings = load_settings()
    with errors():
        store = open_store(settings)
        index, rec = ensure_index(store, settings)
        registry = ModelRegistry(settings.rankers_dir)
        projects = None
        if judged is not None:
            from eval.judged import read_judged

            projects = [(q.initiative, q.relevant, None) for q in read_judged(judged, set(index.resources))]
        with progress_bar() as progress:
            task = progress.add_task("Paires d'entraînement", total=None)
            result = train_from_catalogue(store, index, rec.encoder, registry, today=date.today(), source=source,
                                          limit=limit, progress=lambda n: progress.advance(task, n),
                                          judged=projects)
        where = (f"les {result.judged_projects} projets jugés de {judged.name}" if result.judged_choice and judged
                 else "les listes de validation")
        if judged is not None and not result.judged_choice:
            out.print(f"Attention : aucun des {result.judged_projects} projets jugés de {judged.name} n'a de "
                      "ressource pertinente parmi ses candidats ; le modèle est comparé et calibré sur les listes "
                      "de validation.", highlight=False)
        out.print(
            f"Modèle {result.version} enregistré : {result.train_queries} requêtes d'entraînement, "
            f"{result.validation_queries} de validation.\n"
            f"  nDCG@10 {'des projets jugés' if result.judged_choice else 'validation'} : "
            f"{result.validation_ndcg10:.4f} (modèle servi : "
            f"{result.current_validation_ndcg10:.4f}) ; validation croisée {result.fit.cv_ndcg10:.4f} "
            f"(a priori {result.fit.cv_ndcg10_prior:.4f})\n"
            f"  Poids de l'ordre du contenu (textes et règles) : {result.content_share:g}, choisi sur {where} "
            f"({_choice(result.judged_choice or result.content_choice)})",
            highlight=False,
        )
        if promote_if_better:
            _promote(registry, result.version, force=False)


def _compared_on(extra: dict[str, object]) -> str:
    """Which lists a model's figures come from, as ``maillage models`` says it."""
    return "projets jugés" if extra.get("compared_on") == "judged projects" else "validation"


def _choice(figures: dict[float, float] | None) -> str:
    """``0 → 0.6412, 0.25 → 0.6501, …``: the validation nDCG@10 of each content weight tried."""
    if not figures:
        return "aucune liste"
    return ", ".join(f"{w:g} → {v:.4f}" for w, v in sorted(figures.items()))


def promote(
    version: Annotated[str, typer.Argument(help="model version (maillage models)")],
    force: Annotated[bool, typer.Option(help="serve it even if it does not beat the served model")] = False,
) -> None:
    """Serve a registered ranker, only if it beat the served one on the validation split."""
    settings = load_settings()
    with errors():
        _promote(ModelRegistry(settings.rankers_dir), version, force=force)


def _promote(registry: ModelRegistry, version: str, *, force: bool) -> None:
    try:
        registry.promote(version, force=force)
    except PromotionRefused as exc:
        hint = " — entraînez-en un contre le modèle servi : maillage train" if "is served now" in str(exc) else ""
        fail(f"promotion refusée : {exc}{hint}", code=3)
    out.print(f"Modèle {version} servi.")


def models() -> None:
    """List registered rankers and which one is served."""
    settings = load_settings()
    with errors():
        registry = ModelRegistry(settings.rankers_dir)
        served = registry.current_version()
        for m in registry.versions():
            metrics = m.extra.get("metrics", {})
            mark = "*" if m.version == served else " "
            out.print(
                f"{mark} {m.version}  {m.extra.get('ranker_kind')}  {m.encoder_id}  "
                f"nDCG@10 {_compared_on(m.extra)} {metrics.get('validation_ndcg10', float('nan')):.4f} "
                f"(servi alors : {metrics.get('current_validation_ndcg10', float('nan')):.4f})",
                highlight=False,
            )
