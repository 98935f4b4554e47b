"""Admission control: how much matching work runs at once, for whom, and what is refused.

A match is CPU work (reading the text, encoding it, ranking, explaining); a flood of long texts from
one key used to fill every thread, so that nobody else — not even ``/healthz`` — was answered, and
abandoned requests ran on for minutes. Each match now goes through one :class:`Admission` per worker:

- **Cost**: a request costs ``1 + len(text) // chars_per_unit`` units (a 20,000-character text 21 at
  the default 1,000), at most one key's share.
- **Bounds**: at most ``workers`` matches run at once (the size of the thread pool they run in, so
  no thread ever waits there) and at most ``units`` cost units overall.
- **A key's share**: the units a key has running or queued stay within ``key_units``; beyond, the
  request is answered 429 ``key_busy`` with ``Retry-After`` at once.
- **A bounded queue**: what does not fit waits, first come first served, in a queue of at most
  ``queue`` requests; a full queue answers 503 ``overloaded`` with ``Retry-After``. A request still
  queued after ``queue_timeout_s`` or at its deadline is answered 503 and never started.
- **Cancellation**: each request carries a :class:`matcher.deadline.Deadline` (the guard's timeout,
  less a margin so the answer is a 503 before the guard's 504). It is cancelled when the client goes
  away or the request is abandoned; the pipeline checks it between stages, so abandoned work stops at
  the next stage, and its units are given back only when its thread is really free.

The probes (``/healthz``, ``/readyz``) and other routes do not go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from matcher.deadline import Deadline, DeadlineExceeded, bound
from service.guard import ApiError, ErrorBody, Metrics, Receive

if TYPE_CHECKING:
    from service.settings import Settings

__all__ = ["ADMITTED_PATHS", "SHED", "Admission", "admitted", "key_id_of", "request_deadline"]

T = TypeVar("T")

_SHED_MESSAGE = "le service est surchargé ; réessayez dans {s} s"
_KEY_BUSY_MESSAGE = "trop de demandes en cours pour cette clé ; réessayez dans {s} s"

ADMITTED_PATHS = re.compile(r"^/v1/(match|initiatives/[^/]+/match|resources/[^/]+/initiatives|widget/initiatives)$")
"""The paths whose work goes through admission control (see :func:`admitted` in their routes)."""


def key_id_of(headers: dict[str, str]) -> str | None:
    """The key id a request's token names (``mk_<kind>_<id>_<secret>``, as :meth:`KeyStore.authenticate`
    reads it), unverified: used only to refuse early a key whose share is already full."""
    auth = headers.get("authorization", "")
    token = auth[7:] if auth[:7].lower() == "bearer " else headers.get("x-api-key", "")
    parts = token.strip().split("_", 3)
    return parts[2] if len(parts) == 4 and parts[0] == "mk" else None


@dataclass(eq=False)
class _Ticket:
    """One request through the gate: its key, cost and deadline; ``granted`` once it may run."""

    key: str
    cost: int
    deadline: Deadline
    granted: asyncio.Future[None] | None = None
    started: float = field(default=0.0)


class Admission:
    """The gate of one worker (see the module docstring). Its state is touched only on the event loop;
    worker threads hand their completion back with ``call_soon_threadsafe``."""

    def __init__(self, *, workers: int, units: int, key_units: int, queue: int, queue_timeout_s: float,
                 chars_per_unit: int, metrics: Metrics) -> None:
        self.workers, self.units, self.key_units = workers, units, min(key_units, units)
        self.queue_max, self.queue_timeout_s, self.chars_per_unit = queue, queue_timeout_s, chars_per_unit
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="maillage-match")
        self.running = 0
        self.used = 0
        self.per_key: dict[str, int] = {}
        self.queue: deque[_Ticket] = deque()
        self.seconds_per_unit = 0.05  # running mean of the time one unit takes, for Retry-After

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> Admission:
        return cls(workers=settings.admission_workers, units=settings.admission_units,
                   key_units=settings.admission_key_units, queue=settings.admission_queue,
                   queue_timeout_s=settings.admission_queue_timeout_s,
                   chars_per_unit=settings.admission_chars_per_unit, metrics=metrics)

    def cost(self, chars: int) -> int:
        """Cost units of a request reading ``chars`` characters of text (1 for none)."""
        return min(self.key_units, 1 + max(0, chars) // self.chars_per_unit)

    def close(self) -> None:
        for ticket in self.queue:
            ticket.deadline.cancel("shutdown")
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, key: str, cost: int, work: Callable[[], T], *, deadline: Deadline,
                  receive: Receive | None = None, interruptible: bool = True,
                  before: Callable[[], Awaitable[object]] | None = None) -> T:
        """Run ``work`` in the pool once admitted, under ``deadline``; raises :class:`ApiError` 429 or
        503 when shed. ``receive`` (the request's) is watched so that a client gone cancels the work.
        ``interruptible=False``: the deadline only decides whether the work starts; once started it
        runs to its end (a write whose answer must not be lost). ``before``: awaited on the event loop
        once admitted, before ``work`` takes a thread (the batched encode of the request's text: the
        request holds its units but no thread while it waits for its batch)."""
        ticket = self._admit(key, min(cost, self.key_units), deadline)
        watch = asyncio.ensure_future(self._watch(receive, ticket)) if receive is not None else None
        try:
            await self._wait(ticket)
            if before is not None:
                await self._before(ticket, before)
            return await self._execute(ticket, work, interruptible)
        finally:
            if watch is not None:
                watch.cancel()
            if ticket.started <= 0:  # never reached a thread: nothing will hand its units back
                self._forget(ticket)

    def refuse_early(self, path: str, headers: dict[str, str]) -> ApiError | None:
        """The 429 of a request to an admitted path whose key's share is full, decided from its headers
        alone (the guard asks before reading the body): a flood's refusals then cost almost nothing —
        no body read, no thread. The key is not authenticated yet; a forged token naming a busy key
        only gets its sender the 429 the key's own requests get."""
        if not ADMITTED_PATHS.match(path):
            return None
        key = key_id_of(headers)
        held = self.per_key.get(key, 0) if key is not None else 0
        return self._key_busy(held) if held >= self.key_units else None

    # --- the gate ----------------------------------------------------------------------------------

    def _admit(self, key: str, cost: int, deadline: Deadline) -> _Ticket:
        held = self.per_key.get(key, 0)
        if held + cost > self.key_units:
            raise self._key_busy(held)
        ticket = _Ticket(key, cost, deadline)
        if not self.queue and self._fits(cost):
            self._grant(ticket)
        elif len(self.queue) >= self.queue_max:
            self._shed("queue_full")
            raise self._overloaded()
        else:
            ticket.granted = asyncio.get_running_loop().create_future()
            self.queue.append(ticket)
            self.metrics.admission_queued.set(len(self.queue))
        self.per_key[key] = held + cost
        return ticket

    def _fits(self, cost: int) -> bool:
        return self.running < self.workers and self.used + cost <= self.units

    def _grant(self, ticket: _Ticket) -> None:
        self.running += 1
        self.used += ticket.cost
        ticket.started = -1.0  # granted, not yet started
        self.metrics.admission_in_flight.set(self.running)
        self.metrics.admission_units.set(self.used)

    def _pump(self) -> None:
        """Grant the queue's head while it fits (first come, first served)."""
        while self.queue and self._fits(self.queue[0].cost):
            ticket = self.queue.popleft()
            self._grant(ticket)
            if ticket.granted is not None and not ticket.granted.done():
                ticket.granted.set_result(None)
        self.metrics.admission_queued.set(len(self.queue))

    async def _wait(self, ticket: _Ticket) -> None:
        """Until granted; 503 (never started) when the queue wait or the deadline runs out first."""
        if ticket.granted is not None:
            limit = min(self.queue_timeout_s, ticket.deadline.remaining())
            await asyncio.wait([ticket.granted], timeout=limit)
            if not ticket.granted.done() or ticket.granted.exception() is not None:
                self._shed("client_gone" if ticket.deadline.cancelled else "queue_timeout")
                raise self._overloaded()
        if ticket.deadline.expired:  # granted too late: the client has stopped waiting
            self._shed("deadline")
            raise self._overloaded()

    async def _before(self, ticket: _Ticket, before: Callable[[], Awaitable[object]]) -> None:
        """``before()`` within the ticket's deadline; 503 (the work never started) when it runs out."""
        left = ticket.deadline.remaining()
        try:
            await asyncio.wait_for(before(), timeout=None if math.isinf(left) else left)
        except TimeoutError:
            ticket.deadline.cancel("deadline")
            self._shed("deadline")
            raise self._overloaded() from None
        if ticket.deadline.expired:
            self._shed("client_gone" if ticket.deadline.cancelled else "deadline")
            raise self._overloaded()

    async def _execute(self, ticket: _Ticket, work: Callable[[], T], interruptible: bool) -> T:
        loop = asyncio.get_running_loop()
        done: Future[T] = self.pool.submit(_bounded, ticket.deadline, work, interruptible)
        ticket.started = time.monotonic()
        done.add_done_callback(lambda _: _call_soon(loop, self._finished, ticket))
        result = asyncio.wrap_future(done)
        result.add_done_callback(_retrieved)
        left = ticket.deadline.remaining() if interruptible else math.inf
        try:
            return await asyncio.wait_for(asyncio.shield(result), timeout=None if math.isinf(left) else left)
        except TimeoutError:
            ticket.deadline.cancel("deadline")  # the thread stops at its next checkpoint
            self._shed("deadline")
            raise self._overloaded() from None
        except DeadlineExceeded as exc:
            self._shed("client_gone" if exc.reason == "client_gone" else "deadline")
            raise self._overloaded() from None
        except asyncio.CancelledError:  # abandoned (the guard's timeout): stop the thread as well
            ticket.deadline.cancel("abandoned")
            self._shed("abandoned")
            raise

    def _finished(self, ticket: _Ticket) -> None:
        """A thread is free again: give back its units and grant what now fits."""
        elapsed = time.monotonic() - ticket.started
        self.seconds_per_unit = 0.8 * self.seconds_per_unit + 0.2 * elapsed / ticket.cost
        self.running -= 1
        self.used -= ticket.cost
        self._release_key(ticket)
        self.metrics.admission_in_flight.set(self.running)
        self.metrics.admission_units.set(self.used)
        self._pump()

    def _forget(self, ticket: _Ticket) -> None:
        """A request that leaves without having run: out of the queue, or its grant given back."""
        if ticket in self.queue:
            self.queue.remove(ticket)
            self.metrics.admission_queued.set(len(self.queue))
        elif ticket.started == -1.0:
            self.running -= 1
            self.used -= ticket.cost
            self.metrics.admission_in_flight.set(self.running)
            self.metrics.admission_units.set(self.used)
        self._release_key(ticket)
        self._pump()

    def _release_key(self, ticket: _Ticket) -> None:
        left = self.per_key.get(ticket.key, 0) - ticket.cost
        if left > 0:
            self.per_key[ticket.key] = left
        else:
            self.per_key.pop(ticket.key, None)

    async def _watch(self, receive: Receive, ticket: _Ticket) -> None:
        """Cancel the ticket's work when the client disconnects (the body is already read)."""
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:  # a transport that cannot say: no watch, the deadline still holds
            return
        ticket.deadline.cancel("client_gone")
        if ticket.granted is not None and not ticket.granted.done():
            ticket.granted.set_exception(DeadlineExceeded("client_gone"))

    # --- answers -----------------------------------------------------------------------------------

    def _shed(self, reason: str) -> None:
        self.metrics.admission_shed.labels(reason).inc()

    def _key_busy(self, held: int) -> ApiError:
        self._shed("key_share")
        wait = self._retry_after(held)
        return ApiError(429, "key_busy", _KEY_BUSY_MESSAGE.format(s=wait), headers={"Retry-After": str(wait)})

    def _retry_after(self, units: int) -> int:
        return max(1, min(60, math.ceil(self.seconds_per_unit * max(1, units))))

    def _overloaded(self) -> ApiError:
        queued = sum(t.cost for t in self.queue)
        wait = self._retry_after(math.ceil((self.used + queued) / self.workers))
        return ApiError(503, "overloaded", _SHED_MESSAGE.format(s=wait), headers={"Retry-After": str(wait)})


def _bounded(deadline: Deadline, work: Callable[[], T], interruptible: bool) -> T:
    """``work`` in a pool thread, under ``deadline`` (never started if it already passed)."""
    deadline.check()
    with bound(deadline if interruptible else None):
        return work()


def _retrieved(result: asyncio.Future[Any]) -> None:
    """Mark a thread's outcome as read: when nobody awaits it any more (shed, abandoned), asyncio would
    log its ``DeadlineExceeded`` as an exception never retrieved."""
    if not result.cancelled():
        result.exception()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[_Ticket], None], ticket: _Ticket) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop (shutdown): nothing is waiting any more
        loop.call_soon_threadsafe(callback, ticket)


def request_deadline(state: dict[str, object], timeout_s: float) -> Deadline:
    """The deadline of a request: the guard's timeout (``state["deadline_at"]``, set by the guard)
    less a margin of a tenth of it (at most 1 s), so that a shed request gets its 503 before the 504."""
    at = state.get("deadline_at")
    end = at if isinstance(at, float) else time.monotonic() + timeout_s
    return Deadline(end - min(1.0, timeout_s / 10))


async def admitted(request: Request, key: str, chars: int, work: Callable[[], T], *,
                   interruptible: bool = True, before: Callable[[], Awaitable[object]] | None = None) -> T:
    """``work`` run by the app's :class:`Admission` for ``key``, at the cost of ``chars`` characters of
    text, under the request's deadline, cancelled if its client goes away, after ``before`` (see
    :meth:`Admission.run`)."""
    admission: Admission = request.app.state.admission
    deadline = request_deadline(request.scope.get("state", {}), request.app.state.settings.request_timeout_s)
    return await admission.run(key, admission.cost(chars), work, deadline=deadline, receive=request.receive,
                               interruptible=interruptible, before=before)


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait (when shed by admission control)",
                                "required": False, "schema": {"type": "string"}}}
SHED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "headers": {**_RETRY_AFTER, "Retry-After": {**_RETRY_AFTER["Retry-After"],
                                                                          "required": True}},
          "description": "rate limit, or the key's share of matching in use (`key_busy`); retry after "
                         "`Retry-After` seconds"},
    503: {"model": ErrorBody, "headers": _RETRY_AFTER,
          "description": "the service is starting, the catalogue cannot be reached, or matching is overloaded "
                         "(`overloaded`, with `Retry-After`)"},
}
"""The OpenAPI answers of a route behind admission control."""
