"""What one service worker holds: the catalogue, the encoder, the live index and the recommender.

- **Start-up check**: the published snapshot is verified against the catalogue. Missing, corrupt,
  built with another encoder or stale: it is rebuilt from the catalogue (the embedding cache makes
  that cheap) and the reason is logged. A catalogue that cannot be opened stops the start with its
  error.
- **Following the catalogue**: every write through the API is committed first, then applied to this
  worker's index; a poller applies writes made by other workers or by ``maillage import`` (resources
  carry a ``changed_at`` stamp), so a change is visible to matches within a second everywhere.
- **Rebuild and swap**: a full rebuild runs in a background thread while queries go on against the
  current index; the writes made during the build are replayed on the new one, then one assignment
  swaps it in. No query waits for the build.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from indexes import Encoder, SnapshotError, load_encoder
from indexes.batching import QueryBatcher
from indexes.cache import CachedEncoder
from matcher.demo_catalogue import load_demo
from matcher.indexing import InitiativeIndex, ResourceIndex
from matcher.plan import PLAN_DEPTH, Plan, make_plan
from matcher.recommender import Recommender
from matcher.schemas import Initiative, InitiativeMatch, Match, MatchQuery, Resource
from matcher.store import Catalogue, content_hash
from service.background import BackgroundIndex, IndexNotReady
from service.engine_erasure import ErasureMixin
from service.locks import RWLock
from service.settings import Settings
from service.startup import older_snapshot, served_recommender, warm_up

__all__ = ["Engine", "IndexNotReady", "IndexState", "RWLock", "Served", "ServedInitiatives", "ServedPlan"]

log = logging.getLogger("maillage.engine")


# A write is stamped (``resources.changed_at``) before its transaction commits, so a write stamped
# earlier can become visible after a later one was already applied (two API requests, an import and
# a request); each sync therefore looks back this far behind the newest stamp it has seen. Rows already
# applied are recognised by their content hash and skipped without being read. Found by
# scripts/crash_test.py: with three concurrent writers the index missed a committed resource.
SYNC_LOOKBACK = timedelta(seconds=60)


@dataclass
class IndexState:
    """What ``/v1/index`` reports."""

    version: str
    count: int
    encoder_id: str
    built_at: str
    repaired: str | None = None
    rebuilding: bool = False
    last_rebuild_error: str | None = None
    fallback_from: str | None = None  # the published snapshot refused at start when an older one is served
    note: str | None = None  # said to staff in /v1/index (French)
    live_changes: int = 0
    last_sync: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Served:
    """A ranked list of resources and the versions of the index and model that made it (both read off
    the recommender that ranked it, so a swap in between cannot mislabel the list)."""

    matches: list[Match]
    excluded: list[Match]
    index_version: str
    model_version: str
    nothing_fits: bool = False
    near_misses: list[Match] = field(default_factory=list)


@dataclass(frozen=True)
class ServedPlan:
    """A plan (:mod:`matcher.plan`) and the versions of the index and model whose list it was chosen from."""

    plan: Plan
    index_version: str
    model_version: str


@dataclass(frozen=True)
class ServedInitiatives:
    """A reverse match: the initiatives that fit one resource, best first, and the index that served it."""

    matches: list[InitiativeMatch]
    index_version: str


class Engine(ErasureMixin):
    """The serving state of one worker (see the module docstring). Faces match through
    :meth:`recommend` and :meth:`recommend_initiatives`, which take the read lock themselves;
    initiatives are erased through :meth:`forget_initiatives` (:mod:`service.engine_erasure`)."""

    def __init__(self, settings: Settings, *, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.store = Catalogue.open(settings.db_url)
        self.encoder = encoder or load_encoder(settings.model, models_dir=settings.models_dir,
                                               cache_path=settings.cache_path, runtime=settings.encoder_runtime,
                                               batch_precision=settings.encoder_batch_precision,
                                               precision=settings.encoder_precision)
        self.lock = RWLock()
        self._write = threading.Lock()  # one applier of changes at a time (requests, poller, swap)
        self._hashes: dict[str, str] = {}
        self._watermark: datetime | None = None
        self.initiatives = BackgroundIndex(lambda: InitiativeIndex.build(self.store, self.encoder),
                                           "initiative index")
        # Free texts of concurrent requests are encoded together (transient: the raw encoder, no cache).
        raw = self.encoder.encoder if isinstance(self.encoder, CachedEncoder) else self.encoder
        self.batcher = QueryBatcher(raw.encode_queries, window_s=settings.batch_window_ms / 1000,
                                    max_batch=settings.batch_max)
        self._rebuild_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._erasure_mark = 0
        self._erasure_thread: threading.Thread | None = None
        self.rec: Recommender
        self.state: IndexState

    # --- start ---------------------------------------------------------------------------------

    def start(self, *, demo_when_empty: bool = True, poll_interval: float | None = 0.5,
              wait_initiatives: bool = True) -> None:
        """Check the catalogue against the snapshot (repairing it if needed), build the initiative index
        (``wait_initiatives=False``: in the background, the reverse view answering 503 until it is
        ready), then follow the catalogue."""
        self._start_resources(demo_when_empty)
        self.initiatives.start(wait=wait_initiatives)
        self._follow(poll_interval)

    def _start_resources(self, demo_when_empty: bool) -> None:
        if demo_when_empty and self.store.counts()["resources"] == 0:
            log.info("catalogue is empty: loading the demo catalogue")
            load_demo(self.store)
        watermark = datetime.now(UTC)
        self._erasure_mark = self.store.erasure_mark()
        repaired: str | None = None
        try:
            index = ResourceIndex.load(self.store, self.encoder, self.settings.index_dir)
            if index.manifest.catalogue_hash != _signature(self.store):
                repaired = f"snapshot {index.version} was older than the catalogue: rebuilt"
                index = ResourceIndex.build(self.store, self.encoder, self.settings.index_dir)
        except SnapshotError as exc:
            repaired = f"{exc}: rebuilt from the catalogue"
            try:
                index = ResourceIndex.build(self.store, self.encoder, self.settings.index_dir)
            except OSError as build_error:  # a full disk: serve the newest sound snapshot, synced live
                fallen = older_snapshot(self.store, self.encoder, self.settings.index_dir, exc, build_error)
                self._install(fallen.index, None, reapply=fallen.reapply)
                self.state.repaired, self.state.fallback_from, self.state.note = fallen.said
                return
        if repaired:
            log.warning("index: %s", repaired)
        self._install(index, watermark)
        self.state.repaired = repaired

    def _follow(self, poll_interval: float | None) -> None:
        if poll_interval:
            self._poller = threading.Thread(target=self._poll, args=(poll_interval,), name="maillage-sync",
                                            daemon=True)
            self._poller.start()

    def close(self) -> None:
        self.batcher.close()  # the texts already submitted are encoded first
        self.initiatives.close()
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        self.wait_erasures(timeout=60)
        if self._rebuild_thread is not None:
            self._rebuild_thread.join(timeout=60)
        self.store.close()

    def _recommender(self, index: ResourceIndex) -> Recommender:
        return served_recommender(index, self.encoder, self.settings)

    def _install(self, index: ResourceIndex, watermark: datetime | None, *, reapply: Collection[str] = ()) -> None:
        """Make ``index`` the served one and replay every write made since ``watermark`` (every live
        resource when ``None``); the resources in ``reapply`` are applied again whatever their content."""
        rec = self._recommender(index)
        warm_up(rec)  # what the first request would otherwise build: no index is built on a request
        with self._write:
            self._hashes = {rid: content_hash(r) for rid, r in index.resources.items() if rid not in reapply}
            self._watermark = watermark
            self.rec = rec
            previous = getattr(self, "state", None)
            self.state = IndexState(index.version, len(index.resources), index.manifest.encoder_id,
                                    index.manifest.created_at)
            if previous is not None:
                self.state.repaired = previous.repaired
            self._sync_locked()
        # The index, its resources and the model are long-lived: move them out of the garbage
        # collector's sight, so that full collections triggered by requests do not walk them (those
        # walks were the latency spikes of the load test). Unfreezing first lets a previous index's
        # reference cycles be collected now that it is no longer served.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    # --- following the catalogue ---------------------------------------------------------------

    def sync(self) -> int:
        """Apply every resource write committed since the last sync; returns how many changed."""
        with self._write:
            return self._sync_locked()

    def _sync_locked(self) -> int:
        since = None if self._watermark is None else self._watermark - SYNC_LOOKBACK
        live, deleted, newest = self.store.resources_changed_since(since, known=self._hashes)
        changed = 0
        index = self.rec.index
        for res in live:
            digest = content_hash(res)
            if self._hashes.get(res.id) == digest:
                continue
            self._apply_upsert(index, res)
            self._hashes[res.id] = digest
            changed += 1
        for rid in deleted:
            if rid in self._hashes:
                with self.lock.write():
                    index.remove(rid)
                del self._hashes[rid]
                changed += 1
        if newest is not None and (self._watermark is None or newest > self._watermark):
            self._watermark = newest
        if changed:
            self.state.count = len(index.resources)
            self.state.live_changes += changed
        self.state.last_sync = time.time()
        return changed

    def _apply_upsert(self, index: ResourceIndex, res: Resource) -> None:
        provider = index.providers.get(res.provider_id)
        if provider is None:
            try:
                provider = self.store.get_provider(res.provider_id)
            except KeyError:
                provider = None
        from matcher.indexing import resource_document

        self.encoder.encode_documents([resource_document(res, provider)])  # encode outside the lock (cached)
        with self.lock.write():
            index.upsert(res, self.encoder, provider)

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sync()
                self.check_erasures()
            except Exception:  # the poller must outlive a transient database error
                log.exception("index sync failed; retrying")

    def transient(self) -> AbstractContextManager[None]:
        """Queries encoded within this block (this thread) leave no vector in the embedding cache: a
        citizen's free text is kept nowhere unless they consent."""
        return self.encoder.transient() if isinstance(self.encoder, CachedEncoder) else nullcontext()

    # --- matching ----------------------------------------------------------------------------------

    async def encode_query(self, text: str) -> np.ndarray:
        """``(d,) float32``: ``text`` encoded as a query with the other requests' texts waiting (the
        batcher's window), awaited without holding a thread; transient (no cache)."""
        return await asyncio.wrap_future(self.batcher.submit(text))

    def recommend(self, query: MatchQuery | Initiative, k: int, *, today: date | None = None,
                  with_excluded: bool = False, staff_overrides: bool = False,
                  query_vector: np.ndarray | None = None) -> Served:
        """The top ``k`` resources for ``query``, ranked under the read lock (a live write to the index
        waits for it). A free-text :class:`MatchQuery` is encoded in transient mode: its vector goes into
        no cache, since a citizen's text is kept nowhere without consent. ``staff_overrides`` applies a
        stored initiative's pins and exclusions (read from the catalogue). ``query_vector``: the text's
        vector from :meth:`encode_query`."""
        rec = self.rec
        overrides = self.store.overrides_for(query.id) if staff_overrides and isinstance(query, Initiative) else None
        transient = self.transient() if isinstance(query, MatchQuery) else nullcontext()
        with self.lock.read(), transient:
            result = rec.recommend(query, k, today=today, with_excluded=with_excluded, overrides=overrides,
                                   query_vector=query_vector)
        return Served(result.matches, result.excluded, rec.index.version, rec.model_version, result.nothing_fits,
                      result.near_misses)

    def plan(self, query: MatchQuery | Initiative, *, today: date | None = None, staff_overrides: bool = False,
             query_vector: np.ndarray | None = None) -> ServedPlan:
        """The plan for ``query`` (:func:`matcher.plan.make_plan`) from the first ``PLAN_DEPTH`` matches of the
        same ``recommend`` as :meth:`recommend`, its resources read under the lock that ranked them."""
        rec, day = self.rec, today or date.today()
        overrides = self.store.overrides_for(query.id) if staff_overrides and isinstance(query, Initiative) else None
        transient = self.transient() if isinstance(query, MatchQuery) else nullcontext()
        with self.lock.read(), transient:
            found = rec.recommend(query, PLAN_DEPTH, today=day, overrides=overrides, query_vector=query_vector)
            plan = make_plan(found.matches, rec.index.resources, rec.index.providers, needs=query.needs,
                             amount_sought=query.amount_sought, today=day)
        return ServedPlan(plan, rec.index.version, rec.model_version)

    def recommend_initiatives(self, resource_id: str, k: int, *, today: date | None = None) -> ServedInitiatives:
        """Reverse match: the top ``k`` initiatives for a served resource, under the read lock;
        :class:`IndexNotReady` while the initiative index is first being built."""
        initiatives = self.initiatives.get()
        rec = self.rec
        with self.lock.read():
            found = rec.recommend_initiatives(resource_id, initiatives, k, today=today)
        return ServedInitiatives(found, rec.index.version)

    def served_resource(self, resource_id: str) -> Resource | None:
        """The resource as the served index holds it; ``None`` when it is not served (deleted, inactive)."""
        return self.rec.index.resources.get(resource_id)

    @property
    def model_version(self) -> str:
        """The version of the ranker that serves matches."""
        return self.rec.model_version

    @property
    def stale(self) -> bool:
        """Whether the catalogue changed since the served index was built (live changes aside)."""
        return self.rec.index.manifest.catalogue_hash != _signature(self.store)

    # --- catalogue writes ----------------------------------------------------------------------------

    def upsert_resources(self, items: list[Resource]) -> None:
        """Store resources, then apply them to the served index (the next match already sees them)."""
        for r in items:
            self.store.get_provider(r.provider_id)  # an unknown provider is named before anything is written
        self.store.upsert_resources(items)
        self.sync()

    def delete_resource(self, resource_id: str) -> None:
        self.store.delete_resource(resource_id)
        self.sync()

    def delete_initiative(self, initiative_id: str) -> None:
        self.forget_initiatives([initiative_id])

    # --- initiatives (reverse direction) ---------------------------------------------------------

    def initiatives_changed(self) -> None:
        """Rebuild the initiative index in the background (the current one is served meanwhile)."""
        self.initiatives.changed()

    # --- rebuild and swap ----------------------------------------------------------------------

    @property
    def rebuilding(self) -> bool:
        return self._rebuild_thread is not None and self._rebuild_thread.is_alive()

    def rebuild(self, *, wait: bool = False, on_done: Callable[[str], None] | None = None) -> bool:
        """Start a full rebuild in the background; ``False`` if one is already running."""
        with self._write:
            if self.rebuilding:
                return False
            self.state.rebuilding = True
            self._rebuild_thread = threading.Thread(target=self._rebuild, args=(on_done,), name="maillage-rebuild",
                                                    daemon=True)
            self._rebuild_thread.start()
        if wait:
            self._rebuild_thread.join()
        return True

    def _rebuild(self, on_done: Callable[[str], None] | None) -> None:
        try:
            watermark = datetime.now(UTC)
            index = ResourceIndex.build(self.store, self.encoder, self.settings.index_dir)
            self._install(index, watermark)
            self.state.last_rebuild_error = None
            log.info("index %s swapped in (%d resources)", index.version, len(index.resources))
            if on_done is not None:
                on_done(index.version)
        except Exception as exc:
            log.exception("index rebuild failed; the current index stays in service")
            self.state.last_rebuild_error = str(exc)
        finally:
            self.state.rebuilding = False

    def reload_model(self) -> str:
        """Serve the registry's current ranker (after a promotion)."""
        rec = self._recommender(self.rec.index)
        with self._write:
            self.rec = rec
        return rec.model_version


def _signature(store: Catalogue) -> str:
    from matcher.indexing import catalogue_signature

    return catalogue_signature(store)
