"""The benchmark's synthetic catalogues, built from the demo (see :mod:`eval.bench` for why): demo
texts, demo vectors plus seeded noise, and the noise norm that keeps items near their source."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matcher.demo_catalogue import demo_dir

__all__ = ["demo_texts", "noise_norm_for", "size_label", "synthetic_catalogue"]


def size_label(n: int) -> str:
    """``1000`` → ``1k``, ``100000`` → ``100k``, ``1500`` → ``1500``."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"demo file {path} is missing: the benchmark builds its catalogues from it")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]


def demo_texts() -> tuple[list[str], list[str], list[str], list[str]]:
    """``(full, short, queries, short_queries)``: demo resources as title + description and as title +
    first sentence; demo initiatives as the pipeline's query text (title, description, themes: what
    ``MatchQuery.from_initiative`` sends) and as title + first sentence (a typed free-text query)."""
    resources = _read_jsonl(demo_dir() / "resources.jsonl")
    initiatives = _read_jsonl(demo_dir() / "initiatives.jsonl")
    full = [f"{r['title']}\n{r['description']}" for r in resources]
    short = [f"{r['title']}. {_first_sentence(r['description'])}" for r in resources]
    queries = ["\n".join(p for p in (i["title"], i["description"], " ".join(i.get("themes") or [])) if p)
               for i in initiatives]
    short_queries = [f"{i['title']}. {_first_sentence(i['description'])}" for i in initiatives]
    return full, short, queries, short_queries


def synthetic_catalogue(
    base: np.ndarray, texts: Sequence[str], n: int, rng: np.random.Generator, noise_norm: float
) -> tuple[list[str], np.ndarray, list[str]]:
    """``n`` items: ``(ids, (n, d) float32 unit vectors, texts)``, each a random row of ``base`` plus
    isotropic Gaussian noise of expected norm ``noise_norm``, renormalised; it keeps its source's text."""
    d = base.shape[1]
    src = rng.integers(0, len(base), n)
    x = base[src] + rng.normal(0.0, noise_norm / np.sqrt(d), (n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return [f"syn-{i:07d}" for i in range(n)], np.ascontiguousarray(x, dtype=np.float32), [texts[s] for s in src]


def noise_norm_for(vectors: np.ndarray) -> float:
    """Half the median distance from each (unit) vector to its nearest other one."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return 0.5 * float(np.median(np.sqrt(np.maximum(2.0 - 2.0 * sims.max(axis=1), 0.0))))
