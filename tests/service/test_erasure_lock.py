"""Masking erased rows out of the served history: the copy is made before reads are held back."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np

from matcher.history import History
from service.engine_erasure import ErasureMixin
from service.locks import RWLock


def _history(ids: list[str]) -> History:
    vectors = np.eye(len(ids), 4, dtype=np.float32)
    return History(ids, vectors, [frozenset({"r"}) for _ in ids])


def test_the_copy_without_the_erased_rows_is_made_while_reads_go_on() -> None:
    lock = RWLock()
    served = _history(["a", "b", "c"])
    engine = SimpleNamespace(lock=lock, rec=SimpleNamespace(index=SimpleNamespace(history=served)))
    read_during_copy = threading.Event()
    copy = served.without

    def without(ids: set[str]) -> History:
        def reader() -> None:
            with lock.read():
                read_during_copy.set()
        t = threading.Thread(target=reader)
        t.start()
        t.join(5.0)
        return copy(ids)

    served.without = without  # type: ignore[method-assign]
    ErasureMixin._mask_history(engine, served, {"b"})  # type: ignore[arg-type]
    assert read_during_copy.is_set()  # a request could read while the copy was made
    assert engine.rec.index.history.initiative_ids == ["a", "c"]


def test_a_history_installed_meanwhile_is_the_one_masked() -> None:
    old, new = _history(["a", "b"]), _history(["a", "b", "d"])
    engine = SimpleNamespace(lock=RWLock(), rec=SimpleNamespace(index=SimpleNamespace(history=new)))
    ErasureMixin._mask_history(engine, old, {"b"})  # type: ignore[arg-type]
    assert engine.rec.index.history.initiative_ids == ["a", "d"]  # not the old history, pruned
