"""Supervised models of past partnerships: which resources projects like this one obtained.

The kNN votes of :mod:`matcher.history` ask "what did the most similar past projects obtain"; these
models ask the discriminative question instead: what sets apart the projects each resource supported
from all the others. One logistic regression per resource, probabilities normalised over the
resources the model knows, on two views of a project:

- :class:`TextClassifier`: its words (TF-IDF over words and word pairs), feature ``text_clf``;
- :class:`VectorClassifier`: its embedding (the history's query vectors), feature ``vector_clf``.

Both are strongest where a resource has a long history and silent (0) for a resource without one.
Saved without pickle: arrays as ``.npy`` (coefficients in float16), vocabulary and parameters as
JSON, so a snapshot loads on any scikit-learn version. scikit-learn fits; scoring needs neither it nor
SciPy (:mod:`matcher.tfidf` computes the fitted vectorizer's ``transform``, bit for bit), so a one-off
``maillage match`` does not pay their 1.4 s import.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.tfidf import TfidfTransform

__all__ = ["TextClassifier", "TextClassifierConfig", "VectorClassifier", "VectorClassifierConfig"]

_FORMAT = 1
SAMPLE_ROWS_FROM = 100_000
"""Rows past which each resource's regression samples the projects that did not obtain it."""
NEGATIVES_PER_POSITIVE = 20
MIN_NEGATIVES = 5_000


@dataclass(frozen=True)
class TextClassifierConfig:
    C: float = 4.0
    """Inverse L2 strength of each logistic regression."""
    max_features: int = 50_000
    """Vocabulary cap (words and word pairs by frequency)."""
    min_df: int = 2
    """A term must appear in this many past projects (hapaxes only memorise)."""
    min_positives: int = 2
    """A resource needs this many past partnerships to get its own model."""
    max_weights: int = 20_000_000
    """Cap on resources × vocabulary: the vocabulary shrinks for a catalogue with many resources."""
    seed: int = 0


@dataclass(frozen=True)
class VectorClassifierConfig:
    C: float = 10.0
    """Inverse L2 strength of each logistic regression (embeddings need a weaker penalty than words)."""
    min_positives: int = 2
    """A resource needs this many past partnerships to get its own model."""
    seed: int = 0


def _classes(labels: Sequence[frozenset[str]], min_positives: int) -> list[str]:
    """Resources with enough positives to learn from (and not every row: a constant says nothing)."""
    from collections import Counter

    counts = Counter(r for rs in labels for r in rs)
    return sorted(r for r, n in counts.items() if n >= min_positives and n < len(labels))


def _rows_of(labels: Sequence[frozenset[str]], classes: list[str]) -> dict[str, np.ndarray]:
    """The rows (projects) each class (resource) obtained, read once for every class."""
    wanted = set(classes)
    rows: dict[str, list[int]] = {c: [] for c in classes}
    for r, rs in enumerate(labels):
        for c in rs:
            if c in wanted:
                rows[c].append(r)
    return {c: np.asarray(v, dtype=np.int64) for c, v in rows.items()}


def _sampled_rows(n: int, positives: np.ndarray, rid: str, seed: int) -> tuple[np.ndarray, float]:
    """``(rows, rate)``: the positive rows and a seeded sample of the others (:data:`NEGATIVES_PER_POSITIVE`
    per positive, at least :data:`MIN_NEGATIVES`), sorted, and the share of the negatives sampled."""
    negatives = n - positives.size
    m = min(negatives, max(MIN_NEGATIVES, NEGATIVES_PER_POSITIVE * positives.size))
    rng = np.random.default_rng([seed, zlib.crc32(rid.encode("utf-8"))])
    drawn = rng.choice(n, size=min(n, m + positives.size), replace=False)
    drawn = drawn[~np.isin(drawn, positives)][:m]
    return np.sort(np.concatenate([positives, drawn])), m / max(1, negatives)


def _one_vs_rest(X: Any, labels: Sequence[frozenset[str]], classes: list[str], C: float, seed: int,
                 *, dual: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(coef (len(classes), p) float32, intercept (len(classes),) float32)``, one regression per class.

    Past :data:`SAMPLE_ROWS_FROM` rows, each regression is fitted on its class's positives and a seeded
    sample of the other rows, each sampled row weighted by the inverse of the sampling rate (the
    weighting of case-control sampling, King & Zeng 2001): the loss is that of every row in
    expectation, so the penalty ``C`` and the probabilities keep their meaning. One regression then
    reads some thousands of rows instead of every row (a million rows × thousands of resources would
    take days on two cores). Below it (every data set evaluated so far), every row is used, as before."""
    from sklearn.linear_model import LogisticRegression

    n = len(labels)
    coef = np.zeros((len(classes), X.shape[1]), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    for j, (rid, positives) in enumerate(_rows_of(labels, classes).items()):
        rows, rate = (None, 1.0) if n <= SAMPLE_ROWS_FROM else _sampled_rows(n, positives, rid, seed)
        y = np.zeros(n, dtype=bool)
        y[positives] = True
        # Dual liblinear is fast when features outnumber rows (words); lbfgs for dense embeddings.
        lr = (LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=1000, random_state=seed)
              if dual else LogisticRegression(C=C, max_iter=300, random_state=seed))
        if rows is None:
            lr.fit(X, y)
        else:  # a sampled negative stands for 1 / rate of them: the loss of every row, in expectation
            lr.fit(X[rows], y[rows], sample_weight=np.where(y[rows], 1.0, 1.0 / rate))
        coef[j] = lr.coef_[0]
        intercept[j] = lr.intercept_[0]
    return coef, intercept


def _probabilities(z: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    probabilities: np.ndarray = (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return probabilities


def _scores_of(row: np.ndarray, col: dict[str, int], resource_ids: Sequence[str]) -> np.ndarray:
    out = np.zeros(len(resource_ids), dtype=np.float32)
    for i, rid in enumerate(resource_ids):
        j = col.get(rid)
        if j is not None:
            out[i] = row[j]
    return out


def _read_meta(folder: Path, prefix: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((folder / f"{prefix}meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != _FORMAT:
        raise ValueError(
            f"{prefix}meta.json has format {meta.get('format')!r}, this code reads {_FORMAT}: "
            "rebuild the index"
        )
    return meta


def _vectorizer(cfg: TextClassifierConfig, max_features: int) -> Any:
    """The vectorizer that learns the vocabulary; :class:`matcher.tfidf.TfidfTransform` must match its
    parameters (analyzer, sublinear tf, l2 norm, float32)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        strip_accents="unicode", lowercase=True, ngram_range=(1, 2), sublinear_tf=True,
        min_df=cfg.min_df, max_features=max_features, dtype=np.float32,
    )


class TextClassifier:
    """TF-IDF + one-vs-rest logistic regression; ``classes_`` are resource ids.

    ``fit(texts, labels)``: ``labels[i]`` is the set of resources project ``i`` obtained.
    ``predict(texts)`` → ``(n, len(classes_)) float32``, rows summing to 1 (0 rows when nothing is known).
    """

    def __init__(self, config: TextClassifierConfig | None = None) -> None:
        self.config = config or TextClassifierConfig()
        self.classes_: list[str] = []
        self.tfidf_: TfidfTransform | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self._col: dict[str, int] = {}

    def fit(self, texts: Sequence[str], labels: Sequence[frozenset[str]]) -> TextClassifier:
        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length: {len(texts)} vs {len(labels)}")
        cfg = self.config
        classes = _classes(labels, cfg.min_positives)
        self.classes_, self.tfidf_, self.coef_, self.intercept_, self._col = [], None, None, None, {}
        if len(classes) < 2:
            return self
        budget = max(1000, min(cfg.max_features, cfg.max_weights // len(classes)))
        vectorizer = _vectorizer(cfg, budget)
        X = vectorizer.fit_transform(texts)
        self.coef_, self.intercept_ = _one_vs_rest(X, labels, classes, cfg.C, cfg.seed, dual=True)
        # What a snapshot keeps (the idf in float32), so a fitted model scores like a loaded one.
        self.tfidf_ = TfidfTransform({term: int(i) for term, i in vectorizer.vocabulary_.items()},
                                     vectorizer.idf_.astype(np.float32))
        self.classes_ = classes
        self._col = {r: j for j, r in enumerate(classes)}
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None or self.tfidf_ is None or not self.classes_:
            return np.zeros((len(texts), 0), dtype=np.float32)
        rows = self.tfidf_.transform(list(texts))
        return _probabilities(TfidfTransform.times(rows, self.coef_) + self.intercept_)

    def scores(self, text: str, resource_ids: Sequence[str]) -> np.ndarray:
        """``(len(resource_ids),) float32``: the probability of each resource, 0 for one it has no model of."""
        if not self.classes_:
            return np.zeros(len(resource_ids), dtype=np.float32)
        return _scores_of(self.predict([text])[0], self._col, resource_ids)

    # --- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path, *, prefix: str = "textclf_") -> list[Path]:
        meta = {"format": _FORMAT, "config": asdict(self.config), "classes": self.classes_}
        paths = [folder / f"{prefix}meta.json"]
        if self.tfidf_ is not None and self.coef_ is not None and self.intercept_ is not None:
            meta["vocabulary"] = self.tfidf_.vocabulary
            np.save(folder / f"{prefix}idf.npy", self.tfidf_.idf, allow_pickle=False)
            np.save(folder / f"{prefix}coef.npy", self.coef_.astype(np.float16), allow_pickle=False)
            np.save(folder / f"{prefix}intercept.npy", self.intercept_, allow_pickle=False)
            paths += [folder / f"{prefix}{n}.npy" for n in ("idf", "coef", "intercept")]
        paths[0].write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return paths

    @classmethod
    def load(cls, folder: Path, *, prefix: str = "textclf_") -> TextClassifier:
        meta = _read_meta(folder, prefix)
        self = cls(TextClassifierConfig(**meta["config"]))
        if "vocabulary" not in meta:
            return self
        vocab = meta["vocabulary"]
        idf = np.load(folder / f"{prefix}idf.npy", allow_pickle=False)
        coef = np.load(folder / f"{prefix}coef.npy", allow_pickle=False).astype(np.float32)
        intercept = np.load(folder / f"{prefix}intercept.npy", allow_pickle=False)
        classes = meta["classes"]
        if coef.shape != (len(classes), len(vocab)) or idf.shape != (len(vocab),) or intercept.shape != (len(classes),):
            raise ValueError(
                f"{prefix}*.npy shapes {coef.shape}, {idf.shape}, {intercept.shape} do not match "
                f"{len(classes)} resources × {len(vocab)} terms: the snapshot is damaged, rebuild it"
            )
        self.tfidf_ = TfidfTransform(vocab, idf)
        self.classes_, self.coef_, self.intercept_ = list(classes), coef, intercept
        self._col = {r: j for j, r in enumerate(classes)}
        return self


class VectorClassifier:
    """One-vs-rest logistic regression on ``(n, d)`` L2-normalised project vectors; ``classes_`` are
    resource ids. ``predict(vectors)`` → ``(n, len(classes_)) float32``, rows summing to 1."""

    def __init__(self, config: VectorClassifierConfig | None = None) -> None:
        self.config = config or VectorClassifierConfig()
        self.classes_: list[str] = []
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self._col: dict[str, int] = {}

    def fit(self, vectors: np.ndarray, labels: Sequence[frozenset[str]]) -> VectorClassifier:
        if len(vectors) != len(labels):
            raise ValueError(f"vectors and labels differ in length: {len(vectors)} vs {len(labels)}")
        classes = _classes(labels, self.config.min_positives)
        self.classes_, self.coef_, self.intercept_, self._col = [], None, None, {}
        if len(classes) < 2:
            return self
        self.coef_, self.intercept_ = _one_vs_rest(np.asarray(vectors, dtype=np.float32), labels, classes,
                                                   self.config.C, self.config.seed, dual=False)
        self.classes_ = classes
        self._col = {r: j for j, r in enumerate(classes)}
        return self

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None or not self.classes_:
            return np.zeros((len(vectors), 0), dtype=np.float32)
        return _probabilities(np.asarray(vectors, dtype=np.float32) @ self.coef_.T + self.intercept_)

    def scores(self, vector: np.ndarray, resource_ids: Sequence[str]) -> np.ndarray:
        """``(len(resource_ids),) float32`` for one ``(d,)`` vector; 0 for a resource it has no model of."""
        if not self.classes_:
            return np.zeros(len(resource_ids), dtype=np.float32)
        return _scores_of(self.predict(vector[None, :])[0], self._col, resource_ids)

    def save(self, folder: Path, *, prefix: str = "vectorclf_") -> list[Path]:
        meta = {"format": _FORMAT, "config": asdict(self.config), "classes": self.classes_}
        paths = [folder / f"{prefix}meta.json"]
        if self.coef_ is not None and self.intercept_ is not None:
            np.save(folder / f"{prefix}coef.npy", self.coef_, allow_pickle=False)
            np.save(folder / f"{prefix}intercept.npy", self.intercept_, allow_pickle=False)
            paths += [folder / f"{prefix}coef.npy", folder / f"{prefix}intercept.npy"]
        paths[0].write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return paths

    @classmethod
    def load(cls, folder: Path, *, prefix: str = "vectorclf_", dim: int | None = None) -> VectorClassifier:
        meta = _read_meta(folder, prefix)
        self = cls(VectorClassifierConfig(**meta["config"]))
        classes = meta["classes"]
        if not classes:
            return self
        coef = np.load(folder / f"{prefix}coef.npy", allow_pickle=False)
        intercept = np.load(folder / f"{prefix}intercept.npy", allow_pickle=False)
        if (coef.ndim != 2 or coef.shape[0] != len(classes) or intercept.shape != (len(classes),)
                or (dim is not None and coef.shape[1] != dim)):
            raise ValueError(
                f"{prefix}*.npy shapes {coef.shape}, {intercept.shape} do not match {len(classes)} resources"
                f"{f' × {dim} dimensions' if dim else ''}: the snapshot is damaged, rebuild it"
            )
        self.classes_, self.coef_, self.intercept_ = list(classes), coef.astype(np.float32), intercept
        self._col = {r: j for j, r in enumerate(classes)}
        return self
