"""The pipeline gives today what it gave when ``tests/fixtures/pool/`` was written: same candidate
pools (ids, order, scores, feature values, checks), same lists (matches, reasons, excluded, staff
overrides), with the prior, a saved learned ranker, retrieval-only, and in the reverse direction.

A stored fixture rather than a second copy of the pipeline: a refactoring cannot change both sides at
once. Regenerate it (``scripts/make_pool_fixture.py``) only when behaviour is meant to change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pool_fixture import FIXTURE, build_demo, read, snapshot


@pytest.fixture(scope="module")
def recorded_and_now(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    recorded = read()
    rec, store, queries = build_demo(tmp_path_factory.mktemp("fixture"))
    now = json.loads(json.dumps(snapshot(rec, store, queries, FIXTURE / "ranker"), ensure_ascii=False))
    store.close()
    yield recorded, now


def test_fixture_covers_every_kind_of_case(recorded_and_now: tuple[dict[str, Any], dict[str, Any]]) -> None:
    recorded, _ = recorded_and_now
    kinds = {name.rsplit("/", 1)[-1] if not name.startswith("reverse/") else "reverse" for name in recorded["cases"]}
    assert {"pool", "recommend", "exclude", "before", "both", "overrides", "noexplain", "reverse"} <= kinds
    learned = [c for n, c in recorded["cases"].items() if n.startswith("learned/") and n.endswith("/pool")]
    prior = [c for n, c in recorded["cases"].items() if n.startswith("prior/") and n.endswith("/pool")]
    assert any(a["ids"][:10] != b["ids"][:10] for a, b in zip(learned, prior, strict=True))  # the ranker matters


def test_same_cases(recorded_and_now: tuple[dict[str, Any], dict[str, Any]]) -> None:
    recorded, now = recorded_and_now
    assert sorted(now["cases"]) == sorted(recorded["cases"])


@pytest.mark.parametrize("family", ["prior", "learned", "rrf", "reverse"])
def test_same_lists_and_features(recorded_and_now: tuple[dict[str, Any], dict[str, Any]], family: str) -> None:
    recorded, now = recorded_and_now
    names = [n for n in recorded["cases"] if n.startswith(family + "/")]
    assert names
    for name in names:
        assert now["cases"][name] == recorded["cases"][name], name


