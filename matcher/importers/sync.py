"""Synchronising the catalogue with one source: what it adds, changes, no longer lists, and duplicates.

A *source* is one catalogue as one file or folder gives it (``aides-territoires``, ``tee``…). Every
resource it describes carries the reference ``"<source>:<key>"`` in ``source_refs``. Importing the
source again:

* updates the resources whose content changed, leaves the others untouched (same content hash);
* marks ``active=False`` the resources this source no longer lists (kept, with their history);
  a resource merged from another source stays active and only loses this source's reference;
* detects an aid another source already brought (:func:`find_duplicate`: same provider and a close
  title or text, or the same title and near-identical text) and merges it into that resource, whose
  ``source_refs`` then name both sources; empty fields are filled from the newcomer.

Every item is either imported or reported with its line or record number (:class:`SyncReport`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from matcher._store_base import content_hash
from matcher.importers._catalogue import (
    ProviderDraft,
    SourceAid,
    SourceItem,
    SourceProblem,
    norm_title,
    provider_keys,
    text_similarity,
)
from matcher.importers._sources import slug
from matcher.schemas import Provider, ProviderKind, Resource, describe_validation_error
from matcher.store import Catalogue

__all__ = ["DUPLICATE_SIMILARITY", "RowNote", "SyncReport", "find_duplicate", "sync_source"]

DUPLICATE_SIMILARITY = 0.85
"""Text similarity (:func:`text_similarity`) from which two aids of one provider are the same aid."""
_SAME_TITLE_SIMILARITY = 0.6
"""With the same folded title but providers named differently, the texts must be this alike."""
# Fields a merge fills on the resource already held when it has no value for them.
_FILLABLE = ("description", "eligibility_text", "opens_at", "closes_at", "url", "amount_min", "amount_max",
             "capacity", "last_verified", "themes", "needs_covered", "cumulation_scope", "cumulation_text")
# Fields no source format gives: only staff set them, so a re-import keeps what the record holds.
# (Sources state non-cumulation in words or as a general rule, never as ids of other resources.)
_STAFF_ONLY = ("contact", "capacity", "eligible_stages", "amount_min", "non_cumulable_with")


@dataclass(frozen=True)
class RowNote:
    """Something said about one row: where it is (line, or record of a file) and what (French)."""

    line: int
    message: str
    file: str | None = None

    def __str__(self) -> str:
        if self.line == 0 and not self.file:  # about the whole run
            return self.message
        where = f"{self.file}, aide {self.line}" if self.file else f"ligne {self.line}"
        return f"{where} : {self.message}"


@dataclass
class SyncReport:
    """What one synchronisation did, with the ids concerned."""

    source: str
    read: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    merged: list[tuple[str, str]] = field(default_factory=list)
    """``(reference of the incoming aid, id of the resource it was merged into)``."""
    providers_added: int = 0
    problems: list[RowNote] = field(default_factory=list)
    """Rows not imported, and why."""
    warnings: list[RowNote] = field(default_factory=list)
    """Rows imported with something staff should know (an unresolved perimeter, an unknown label)."""
    perimeters: int = 0
    perimeters_resolved: int = 0

    @property
    def imported(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)

    @property
    def perimeter_rate(self) -> float:
        """Share of the imported aids whose perimeter became INSEE codes (1.0 when none was imported)."""
        return self.perimeters_resolved / self.perimeters if self.perimeters else 1.0


class _Providers:
    """Providers found by normalised name (:func:`provider_keys`) or created once per run."""

    def __init__(self, existing: list[Provider], source: str) -> None:
        self.source = source
        self.by_key: dict[str, str] = {}
        self.by_acronym: dict[str, set[str]] = {}
        self.ids = {p.id for p in existing}
        self.new: list[Provider] = []
        for p in existing:
            self._remember(p.name, p.id)

    def _remember(self, name: str, pid: str) -> None:
        key, acronyms = provider_keys(name)
        self.by_key.setdefault(key, pid)
        for a in acronyms:
            self.by_acronym.setdefault(a, set()).add(pid)

    def _known(self, name: str) -> str | None:
        key, acronyms = provider_keys(name)
        if key in self.by_key:
            return self.by_key[key]
        named = self.by_acronym.get(key, set())  # the name is an acronym that one known provider spells out
        if len(named) == 1:
            return next(iter(named))
        return next((self.by_key[a] for a in sorted(acronyms) if a in self.by_key), None)

    def id_for(self, draft: ProviderDraft) -> str:
        known = self._known(draft.name)
        if known is not None:
            return known
        base = "fin-" + slug(draft.name, limit=90)
        pid, n = base, 2
        while pid in self.ids:
            pid, n = f"{base}-{n}", n + 1
        self.new.append(Provider(id=pid, name=draft.name, kind=draft.kind or ProviderKind.autre,
                                 territory=draft.territory or "FR", url=draft.url, source=self.source))
        self.ids.add(pid)
        self._remember(draft.name, pid)
        return pid


def find_duplicate(candidate: Resource, pool: Iterable[Resource]) -> Resource | None:
    """The resource of ``pool`` that describes the same aid as ``candidate``, the most alike if several.

    Same aid: the same provider and the same folded title or texts at least
    :data:`DUPLICATE_SIMILARITY` alike; or the same folded title and texts at least
    :data:`_SAME_TITLE_SIMILARITY` alike when the two sources named the provider differently.
    """
    title = norm_title(candidate.title)
    best: tuple[float, Resource] | None = None
    for other in pool:
        same_title = norm_title(other.title) == title
        if other.provider_id != candidate.provider_id and not same_title:
            continue
        score = text_similarity(candidate.text(), other.text())
        if other.provider_id == candidate.provider_id:
            ok = same_title or score >= DUPLICATE_SIMILARITY
        else:
            ok = score >= _SAME_TITLE_SIMILARITY
        if ok and (best is None or score > best[0]):
            best = (score, other)
    return best[1] if best else None


def _merge(held: Resource, incoming: Resource, refs: list[str]) -> Resource:
    """``held`` with ``refs`` among its sources and its empty fields filled from ``incoming``."""
    changes: dict[str, Any] = {"source_refs": list(dict.fromkeys([*held.source_refs, *refs]))}
    for name in _FILLABLE:
        if getattr(held, name) in (None, "", []) and getattr(incoming, name) not in (None, "", []):
            changes[name] = getattr(incoming, name)
    if held.perimeter_text is not None and incoming.perimeter_text is None:
        changes.update(coverage=incoming.coverage, perimeter_text=None)
    return Resource.model_validate({**held.model_dump(), **changes})


def _no_nul(value: Any) -> Any:
    """``value`` without NUL characters in its strings (PostgreSQL refuses them in text; a file's
    stray NUL would otherwise fail the whole import's transaction)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _build(item: SourceAid, source: str, prefix: str, providers: _Providers) -> Resource | str:
    fields = {name: _no_nul(value) for name, value in item.fields.items()}
    ids = list(dict.fromkeys(providers.id_for(replace(d, name=_no_nul(d.name))) for d in item.providers))
    if len(item.providers) > 1:
        others = ", ".join(d.name for d in item.providers[1:])
        fields["description"] = (fields.get("description", "") + f"\n\nAutres financeurs : {others}.").strip()
    payload = {**fields, "id": f"{prefix}-{slug(item.key, limit=110)}", "provider_id": ids[0], "source": source,
               "source_refs": [f"{source}:{item.key}"[:300]]}
    try:
        return Resource.model_validate(payload)
    except ValidationError as exc:
        return "; ".join(describe_validation_error(exc))


class _Run:
    """One synchronisation: the catalogue as it was, what the source says, what changes."""

    def __init__(self, store: Catalogue, source: str, prefix: str) -> None:
        self.source, self.prefix = source, prefix
        everything = store.resources(include_deleted=True)
        live = {r.id for r in store.resources()}
        self.held = {r.id: r for r in everything if r.id in live}
        self.deleted = {r.id for r in everything if r.id not in live}
        self.by_ref = {ref: r.id for r in self.held.values() for ref in r.source_refs}
        self.providers = _Providers(store.providers(), source)
        self.report = SyncReport(source)
        self.writes: dict[str, Resource] = {}
        self.seen: dict[str, str] = {}
        """References this run has stored, with where they were read (to report a key given twice)."""
        self.run_ids: dict[str, str] = {}
        """Ids this run has stored, with the reference that took each."""
        self.kept: set[str] = set()
        """References of rows this run could not read: their resources stay as they were."""
        self.blind = 0
        """Rows (or files) not read whose key is unknown: this run then inactivates nothing."""

    def take(self, item: SourceItem, file: str | None) -> None:
        self.report.read += 1
        if isinstance(item, SourceProblem):
            self.report.problems.append(RowNote(item.line, item.message, file))
            self._keep(item.key)
            return
        built = _build(item, self.source, self.prefix, self.providers)
        if isinstance(built, str):
            self.report.problems.append(RowNote(item.line, built, file))
            self._keep(item.key)
            return
        ref = built.source_refs[0]
        refused = self._refused(built, ref)
        if refused is not None:
            self.report.problems.append(RowNote(item.line, refused, file))
            return
        target = self.by_ref.get(ref) or (built.id if built.id in self.held else None)
        if target is None:
            pool = (r for r in self.held.values() if r.source != self.source and r.active)
            dup = find_duplicate(built, pool)
            target = dup.id if dup is not None else None
        self._store(built, ref, target)
        self.seen[ref] = str(RowNote(item.line, "", file)).removesuffix(" : ")
        self.run_ids.setdefault(built.id, ref)
        self.report.warnings.extend(RowNote(item.line, w, file) for w in item.warnings)
        self.report.perimeters += 1
        self.report.perimeters_resolved += item.perimeter_resolved

    def _keep(self, key: str | None) -> None:
        """A row not read: the resource it describes (if known) is neither updated nor inactivated."""
        if key is None:
            self.blind += 1
        else:
            self.kept.add(f"{self.source}:{key}"[:300])

    def _refused(self, built: Resource, ref: str) -> str | None:
        """Why a row cannot be stored (French), or None: a key given twice, an id another key of
        this run took, a resource staff deleted."""
        if ref in self.seen:
            return f"même clé que {self.seen[ref]} ({ref.split(':', 1)[1]}) : ligne ignorée"
        taken = self.run_ids.get(built.id)
        if taken is not None and taken != ref:
            return f"identifiant {built.id} déjà pris par {self.seen[taken]} : ligne ignorée"
        if built.id in self.deleted and ref not in self.by_ref:
            return f"ressource {built.id} supprimée par l'équipe : non restaurée"
        return None

    def _store(self, built: Resource, ref: str, target: str | None) -> None:
        if target is None:
            self.report.added.append(built.id)
            self._write(built)
            return
        held = self.held[target]
        if held.source == self.source:
            # This source's record: its new content, keeping what other sources merged in filled.
            staff = {name: getattr(held, name) for name in _STAFF_ONLY
                     if getattr(built, name) in (None, []) and getattr(held, name) not in (None, [])}
            fresh = Resource.model_validate({**built.model_dump(), "id": held.id, "created_at": held.created_at,
                                             **staff})
            new = _merge(fresh, held, held.source_refs) if len(held.source_refs) > 1 else fresh
        else:
            if ref not in held.source_refs:
                self.report.merged.append((ref, held.id))
            new = _merge(held, built, [ref])
        if content_hash(new) == content_hash(held):
            self.report.unchanged.append(held.id)
        else:
            self.report.updated.append(held.id)
            self._write(new)

    def _write(self, resource: Resource) -> None:
        self.writes[resource.id] = resource
        self.held[resource.id] = resource
        self.by_ref.update(dict.fromkeys(resource.source_refs, resource.id))

    def expire(self) -> None:
        """Resources this source described before and no longer lists (none when rows without a key
        could not be read: any of them may be the one that seems gone)."""
        if self.blind:
            self.report.warnings.append(RowNote(0, f"{self.blind} ligne(s) ou fichier(s) illisible(s) sans clé : "
                                                   "aucune ressource désactivée lors de cet import"))
            return
        mine = self.source + ":"
        for r in list(self.held.values()):
            gone = [ref for ref in r.source_refs
                    if ref.startswith(mine) and ref not in self.seen and ref not in self.kept]
            if not gone:
                continue
            others = [ref for ref in r.source_refs if not ref.startswith(mine)]
            if others:  # still described by another source: it only loses this one
                self._write(r.model_copy(update={"source_refs": [x for x in r.source_refs if x not in gone]}))
            elif r.active and r.source == self.source:
                self.report.expired.append(r.id)
                self._write(r.model_copy(update={"active": False}))


def sync_source(store: Catalogue, source: str, items: Iterable[SourceItem | tuple[str | None, SourceItem]], *,
                prefix: str) -> SyncReport:
    """Bring the catalogue in line with ``source`` as ``items`` describe it (see the module docstring).

    ``items`` are what an importer reads, optionally paired with their file's name; ``prefix`` starts
    the ids of the resources this source creates (``"at"`` → ``"at-3d9e-recycler-une-friche"``).
    Providers are written first, then every changed resource in one transaction.
    """
    run = _Run(store, source, prefix)
    for entry in items:
        file, item = entry if isinstance(entry, tuple) else (None, entry)
        run.take(item, file)
    run.expire()
    if run.providers.new:
        store.upsert_providers(run.providers.new)
        run.report.providers_added = len(run.providers.new)
    if run.writes:
        store.upsert_resources(list(run.writes.values()))
    return run.report
