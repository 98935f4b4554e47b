"""Indexes built off the request path: a request never waits for an index to be built.

:class:`BackgroundIndex` holds one index that the service needs besides the resource index (the
reverse view's initiative index): built at start-up, rebuilt in a background thread after the
catalogue changes, the previous one served meanwhile. A request that arrives before the first build
has finished (or after it failed) gets :class:`IndexNotReady`, which the faces answer 503 with
``Retry-After`` and a French message (JSON for the API, a page in the console), never a 504.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BackgroundIndex", "IndexNotReady", "not_ready_message"]

log = logging.getLogger("maillage.engine")

T = TypeVar("T")

_RETRY_FAILED_S = 30.0  # a failed build (a database error, say) is tried again this long after


class IndexNotReady(Exception):
    """The index a request needs is still being built: ``retry_after`` seconds is a fair wait."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"{what} is being built; retry in {retry_after} s")
        self.what, self.retry_after = what, retry_after


_FRENCH = {"initiative index": "l'index des initiatives"}


def not_ready_message(exc: IndexNotReady) -> str:
    """What staff and API clients read (French): what is being built and how long to wait."""
    what = _FRENCH.get(exc.what, exc.what)
    return (f"{what[0].upper()}{what[1:]} est en cours de construction (démarrage du service) ; "
            f"réessayez dans {exc.retry_after} s")


class BackgroundIndex(Generic[T]):
    """One index, built by ``build`` in a thread of its own (see the module docstring). ``what`` names
    it in logs and errors."""

    def __init__(self, build: Callable[[], T], what: str) -> None:
        self._build, self.what = build, what
        self._current: T | None = None
        self._wanted = threading.Event()  # a (re)build is wanted
        self._built = threading.Event()  # a first build finished (well or not)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.building = False
        self.last_error: str | None = None
        self.last_build_s = 1.0
        self._started_at = 0.0
        self._generation = 0  # bumped by discard(): a build begun before it is not published

    def start(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Start the builder thread with a first build; ``wait``: return once that build is done."""
        self._wanted.set()
        self._thread = threading.Thread(target=self._loop, name=f"maillage-{self.what}", daemon=True)
        self._thread.start()
        if wait:
            self._built.wait(timeout)

    def get(self) -> T:
        """The latest index built; :class:`IndexNotReady` while there is none yet."""
        current = self._current
        if current is None:
            raise IndexNotReady(self.what, self.retry_after())
        return current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def changed(self) -> None:
        """The data behind the index changed: rebuild it in the background (the current one is served
        meanwhile; several changes during a build make one more build)."""
        self._wanted.set()

    def discard(self) -> None:
        """The index holds data that must not be served any more (an erased initiative): stop serving
        it now (requests get :class:`IndexNotReady` until the rebuild) and rebuild; a build already
        running read the old data, so its result is dropped."""
        self._generation += 1
        self._current = None
        self._wanted.set()

    def retry_after(self) -> int:
        """Seconds a request refused now should wait: what is left of a build of the last one's length."""
        left = self.last_build_s - (time.monotonic() - self._started_at) if self.building else self.last_build_s
        return max(1, min(60, math.ceil(left)))

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wanted.wait(_RETRY_FAILED_S if self.last_error else None) and not self.last_error:
                continue
            if self._stop.is_set():
                return
            self._wanted.clear()  # a change during the build sets it again: one more build
            self._run_once()

    def _run_once(self) -> None:
        self.building, self._started_at = True, time.monotonic()
        generation = self._generation
        try:
            index = self._build()
        except Exception as exc:  # the previous index (if any) stays served; retried later
            log.exception("%s: build failed; the previous one stays in service", self.what)
            self.last_error = str(exc) or type(exc).__name__
        else:
            if generation != self._generation:  # discarded while building: the next build publishes
                return
            self._current, self.last_error = index, None
            self.last_build_s = time.monotonic() - self._started_at
            log.info("%s built in %.1f s", self.what, self.last_build_s)
        finally:
            self.building = False
            self._built.set()
