"""Micro-batching of query encodes: texts submitted by concurrent callers are encoded together.

A transformer's forward pass over one short text leaves most of a CPU's matrix units idle (a
``(30, 384)`` activation is too small a matrix product to be efficient); eight such texts in one
forward cost little more than one. :class:`QueryBatcher` owns one thread that takes the texts
submitted since the first one waiting, for at most ``window_s`` (a few milliseconds) or until
``max_batch`` are waiting, sorts them by length and encodes them in groups of similar length (so a
short text is not padded to a long one), then hands each caller its own row.

- **The window bounds the wait**: the window opens when a text arrives at an idle batcher, so a lone
  request waits at most ``window_s`` before its encode starts; texts that arrive while a batch is
  being encoded wait for that batch only, and go together in the next.
- **A failing text fails alone**: when a group's encode raises, its texts are encoded one by one, so
  only the text that fails gets the exception.
- **Shutdown**: :meth:`QueryBatcher.close` refuses new texts (:class:`BatcherClosed`) and encodes every
  text already submitted before the thread stops; a caller never waits on a batcher that is gone.
- **Abandoned texts**: a caller that cancels its future (a request past its deadline) is skipped.

:class:`BatchingEncoder` wraps an :class:`~indexes.Encoder` so that small query encodes go through a
batcher (synchronous callers block on their row); documents and large batches go straight to it.
Async callers use :meth:`QueryBatcher.submit` and wait on the future without holding a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from indexes._base import Encoder

__all__ = ["BatcherClosed", "BatchingEncoder", "QueryBatcher", "length_groups"]

log = logging.getLogger("maillage.batching")

WINDOW_S = 0.003
"""Default window: what a lone request may wait for others (3 ms, against ~10–80 ms of encoding)."""
MAX_BATCH = 16
"""Default largest batch: beyond it the forward pass grows with the batch, there is nothing to gain."""


class BatcherClosed(RuntimeError):
    """The batcher was closed: no new text is taken."""


@dataclass(eq=False)
class _Item:
    text: str
    future: Future[np.ndarray]
    arrived: float = field(default_factory=time.monotonic)


def length_groups(lengths: Sequence[int], *, ratio: float = 1.5, slack: int = 32) -> list[list[int]]:
    """Positions of ``lengths`` in groups of similar length, shortest first: a group holds lengths up
    to ``ratio`` × its shortest plus ``slack`` (characters), so padding wastes little of a forward."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] <= ratio * lengths[groups[-1][0]] + slack:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class QueryBatcher:
    """Encodes the texts of concurrent callers together (see the module docstring).

    ``encode``: ``texts -> (len(texts), d) float32`` (e.g. an encoder's ``encode_queries``), called
    from the batcher's thread only. ``window_s`` ≥ 0, ``max_batch`` ≥ 1."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], *, window_s: float = WINDOW_S,
                 max_batch: int = MAX_BATCH, name: str = "maillage-batcher") -> None:
        if window_s < 0 or window_s > 1:
            raise ValueError(f"window_s must be between 0 and 1 second, got {window_s!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        self._encode, self.window_s, self.max_batch = encode, window_s, max_batch
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0  # how many forward calls, and how many texts they held (for /metrics and tests)
        self.texts = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, text: str) -> Future[np.ndarray]:
        """A future of ``(d,) float32``: the row of ``text`` once its batch is encoded."""
        item = _Item(text, Future())
        with self._cond:
            if self._closed:
                raise BatcherClosed("the query batcher is closed")
            self._queue.append(item)
            self._cond.notify()
        return item.future

    def encode(self, texts: Sequence[str], timeout: float | None = None) -> np.ndarray:
        """``(len(texts), d) float32``, each text batched with whatever else is waiting (blocking)."""
        futures = [self.submit(t) for t in texts]
        return np.vstack([f.result(timeout) for f in futures]) if futures else np.zeros((0, 0), np.float32)

    def close(self, timeout: float | None = 30.0) -> None:
        """Take no new text, encode those already submitted, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the thread ---------------------------------------------------------------------------------

    def _take(self) -> list[_Item] | None:
        """The next batch: wait for a first text, then up to the window (from its arrival) or a full
        batch; ``None`` once closed and drained."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            until = self._queue[0].arrived + self.window_s
            while len(self._queue) < self.max_batch and not self._closed:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            live = [item for item in batch if item.future.set_running_or_notify_cancel()]
            for group in length_groups([len(item.text) for item in live]):
                self._run([live[i] for i in group])

    def _run(self, items: list[_Item]) -> None:
        try:
            vectors = self._encode([item.text for item in items])
            self.batches += 1
            self.texts += len(items)
        except Exception as exc:
            if len(items) == 1:
                items[0].future.set_exception(exc)
                return
            log.warning("a batch of %d queries failed (%s): encoding them one by one", len(items), exc)
            for item in items:
                self._run([item])
            return
        for item, row in zip(items, vectors, strict=True):
            item.future.set_result(np.asarray(row, dtype=np.float32))


class BatchingEncoder:
    """An :class:`~indexes.Encoder` whose small query encodes (at most ``max_batch`` texts) go through
    a :class:`QueryBatcher` over ``encoder``; documents and larger batches go straight to ``encoder``.
    Same ``model_id`` and vectors: batching changes when a text is encoded, not how."""

    def __init__(self, encoder: Encoder, *, window_s: float = WINDOW_S, max_batch: int = MAX_BATCH) -> None:
        self.encoder = encoder
        self.model_id, self.dim = encoder.model_id, encoder.dim
        self.batcher = QueryBatcher(encoder.encode_queries, window_s=window_s, max_batch=max_batch)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts or len(texts) > self.batcher.max_batch:
            return self.encoder.encode_queries(texts)
        try:
            return self.batcher.encode(texts).astype(np.float32, copy=False)
        except BatcherClosed:  # shutting down: the caller still gets its vectors
            return self.encoder.encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)

    def close(self) -> None:
        self.batcher.close()
