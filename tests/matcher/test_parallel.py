"""fork_map: the results of a plain loop, in input order, computed in forked workers."""

from __future__ import annotations

import os

import pytest

from matcher.parallel import fork_imap, fork_map


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_results_come_back_in_input_order_from_other_processes() -> None:
    items = list(range(97, 0, -1))
    got = fork_map(_pid_and_square, items, 2, chunksize=5)
    assert [sq for _, sq in got] == [x * x for x in items]
    assert {pid for pid, _ in got} - {os.getpid()}, "no worker process computed anything"


def test_one_worker_or_a_short_list_runs_here() -> None:
    assert {pid for pid, _ in fork_map(_pid_and_square, [1, 2, 3], 1)} == {os.getpid()}
    assert {pid for pid, _ in fork_map(_pid_and_square, [1, 2, 3], 2)} == {os.getpid()}


def test_a_closure_over_loaded_state_is_inherited_not_pickled() -> None:
    table = {n: object() for n in range(10)}  # objects a pickle would copy, a fork inherits
    ids = {n: id(o) for n, o in table.items()}
    got = list(fork_imap(lambda n: id(table[n]) == ids[n], list(range(10)) * 3, 2))
    assert got == [True] * 30


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("sept")
        return x
    with pytest.raises(ValueError, match="sept"):
        fork_map(boom, list(range(20)), 2)


def _blas_threads(_: int) -> int:
    from threadpoolctl import threadpool_info

    return max((lib["num_threads"] for lib in threadpool_info()), default=1)


def test_each_worker_runs_its_numeric_libraries_on_one_thread() -> None:
    assert fork_map(_blas_threads, list(range(8)), 2) == [1] * 8


def test_a_forked_worker_opens_its_own_embedding_cache_connection(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from indexes.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    cache.put("m", "query", ["k0"], np.ones((1, 4), dtype=np.float32))
    parent = id(cache._conn())

    def read(n: int) -> tuple[int, int, bool]:
        cache.put("m", "query", [f"w{n}"], np.full((1, 4), n, dtype=np.float32))
        return os.getpid(), id(cache._conn()), "k0" in cache.get("m", "query", ["k0"], 4)

    got = fork_map(read, list(range(8)), 2)
    assert all(found for _, _, found in got)
    assert all(conn != parent for pid, conn, _ in got if pid != os.getpid())
    assert len(cache.get("m", "query", [f"w{n}" for n in range(8)], 4)) == 8  # the workers' writes landed
