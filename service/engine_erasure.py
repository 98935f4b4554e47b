"""What a worker does when initiatives are erased (a part of :class:`service.engine.Engine`).

The catalogue, the embedding cache and the snapshots on disk are erased by
:func:`matcher.erasure.erase_initiatives`; a worker also holds copies in memory: the reverse index
(every initiative, with its text) and the served snapshot's history (ids, texts and vectors of past
partnerships). :meth:`ErasureMixin.drop_erased` drops the first, serves the second without the
erased rows at once (:meth:`matcher.history.History.without`), and rebuilds the snapshot from the
catalogue in the background (a DELETE answers in 0.38 s on the demo catalogue; the build after it
takes 9 s, `scripts/bench_erasure.py`).
It runs after an erasure made through this worker, and from the poller when another worker or
``maillage forget`` erased (the audit log's :meth:`~matcher.store.Catalogue.erasure_mark` changed).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence

from indexes import Encoder
from indexes.cache import CachedEncoder
from matcher.erasure import ErasureReport, erase_initiatives, initiative_texts, snapshots_holding
from matcher.history import History
from matcher.indexing import InitiativeIndex
from matcher.recommender import Recommender
from matcher.schemas import Initiative
from matcher.store import Catalogue
from service.background import BackgroundIndex
from service.locks import RWLock
from service.settings import Settings

__all__ = ["ErasureMixin"]

log = logging.getLogger("maillage.engine")


class ErasureMixin:
    """Erasure for :class:`service.engine.Engine` (which provides the attributes declared here)."""

    settings: Settings
    store: Catalogue
    encoder: Encoder
    rec: Recommender
    initiatives: BackgroundIndex[InitiativeIndex]
    _rebuild_thread: threading.Thread | None
    _erasure_mark: int
    _erasure_thread: threading.Thread | None
    lock: RWLock
    rebuild: Callable[..., bool]
    initiatives_changed: Callable[[], None]

    def upsert_initiatives(self, items: list[Initiative]) -> None:
        """Store initiatives; an edit forgets the cached vectors of the texts it replaced (an old
        description is personal data too, and no erasure would find it once the text changed)."""
        before = self.store.get_initiatives([i.id for i in items])
        self.store.upsert_initiatives(items)
        self.initiatives_changed()
        now = {t for i in items for t in initiative_texts(i)}
        replaced = [t for old in before.values() for t in initiative_texts(old) if t not in now]
        if replaced and isinstance(self.encoder, CachedEncoder):
            self.encoder.cache.forget(replaced)

    def forget_initiatives(self, ids: Sequence[str]) -> ErasureReport:
        """Erase initiatives from every copy (catalogue, cache, snapshots on disk), mask them out of
        this worker's memory at once, and rebuild the served snapshot without them in the background
        (:meth:`settle_erasure`). Unknown ids raise ``NotFoundError``, nothing erased."""
        cache = self.encoder.cache if isinstance(self.encoder, CachedEncoder) else None
        report = erase_initiatives(self.store, ids, cache=cache, index_root=self.settings.index_dir)
        self.drop_erased()
        return report

    def drop_erased(self) -> None:
        """Drop the reverse index; when the served history holds initiatives the catalogue no longer
        has, serve it without their rows now and rebuild the snapshot in the background."""
        self.initiatives.discard()
        history = self.rec.index.history
        held = history.initiative_ids
        missing = set(held) - set(self.store.get_initiatives(held)) if held else set()
        if not missing:
            return
        self._mask_history(history, missing)
        thread = threading.Thread(target=self.settle_erasure, args=(sorted(missing),), name="maillage-erasure",
                                  daemon=True)
        self._erasure_thread = thread
        thread.start()

    def settle_erasure(self, ids: Sequence[str]) -> None:
        """Rebuild the served snapshot from the catalogue (which no longer holds ``ids``), after any
        build already running (it may have read them before the erasure); then remove any snapshot a
        build published with them meanwhile."""
        for _ in range(3):
            running = self._rebuild_thread
            if running is not None and running.is_alive():
                running.join()
            if self.rebuild(wait=True):
                break
        served = self.rec.index.version
        for folder in snapshots_holding(self.settings.index_dir, ids):
            if folder.name != served:
                shutil.rmtree(folder, ignore_errors=True)
        if any(i in self.rec.index.history.row for i in ids):  # a build from before the erasure got in
            self._mask_history(self.rec.index.history, set(ids))
            log.warning("index: a build read erased initiatives before their erasure; masked, rebuild again")

    def _mask_history(self, history: History, ids: set[str]) -> None:
        """Serve ``history`` without the rows of ``ids``. The copy is made before the write lock is taken
        (from 300,000 rows it also trains its kNN index: half a minute at a million, with BM25 refitted),
        so reads wait only for the swap; if a rebuild installed another history meanwhile, that one is
        masked instead, under the lock."""
        pruned = history.without(ids)
        with self.lock.write():
            current = self.rec.index.history
            self.rec.index.history = pruned if current is history else current.without(ids)

    def wait_erasures(self, timeout: float | None = None) -> None:
        """Return once the background rebuild of the last erasure is done (tests, the CLI)."""
        thread = self._erasure_thread
        if thread is not None:
            thread.join(timeout)

    def check_erasures(self) -> None:
        """From the poller: react to an erasure made elsewhere (another worker, ``maillage forget``,
        ``maillage retention run``) without waiting for the rebuild."""
        mark = self.store.erasure_mark()
        if mark != self._erasure_mark:
            self._erasure_mark = mark
            self.drop_erased()
