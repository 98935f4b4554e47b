"""A deadline and cancel flag for one unit of work, checked by the pipeline between its stages.

The service gives each admitted match a :class:`Deadline` (its time budget, and a flag it sets when
the client goes away or the request is abandoned) and binds it to the worker thread with
:func:`bound`; :meth:`matcher.recommender.Recommender.recommend` calls :func:`checkpoint` before
encoding, after retrieval and before explanations, so abandoned work stops at the next stage instead
of running to its end. Outside a :func:`bound` block :func:`checkpoint` does nothing: training,
evaluation and the CLI are never cut short. The ranking itself is untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Deadline", "DeadlineExceeded", "bound", "checkpoint", "current"]


class DeadlineExceeded(Exception):
    """The work was stopped at a checkpoint: its deadline passed or it was cancelled (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Deadline:
    """``at``: a :func:`time.monotonic` instant after which the work must stop (``None``: no time
    limit, only cancellation). Thread-safe: the event loop cancels, a worker thread checks."""

    def __init__(self, at: float | None = None) -> None:
        self.at = at
        self._cancelled = threading.Event()
        self._reason = ""

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._cancelled.is_set():
            self._reason = reason
            self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        """Seconds left (``inf`` without a time limit, 0 once cancelled or past)."""
        if self.cancelled:
            return 0.0
        return float("inf") if self.at is None else max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` when cancelled or past the deadline."""
        if self.cancelled:
            raise DeadlineExceeded(self._reason)
        if self.at is not None and time.monotonic() >= self.at:
            raise DeadlineExceeded("deadline")


_current: ContextVar[Deadline | None] = ContextVar("maillage_deadline", default=None)


def current() -> Deadline | None:
    """The deadline bound to this context, if any."""
    return _current.get()


@contextmanager
def bound(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Bind ``deadline`` to this context (this thread) for the block; ``None`` lifts any deadline
    (work that must finish once started, such as the answer to a write already committed)."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def checkpoint() -> None:
    """Stop here (:class:`DeadlineExceeded`) if the bound deadline passed or was cancelled."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()
