"""A shard's next chunk of texts is encoded while this one is ranked (eval.shards._encoded_ahead)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from eval.shards import ENCODE_CHUNK, _encoded_ahead


def test_the_chunks_come_back_in_order_and_the_same_as_one_at_a_time() -> None:
    texts = [f"projet {i}" for i in range(2 * ENCODE_CHUNK + 5)]
    asked: list[list[str]] = []

    def encode(chunk: list[str]) -> np.ndarray:
        asked.append(chunk)
        return np.array([[float(t.split()[1])] for t in chunk], dtype=np.float32)

    got = list(_encoded_ahead(encode, texts))
    assert [len(v) for v in got] == [ENCODE_CHUNK, ENCODE_CHUNK, 5]
    np.testing.assert_array_equal(np.vstack(got)[:, 0], np.arange(len(texts)))
    assert asked == [texts[s : s + ENCODE_CHUNK] for s in range(0, len(texts), ENCODE_CHUNK)]
    assert list(_encoded_ahead(encode, [])) == []


def test_the_next_chunk_is_encoded_while_the_caller_works_on_this_one() -> None:
    texts = [f"projet {i}" for i in range(3 * ENCODE_CHUNK)]
    second_started = threading.Event()

    def encode(chunk: list[str]) -> np.ndarray:
        if chunk[0] == texts[ENCODE_CHUNK]:
            second_started.set()
        return np.zeros((len(chunk), 2), dtype=np.float32)

    chunks = _encoded_ahead(encode, texts)
    next(chunks)  # the caller holds the first chunk and has not asked for the second
    assert second_started.wait(5.0)
    assert len(list(chunks)) == 2


def test_a_failing_encode_reaches_the_caller() -> None:
    def encode(chunk: list[str]) -> np.ndarray:
        if chunk[0].endswith(str(ENCODE_CHUNK)):
            raise RuntimeError("encodeur en panne")
        return np.zeros((len(chunk), 2), dtype=np.float32)

    chunks = _encoded_ahead(encode, [f"projet {i}" for i in range(2 * ENCODE_CHUNK)])
    next(chunks)
    with pytest.raises(RuntimeError, match="encodeur en panne"):
        next(chunks)
