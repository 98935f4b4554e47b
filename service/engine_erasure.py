"""What a worker does when initiatives are erased (a part of :class:`service.engine.Engine`).

The catalogue, the embedding cache and the snapshots on disk are erased by
:func:`matcher.erasure.erase_initiatives`; a worker also holds copies in memory: the reverse index
(every initiative, with its text) and the served snapshot's history (ids, texts and vectors of past
partnerships). :meth:`ErasureMixin.drop_erased` drops the first and rebuilds the second from the
catalogue. It runs after an erasure made through this worker, and from the poller when another
worker or ``maillage forget`` erased (the audit log's :meth:`~matcher.store.Catalogue.erasure_mark`
changed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from indexes import Encoder
from indexes.cache import CachedEncoder
from matcher.erasure import ErasureReport, erase_initiatives, initiative_texts
from matcher.indexing import InitiativeIndex
from matcher.recommender import Recommender
from matcher.schemas import Initiative
from matcher.store import Catalogue
from service.settings import Settings

__all__ = ["ErasureMixin"]

log = logging.getLogger("maillage.engine")


class ErasureMixin:
    """Erasure for :class:`service.engine.Engine` (which provides the attributes declared here)."""

    settings: Settings
    store: Catalogue
    encoder: Encoder
    rec: Recommender
    _initiatives: InitiativeIndex | None
    _initiatives_dirty: bool
    _initiatives_lock: threading.Lock
    _rebuild_thread: threading.Thread | None
    _erasure_mark: int
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
        """Erase initiatives from every copy (catalogue, cache, snapshots, this worker's memory), then
        serve a snapshot rebuilt without them. Unknown ids raise ``NotFoundError``, nothing erased."""
        cache = self.encoder.cache if isinstance(self.encoder, CachedEncoder) else None
        report = erase_initiatives(self.store, ids, cache=cache, index_root=self.settings.index_dir)
        self.drop_erased(wait=True)
        return report

    def drop_erased(self, *, wait: bool) -> None:
        """Drop the reverse index; rebuild the served snapshot when its history holds an initiative the
        catalogue no longer has (``wait``: return once the new one is served)."""
        with self._initiatives_lock:
            self._initiatives = None
            self._initiatives_dirty = True
        for _ in range(3):  # a build that started before the erasure committed may still hold them
            held = self.rec.index.history.initiative_ids
            if not held or len(self.store.get_initiatives(held)) == len(held):
                return
            running = self._rebuild_thread
            if running is not None and running.is_alive():
                if not wait:
                    return  # the poller asks again at its next tick
                running.join()
                continue
            log.info("index: its history holds an erased initiative, rebuilding it")
            self.rebuild(wait=wait)
            if not wait:
                return

    def check_erasures(self) -> None:
        """From the poller: react to an erasure made elsewhere (another worker, ``maillage forget``,
        ``maillage retention run``) without waiting for the rebuild."""
        mark = self.store.erasure_mark()
        if mark != self._erasure_mark:
            self._erasure_mark = mark
            self.drop_erased(wait=False)
