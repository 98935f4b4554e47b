"""A supervised text model of past partnerships: which resources projects written like this one obtained.

The kNN votes of :mod:`matcher.history` ask "what did the most similar past projects obtain"; this
model asks the discriminative question instead: which words set apart the projects each resource
supported from all the others (TF-IDF over words and word pairs, one logistic regression per
resource, probabilities normalised over the resources it knows). It is one feature among the ranker's
(``text_clf``), strongest where a resource has a long history, silent (0) for a resource without one.

Saved without pickle: the vocabulary as JSON, the idf, coefficients (float16) and intercepts as
``.npy``, with the parameters in the JSON, so a snapshot loads on any sklearn version that reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TextClassifier", "TextClassifierConfig"]

_FORMAT = 1


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


def _vectorizer(cfg: TextClassifierConfig, max_features: int, vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        strip_accents="unicode", lowercase=True, ngram_range=(1, 2), sublinear_tf=True,
        min_df=1 if vocabulary is not None else cfg.min_df, max_features=max_features,
        vocabulary=vocabulary, dtype=np.float32,
    )


class TextClassifier:
    """TF-IDF + one-vs-rest logistic regression; ``classes_`` are resource ids.

    ``fit(texts, labels)``: ``labels[i]`` is the set of resources project ``i`` obtained.
    ``predict(texts)`` → ``(n, len(classes_)) float32``, rows summing to 1 (0 rows when nothing is known).
    """

    def __init__(self, config: TextClassifierConfig | None = None) -> None:
        self.config = config or TextClassifierConfig()
        self.classes_: list[str] = []
        self.vectorizer_: Any = None
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self._col: dict[str, int] = {}

    def fit(self, texts: Sequence[str], labels: Sequence[frozenset[str]]) -> TextClassifier:
        from collections import Counter

        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length: {len(texts)} vs {len(labels)}")
        cfg = self.config
        counts = Counter(r for rs in labels for r in rs)
        classes = sorted(r for r, n in counts.items() if n >= cfg.min_positives and n < len(texts))
        self.classes_, self.vectorizer_, self.coef_, self.intercept_ = [], None, None, None
        if len(classes) < 2:
            self._col = {}
            return self
        budget = max(1000, min(cfg.max_features, cfg.max_weights // len(classes)))
        self.vectorizer_ = _vectorizer(cfg, budget)
        X = self.vectorizer_.fit_transform(texts)
        coef = np.zeros((len(classes), X.shape[1]), dtype=np.float32)
        intercept = np.zeros(len(classes), dtype=np.float32)
        for j, rid in enumerate(classes):
            y = np.fromiter((rid in rs for rs in labels), dtype=bool, count=len(labels))
            # Dual liblinear: fast when the vocabulary outnumbers the past projects.
            lr = LogisticRegression(C=cfg.C, solver="liblinear", dual=True, max_iter=1000,
                                    random_state=cfg.seed).fit(X, y)
            coef[j] = lr.coef_[0]
            intercept[j] = lr.intercept_[0]
        self.classes_ = classes
        self.coef_, self.intercept_ = coef, intercept
        self._col = {r: j for j, r in enumerate(classes)}
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None or not self.classes_:
            return np.zeros((len(texts), 0), dtype=np.float32)
        X = self.vectorizer_.transform(list(texts))
        z = np.asarray(X @ self.coef_.T, dtype=np.float32) + self.intercept_
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def scores(self, text: str, resource_ids: Sequence[str]) -> np.ndarray:
        """``(len(resource_ids),) float32``: the probability of each resource, 0 for one it has no model of."""
        out = np.zeros(len(resource_ids), dtype=np.float32)
        if not self.classes_:
            return out
        row = self.predict([text])[0]
        for i, rid in enumerate(resource_ids):
            j = self._col.get(rid)
            if j is not None:
                out[i] = row[j]
        return out

    # --- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path, *, prefix: str = "textclf_") -> list[Path]:
        meta = {"format": _FORMAT, "config": asdict(self.config), "classes": self.classes_}
        paths = [folder / f"{prefix}meta.json"]
        if self.vectorizer_ is not None and self.coef_ is not None and self.intercept_ is not None:
            vocab = {term: int(i) for term, i in self.vectorizer_.vocabulary_.items()}
            meta["vocabulary"] = vocab
            np.save(folder / f"{prefix}idf.npy", self.vectorizer_.idf_.astype(np.float32), allow_pickle=False)
            np.save(folder / f"{prefix}coef.npy", self.coef_.astype(np.float16), allow_pickle=False)
            np.save(folder / f"{prefix}intercept.npy", self.intercept_, allow_pickle=False)
            paths += [folder / f"{prefix}{n}.npy" for n in ("idf", "coef", "intercept")]
        paths[0].write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return paths

    @classmethod
    def load(cls, folder: Path, *, prefix: str = "textclf_") -> TextClassifier:
        meta = json.loads((folder / f"{prefix}meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(
                f"{prefix}meta.json has format {meta.get('format')!r}, this code reads {_FORMAT}: "
                "rebuild the index (maillage index build)"
            )
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
        self.vectorizer_ = _vectorizer(self.config, len(vocab), vocabulary=vocab)
        self.vectorizer_.idf_ = idf
        self.classes_, self.coef_, self.intercept_ = list(classes), coef, intercept
        self._col = {r: j for j, r in enumerate(classes)}
        return self
