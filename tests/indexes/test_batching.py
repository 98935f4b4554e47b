"""The query batcher: answers in order, a failing text fails alone, the window bounds a lone text's wait,
shutdown with texts in flight, and the encoder wrapper gives the same vectors."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexes import HashingEncoder
from indexes.batching import BatcherClosed, BatchingEncoder, QueryBatcher, length_groups


class Recording:
    """The hashing encoder's queries, recording each call's texts; ``gate`` holds calls until set."""

    def __init__(self, *, fail_on: str | None = None, delay: float = 0.0) -> None:
        self.inner = HashingEncoder(64)
        self.calls: list[list[str]] = []
        self.fail_on, self.delay = fail_on, delay
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.gate.wait(10)
        self.calls.append(list(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot encode {self.fail_on!r}")
        time.sleep(self.delay)
        return self.inner.encode_queries(texts)


def test_concurrent_texts_are_encoded_together_and_each_gets_its_own_row() -> None:
    enc = Recording()
    enc.gate.clear()  # hold the first call so that the others pile up
    batcher = QueryBatcher(enc, window_s=0.05, max_batch=64)
    texts = [f"jardin partagé numéro {i} " + "compost " * (i % 5) for i in range(40)]
    futures = [batcher.submit(t) for t in texts]
    enc.gate.set()
    rows = np.vstack([f.result(10) for f in futures])
    np.testing.assert_allclose(rows, enc.inner.encode_queries(texts), rtol=0, atol=1e-6)  # order kept
    assert len(enc.calls) < len(texts)  # batched: fewer forward calls than texts
    assert sorted(t for call in enc.calls for t in call) == sorted(texts)  # each text encoded once
    batcher.close()


def test_groups_hold_texts_of_similar_length() -> None:
    lengths = [10, 300, 12, 310, 14, 900]
    groups = length_groups(lengths, ratio=1.5, slack=8)
    assert groups == [[0, 2, 4], [1, 3], [5]]
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))


def test_a_failing_text_fails_alone() -> None:
    enc = Recording(fail_on="texte maudit")
    enc.gate.clear()
    batcher = QueryBatcher(enc, window_s=0.05, max_batch=16)
    good = [batcher.submit(f"recyclerie {i}") for i in range(5)]
    bad = batcher.submit("texte maudit")
    enc.gate.set()
    with pytest.raises(ValueError, match="texte maudit"):
        bad.result(10)
    for i, f in enumerate(good):
        np.testing.assert_allclose(f.result(10), enc.inner.encode_queries([f"recyclerie {i}"])[0], atol=1e-6)
    batcher.close()


def test_a_lone_text_waits_at_most_the_window() -> None:
    window = 0.2
    enc = Recording()
    batcher = QueryBatcher(enc, window_s=window, max_batch=16)
    batcher.submit("échauffement").result(10)
    start = time.monotonic()
    batcher.submit("tiers-lieu rural").result(10)
    waited = time.monotonic() - start
    assert window * 0.9 <= waited < window + 1.0  # the window passes once, then the encode runs
    zero = QueryBatcher(enc, window_s=0.0, max_batch=16)
    start = time.monotonic()
    zero.submit("tiers-lieu rural").result(10)
    assert time.monotonic() - start < window  # without a window, no wait for others
    batcher.close()
    zero.close()


def test_a_full_batch_does_not_wait_for_the_window() -> None:
    enc = Recording()
    batcher = QueryBatcher(enc, window_s=1.0, max_batch=4)
    start = time.monotonic()
    futures = [batcher.submit(f"atelier vélo {i}") for i in range(4)]
    for f in futures:
        f.result(10)
    assert time.monotonic() - start < 0.9  # the window (1 s) did not pass
    batcher.close()


def test_shutdown_answers_texts_in_flight_then_refuses_new_ones() -> None:
    enc = Recording(delay=0.05)
    enc.gate.clear()
    batcher = QueryBatcher(enc, window_s=0.01, max_batch=2)
    futures = [batcher.submit(f"épicerie solidaire {i}") for i in range(7)]
    closing = threading.Thread(target=batcher.close)
    closing.start()
    enc.gate.set()
    closing.join(10)
    assert not closing.is_alive()
    assert all(f.done() and f.exception() is None for f in futures)  # every text in flight answered
    with pytest.raises(BatcherClosed):
        batcher.submit("trop tard")


def test_a_cancelled_text_is_not_encoded() -> None:
    enc = Recording()
    enc.gate.clear()
    batcher = QueryBatcher(enc, window_s=0.05, max_batch=16)
    first = batcher.submit("premier")  # taken at once, held at the gate
    time.sleep(0.1)
    abandoned = batcher.submit("abandonné")
    kept = batcher.submit("gardé")
    assert abandoned.cancel()
    enc.gate.set()
    first.result(10)
    kept.result(10)
    assert "abandonné" not in [t for call in enc.calls for t in call]
    batcher.close()


def test_the_wrapper_gives_the_same_vectors_from_many_threads() -> None:
    inner = HashingEncoder(64)
    wrapped = BatchingEncoder(inner, window_s=0.01, max_batch=8)
    texts = [f"mobilité solidaire {i}" for i in range(30)]
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda t: wrapped.encode_queries([t])[0], texts))
    np.testing.assert_allclose(np.vstack(rows), inner.encode_queries(texts), atol=1e-6)
    assert wrapped.batcher.batches < len(texts)
    many = [f"texte {i}" for i in range(20)]  # larger than a batch: straight to the encoder
    np.testing.assert_allclose(wrapped.encode_queries(many), inner.encode_queries(many), atol=1e-6)
    wrapped.close()
    np.testing.assert_allclose(wrapped.encode_queries(texts[:2]), inner.encode_queries(texts[:2]), atol=1e-6)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        QueryBatcher(HashingEncoder(8).encode_queries, max_batch=0)
    with pytest.raises(ValueError, match="window_s"):
        QueryBatcher(HashingEncoder(8).encode_queries, window_s=-1)
