"""``maillage index build|status|verify``: the published resource index."""

from __future__ import annotations

import typer

from indexes import SnapshotError, current, load_encoder, verify
from matcher.indexing import ResourceIndex, catalogue_signature
from matcher.store import Catalogue
from service.cli._common import errors, load_settings, open_store, out, progress_bar
from service.settings import Settings

__all__ = ["index_app", "show_index_status"]


index_app = typer.Typer(help="Build, inspect and verify the resource index.", no_args_is_help=True)


def show_index_status(store: Catalogue, settings: Settings) -> None:
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
    settings = load_settings()
    with errors():
        store = open_store(settings)
        encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision,
                           precision=settings.encoder_precision)
        with progress_bar() as progress:
            task = progress.add_task("Indexation des ressources", total=None)
            index = ResourceIndex.build(
                store, encoder, settings.index_dir,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        out.print(f"Index {index.version} publié : {index.manifest.count} ressources ({encoder.model_id}).")


@index_app.command("status")
def index_status() -> None:
    """Show the published snapshot and whether the catalogue changed since."""
    settings = load_settings()
    with errors():
        show_index_status(open_store(settings), settings)


@index_app.command("verify")
def index_verify() -> None:
    """Re-hash every file of the published snapshot; exit 1 if anything is corrupt."""
    settings = load_settings()
    with errors():
        folder = current(settings.index_dir)
        if folder is None:
            raise SnapshotError(f"no index published under {settings.index_dir}")
        manifest = verify(folder)
        out.print(f"index {manifest.version} : {len(manifest.files)} fichiers vérifiés, intègre.")
