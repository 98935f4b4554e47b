"""Building and loading the resource index from the catalogue.

The catalogue is the source of truth; a snapshot holds only vectors and ids, plus the hash of the
catalogue content it was built from, so a stale snapshot is detected and rebuilt rather than served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from indexes import (
    DenseIndex,
    Encoder,
    IndexFileError,
    Manifest,
    SnapshotError,
    SparseIndex,
    current,
    encode_in_batches,
    prune,
    publish,
    verify,
)
from matcher.covered import CoveredSets
from matcher.history import History
from matcher.schemas import Initiative, Provider, Resource
from matcher.store import Catalogue

__all__ = ["InitiativeIndex", "ResourceIndex", "catalogue_signature", "resource_document"]

_KIND = "resources"


def resource_document(resource: Resource, provider: Provider | None) -> str:
    """The text embedded for a resource: title, provider, description and themes."""
    parts = [resource.title]
    if provider is not None:
        parts.append(provider.name)
    parts.append(resource.description)
    if resource.themes:
        parts.append("Thèmes : " + ", ".join(resource.themes))
    return "\n".join(p for p in parts if p)


HISTORY_FORMAT = 3
"""What a snapshot's history holds (2: texts, places, amounts, the text and vector models; 3: the text
model reads each project's place, :func:`matcher.places.place_terms`). Part of the
catalogue signature, so a snapshot built by an older Maillage reads as stale and is rebuilt."""


def catalogue_signature(store: Catalogue) -> str:
    """Hash of what a snapshot is built from: live resources, the outcome log, the history format."""
    return hashlib.sha256(
        f"{store.resources_hash()}|{store.outcomes_signature()}|history{HISTORY_FORMAT}".encode()
    ).hexdigest()


@dataclass
class ResourceIndex:
    """Live resources with their vectors, as published in one snapshot."""

    manifest: Manifest
    dense: DenseIndex
    sparse: SparseIndex
    resources: dict[str, Resource]
    providers: dict[str, Provider]
    history: History

    @property
    def version(self) -> str:
        return self.manifest.version

    @classmethod
    def build(
        cls,
        store: Catalogue,
        encoder: Encoder,
        root: Path,
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> ResourceIndex:
        """Encode every live resource and publish a new snapshot under ``root``."""
        catalogue_hash = catalogue_signature(store)
        resources = {r.id: r for r in store.resources()}
        providers = {p.id: p for p in store.providers()}
        ids = sorted(resources)
        docs = [resource_document(resources[i], providers.get(resources[i].provider_id)) for i in ids]
        vectors = encode_in_batches(encoder.encode_documents, docs, encoder.dim, batch_size=batch_size,
                                    progress=progress)
        dense = DenseIndex(encoder.dim)
        if ids:
            dense.upsert(ids, vectors)
        sparse = SparseIndex().build(ids, docs)
        history = History.build(store.iter_outcomes(), store.get_initiatives, encoder, progress=progress)
        version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        manifest = Manifest(
            version=version,
            kind=_KIND,
            encoder_id=encoder.model_id,
            dim=encoder.dim,
            count=len(ids),
            catalogue_hash=catalogue_hash,
        )
        def write(tmp: Path) -> None:
            dense.save(tmp)
            sparse.save(tmp)
            history.save(tmp)

        folder = publish(root, write, manifest)
        prune(root, keep=3)  # older snapshots are rebuilt from the catalogue at will; keep a few
        return cls(Manifest.read(folder), dense, sparse, resources, providers, history)

    @classmethod
    def load(cls, store: Catalogue, encoder: Encoder, root: Path) -> ResourceIndex:
        """Load the published snapshot, verified and checked against the encoder.

        Raises :class:`SnapshotError` when none is published, a file is corrupt, or the snapshot was
        built with another encoder.
        """
        folder = current(root)
        if folder is None:
            raise SnapshotError(f"no resource index published under {root}: the index must be built")
        return cls._load_folder(store, encoder, folder, exact=True)

    @classmethod
    def fallback(cls, store: Catalogue, encoder: Encoder, root: Path, *, broken: str | None) -> ResourceIndex:
        """The newest sound snapshot under ``root`` other than ``broken``, for when the published one is
        corrupt and no new one can be written (a full disk). Its resources are the catalogue's live ones
        it holds (those deleted since are dropped); vectors of resources added or edited since it was
        built are the caller's to apply (:meth:`Engine <service.engine.Engine>` syncs them live).

        Raises :class:`SnapshotError` when no other snapshot is sound."""
        folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                          and p.name != broken), reverse=True) if root.is_dir() else []
        reasons = []
        for folder in folders:
            try:
                return cls._load_folder(store, encoder, folder, exact=False)
            except SnapshotError as exc:
                reasons.append(str(exc))
        raise SnapshotError("no sound snapshot to fall back to" + (f" ({'; '.join(reasons)})" if reasons else ""))

    @classmethod
    def _load_folder(cls, store: Catalogue, encoder: Encoder, folder: Path, *, exact: bool) -> ResourceIndex:
        """The snapshot in ``folder``, verified; ``exact``: refuse it unless it holds exactly the
        catalogue's live resources, else keep the live ones it holds and drop the others."""
        manifest = verify(folder)
        manifest.check(kind=_KIND, encoder_id=encoder.model_id, dim=encoder.dim)
        try:
            dense = DenseIndex.load(folder, dim=manifest.dim)
            sparse = SparseIndex.load(folder)
            history = History.load(folder, manifest.dim)
        except (IndexFileError, ValueError, KeyError, OSError) as exc:
            raise SnapshotError(f"snapshot {manifest.version} cannot be loaded: {exc}") from exc
        resources = {r.id: r for r in store.resources()}
        providers = {p.id: p for p in store.providers()}
        if not exact:
            gone = [i for i in dense.ids if i not in resources]
            dense.remove(gone)
            sparse.remove(gone)
            held = set(dense.ids)
            resources = {i: r for i, r in resources.items() if i in held}
        elif set(dense.ids) != set(resources) or set(sparse.ids) != set(resources):
            raise SnapshotError(
                f"snapshot {manifest.version} does not hold the catalogue's live resources "
                f"({len(dense.ids)} indexed, {len(resources)} in the catalogue): rebuild it"
            )
        return cls(manifest, dense, sparse, resources, providers, history)

    # --- live updates (between snapshot builds) -------------------------------------------------

    def upsert(self, resource: Resource, encoder: Encoder, provider: Provider | None = None) -> None:
        """Make one added or edited resource visible to the next query, without a rebuild."""
        if provider is not None:
            self.providers = {**self.providers, provider.id: provider}
        doc = resource_document(resource, self.providers.get(resource.provider_id))
        self.dense.upsert([resource.id], encoder.encode_documents([doc]))
        self.sparse.upsert([resource.id], [doc])
        # Copy on write: a query iterating the previous dict in another thread is not disturbed.
        self.resources = {**self.resources, resource.id: resource}

    def remove(self, resource_id: str) -> None:
        """Make a deleted resource disappear from the next query."""
        self.resources = {k: v for k, v in self.resources.items() if k != resource_id}
        self.dense.remove([resource_id])
        self.sparse.remove([resource_id])

    @classmethod
    def ensure(
        cls,
        store: Catalogue,
        encoder: Encoder,
        root: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ResourceIndex:
        """The published snapshot if it is sound and current; otherwise a freshly built one."""
        try:
            loaded = cls.load(store, encoder, root)
        except SnapshotError:
            return cls.build(store, encoder, root, progress=progress)
        if loaded.manifest.catalogue_hash != catalogue_signature(store):
            return cls.build(store, encoder, root, progress=progress)
        return loaded


@dataclass
class InitiativeIndex:
    """Initiatives with their vectors, for the reverse direction (resource → initiatives).

    Built in memory from the catalogue; with the embedding cache, rebuilding costs only the new or
    edited texts. Personal data stays in the catalogue: the index holds vectors, ids and tokens.
    """

    dense: DenseIndex
    sparse: SparseIndex
    initiatives: dict[str, Initiative]
    covered: CoveredSets = field(init=False, repr=False, compare=False)
    """The initiatives each resource coverage reaches, kept per coverage (the index is never edited)."""

    def __post_init__(self) -> None:
        self.covered = CoveredSets(self.initiatives, self.dense, self.sparse)

    @classmethod
    def build(
        cls, store: Catalogue, encoder: Encoder, *, batch_size: int = 128,
        progress: Callable[[int, int], None] | None = None,
    ) -> InitiativeIndex:
        inis = {i.id: i for i in store.initiatives()}
        ids = sorted(inis)
        texts = [inis[i].text() for i in ids]
        vectors = encode_in_batches(encoder.encode_queries, texts, encoder.dim, batch_size=batch_size,
                                    progress=progress)
        dense = DenseIndex(encoder.dim)
        if ids:
            dense.upsert(ids, vectors)
        return cls(dense, SparseIndex().build(ids, texts), inis)
