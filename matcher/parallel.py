"""Many independent ``recommend`` calls spread over forked worker processes.

Batch jobs (alert detection, the observatory) make thousands of calls of the one pipeline that do not
depend on each other. :func:`fork_map` runs such a function over a list in ``workers`` processes forked
from this one, so that each worker inherits the loaded recommender (index, model, history) instead of
loading it again, and returns the results **in the order of the input**, exactly as the loop in one
process would: the figures do not depend on how many workers computed them.

Fork is used only where the platform has it; elsewhere, or for short lists, the loop runs here. The
function and its results must be picklable (plain data): a worker sends back what it computed.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

__all__ = ["fork_imap", "fork_map"]

T = TypeVar("T")
R = TypeVar("R")

_FN: Callable[[Any], Any] | None = None  # the function a forked worker inherits (set just before the fork)


def _one_thread() -> None:
    threadpool_limits(limits=1)


def _call(item: Any) -> Any:
    assert _FN is not None, "fork_map's function is set before the pool forks"
    return _FN(item)


def _can_fork(n: int, workers: int) -> bool:
    return workers > 1 and n >= 2 * workers and "fork" in mp.get_all_start_methods()


def fork_imap(fn: Callable[[T], R], items: Sequence[T], workers: int, *, chunksize: int | None = None) -> Iterator[R]:
    """``fn`` of every item, in input order, yielded as they come (for a progress bar). ``workers`` <= 1,
    a list shorter than two items per worker, or a platform without fork: a plain loop in this process."""
    if not _can_fork(len(items), workers):
        for item in items:
            yield fn(item)
        return
    global _FN
    _FN = fn
    size = chunksize or max(1, len(items) // (workers * 8))
    try:
        with mp.get_context("fork").Pool(workers, initializer=_one_thread) as pool:
            yield from pool.imap(_call, items, chunksize=size)
    finally:
        _FN = None


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int, *, chunksize: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, computed in ``workers`` forked processes (see :func:`fork_imap`)."""
    return list(fork_imap(fn, items, workers, chunksize=chunksize))
