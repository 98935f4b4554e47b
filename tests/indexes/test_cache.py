from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexes import HashingEncoder
from indexes.cache import CachedEncoder, EmbeddingCache


class CountingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(32)
        self.calls: list[int] = []

    def _encode(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(len(texts))
        return super()._encode(texts)


def test_second_pass_costs_nothing_and_vectors_are_identical(tmp_path: Path) -> None:
    inner = CountingEncoder()
    enc = CachedEncoder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    texts = ["jardin partagé", "atelier vélo", "jardin partagé", "tiers-lieu"]
    first = enc.encode_documents(texts)
    assert inner.calls == [3]  # the duplicate is encoded once
    again = CachedEncoder(inner, EmbeddingCache(tmp_path / "c.sqlite")).encode_documents(texts)
    assert inner.calls == [3]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, HashingEncoder(32).encode_documents(texts), rtol=1e-6)


def test_queries_and_documents_are_cached_apart(tmp_path: Path) -> None:
    inner = CountingEncoder()
    enc = CachedEncoder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    enc.encode_documents(["texte"])
    enc.encode_queries(["texte"])
    assert inner.calls == [1, 1]


def test_forget_removes_every_copy(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    enc = CachedEncoder(CountingEncoder(), cache)
    enc.encode_documents(["mon projet personnel", "autre"])
    enc.encode_queries(["mon projet personnel"])
    assert cache.forget(["mon projet personnel"]) == 2
    assert len(cache) == 1


def test_a_damaged_row_is_re_encoded(tmp_path: Path) -> None:
    inner = CountingEncoder()
    enc = CachedEncoder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    enc.encode_documents(["abc"])
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        conn.execute("UPDATE embeddings SET vector = substr(vector, 1, 10)")
    out = enc.encode_documents(["abc"])
    assert inner.calls == [1, 1] and out.shape == (1, 32)


def test_a_garbage_cache_file_is_moved_aside_and_an_empty_cache_started(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database, it is garbage " * 200)
    with caplog.at_level("WARNING", logger="maillage.indexes"):
        cache = EmbeddingCache(path)
    assert len(cache) == 0
    assert cache.moved_aside is not None and cache.moved_aside.name.startswith("c.sqlite.corrupt-")
    assert cache.moved_aside.read_bytes().startswith(b"this is not a database")  # kept for a look, not lost
    assert "moved aside" in caplog.text
    enc = CachedEncoder(HashingEncoder(16), cache)
    enc.encode_documents(["un texte"])
    assert len(EmbeddingCache(path)) == 1  # the new cache works and persists
