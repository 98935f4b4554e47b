"""Erasing initiatives from every copy Maillage keeps (GDPR, issue 19).

An initiative's personal data lives in more places than its catalogue row:

- the catalogue database: its row, its outcomes (their free-text reasons), audit entries naming it,
  and, on SQLite, the freed pages and the WAL that still hold the bytes of a deleted row;
- the embedding cache: the vectors of every text encoded for it, keyed by the sha256 of the text
  (:func:`initiative_texts` lists those texts: what the reverse index, the history and a match encode);
- index snapshots ``indexes/<version>/``: the history of past partnerships keeps the ids, texts,
  tokens and vectors of initiatives that have positive outcomes (``history.json``,
  ``history_sparse_*``, ``history_textclf_*``, ``history_vectors.npy``), in the served snapshot and
  in the older ones kept beside it;
- a running worker's memory: the reverse index and the served snapshot's history.

:func:`erase_initiatives` does the first three, in that order, and returns what it did; the service's
engine then rebuilds its snapshot from the catalogue (which no longer holds the initiative) and drops
its reverse index. Every snapshot holding an erased id is removed, the served one included: the
``CURRENT`` pointer then names nothing, so the next start (or ``maillage index build``) rebuilds.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexes.cache import EmbeddingCache
from matcher.schemas import Initiative, MatchQuery
from matcher.store import Catalogue

__all__ = ["ErasureReport", "erase_initiatives", "initiative_texts", "initiatives_mentioning", "snapshots_holding"]

log = logging.getLogger("maillage.erasure")


@dataclass
class ErasureReport:
    """What one erasure removed: the ids (with the pseudonym their outcomes now carry), the outcomes
    anonymised, the cache rows and the snapshot folders deleted, and whether the served one was among
    them (the index must then be rebuilt)."""

    pseudonyms: dict[str, str]
    outcomes_anonymised: int = 0
    cache_rows: int = 0
    snapshots_removed: list[str] = field(default_factory=list)
    served_removed: bool = False

    def counts(self) -> dict[str, int | bool]:
        """The report as audit detail: counts only."""
        return {"initiatives": len(self.pseudonyms), "outcomes_anonymised": self.outcomes_anonymised,
                "cache_rows": self.cache_rows, "snapshots_removed": len(self.snapshots_removed),
                "served_removed": self.served_removed}


def initiative_texts(initiative: Initiative) -> list[str]:
    """Every text Maillage may have encoded for ``initiative``, hence every embedding-cache key it may
    have left: its retrieval text (reverse index, history) and its match query's text (a match of the
    stored initiative: the same text cut to the query's length, or the title fallback)."""
    texts = [initiative.text(), MatchQuery.from_initiative(initiative).text, initiative.title + " — projet"]
    return list(dict.fromkeys(texts))


def snapshots_holding(root: Path, ids: Sequence[str]) -> list[Path]:
    """The snapshot folders under ``root`` (published, kept or half-written ``.tmp-*``) holding any of
    ``ids``: in their history's ids when it reads, else anywhere in their files' bytes."""
    if not root.is_dir() or not ids:
        return []
    wanted = set(ids)
    needles = [i.encode("utf-8") for i in wanted]
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            held = set(json.loads((folder / "history.json").read_text(encoding="utf-8"))["initiative_ids"])
            if held & wanted:
                out.append(folder)
                continue
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no readable history: look at the bytes of every file
        try:
            holds = any(n in p.read_bytes() for p in folder.rglob("*") if p.is_file() for n in needles)
        except FileNotFoundError:  # a build is writing or publishing it now: removed to be sure
            holds = True
        if holds:
            out.append(folder)
    return out


_REMOVE_ATTEMPTS = 10
"""Listings of a folder a concurrent build keeps writing into before its removal gives up (each
rmdir that finds a new file lists again; a build cannot write into the folder once it is gone)."""


def _remove_tree(folder: Path) -> bool:
    """Remove ``folder``; files (or the folder) that a concurrent build removes or renames meanwhile are
    gone from here either way (what such a build publishes is looked for again after it:
    :meth:`service.engine_erasure.ErasureMixin.settle_erasure`). Whether the folder was there."""
    existed = folder.exists()

    def gone(_func: object, _path: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    for attempt in range(_REMOVE_ATTEMPTS):
        try:
            shutil.rmtree(folder, onerror=gone)
            return existed
        except OSError as exc:  # a build wrote a file between the listing and the rmdir: list again
            if exc.errno != errno.ENOTEMPTY or attempt == _REMOVE_ATTEMPTS - 1:
                raise
            time.sleep(0.005 * (attempt + 1))
    return existed


def erase_initiatives(store: Catalogue, ids: Sequence[str], *, cache: EmbeddingCache | None,
                      index_root: Path | None) -> ErasureReport:
    """Erase the initiatives ``ids`` from the catalogue, the embedding cache and every snapshot under
    ``index_root`` (see the module docstring). Unknown ids raise
    :class:`matcher.store.NotFoundError` before anything is erased.

    Snapshots are removed last, once the catalogue no longer holds the initiatives, so a snapshot built
    meanwhile by another process is built without them (or, built from before, is found and removed).
    """
    held = store.get_initiatives(list(ids))
    texts = [t for i in ids if i in held for t in initiative_texts(held[i])]
    before = {i: len(store.outcomes(initiative_id=i)) for i in held}
    pseudonyms = store.erase_initiatives(ids)
    report = ErasureReport(pseudonyms, outcomes_anonymised=sum(before.values()))
    if cache is not None and texts:
        report.cache_rows = cache.forget(texts)
    if index_root is not None:
        served = index_root / "CURRENT"
        name = served.read_text(encoding="utf-8").strip() if served.is_file() else None
        for folder in snapshots_holding(index_root, list(ids)):
            if not _remove_tree(folder):
                continue
            report.snapshots_removed.append(folder.name)
            if folder.name == name:
                report.served_removed = True
                served.unlink(missing_ok=True)  # names nothing now: the next start rebuilds
    log.info("erased %d initiative(s): %d outcome(s) anonymised, %d cache row(s), snapshots removed: %s",
             len(pseudonyms), report.outcomes_anonymised, report.cache_rows, report.snapshots_removed or "none")
    return report


def initiatives_mentioning(store: Catalogue, email: str) -> list[str]:
    """The ids of the initiatives whose contact e-mail is ``email`` or whose text (title, description,
    themes) contains it, case-insensitively: what ``maillage forget --email`` erases."""
    wanted = email.strip().lower()
    if "@" not in wanted or len(wanted) < 3:
        raise ValueError(f"--email expects an e-mail address, got {email!r}")
    return [i.id for i in store.initiatives()
            if (i.contact_email or "").lower() == wanted or wanted in i.text().lower()]
