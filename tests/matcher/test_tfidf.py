"""The sklearn-free TF-IDF of :mod:`matcher.tfidf` gives scikit-learn's numbers bit for bit: the
vectors of its ``TfidfVectorizer.transform``, and the text model's scores computed the way they were
before (the vectorizer rebuilt from the snapshot's vocabulary and idf, a SciPy CSR × dense product)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matcher.textclf import TextClassifier, _probabilities
from matcher.tfidf import TfidfTransform, analyze

sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")

_WORDS = [
    'vélo', 'atelier', 'réparation', 'mobilité', 'douce', 'théâtre', 'scène', 'comédiens', 'festival',
    'jardin', 'partagé', 'potager', 'compost', 'quartier', 'écologie', 'énergie', 'rénovation', 'école',
    'numérique', 'inclusion', 'seniors', 'jeunesse', 'Œuvre', 'naïve', 'façade', 'cœur', 'Ärger',
    'Saint-Denis', "l'été", "d'accueil", 'ÉTÉ', 'ﬁnancement', '93066', 'R84', 'a', 'b', '2026',
]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    seps = [" ", " ", " ", ", ", " - ", "'", " : ", "\n", "  "]
    out = []
    for _ in range(n):
        picked = rng.choice(_WORDS, size=int(rng.integers(0, 40)))
        out.append("".join(str(w) + str(rng.choice(seps)) for w in picked))
    return out


def _labels(texts: list[str], seed: int) -> list[frozenset[str]]:
    rng = np.random.default_rng(seed)
    return [frozenset(f"res-{int(j)}" for j in rng.choice(6, size=int(rng.integers(1, 3)), replace=False))
            for _ in texts]


def _sklearn_vectorizer(vocabulary: dict[str, int], idf: np.ndarray) -> object:
    """The vectorizer as textclf rebuilt it from a snapshot before it stopped importing scikit-learn."""
    vec = sklearn_text.TfidfVectorizer(strip_accents="unicode", lowercase=True, ngram_range=(1, 2),
                                       sublinear_tf=True, min_df=1, max_features=len(vocabulary),
                                       vocabulary=vocabulary, dtype=np.float32)
    vec.idf_ = idf
    return vec


def test_analyzer_is_sklearns() -> None:
    reference = sklearn_text.TfidfVectorizer(strip_accents="unicode", lowercase=True,
                                             ngram_range=(1, 2)).build_analyzer()
    for text in [*_texts(200, seed=1), "", "é", "Éco-quartier « vert » à L'Île-Saint-Denis !"]:
        assert analyze(text) == reference(text)


def test_vectors_and_scores_equal_sklearns_bit_for_bit(tmp_path: Path) -> None:
    train = _texts(300, seed=2)
    model = TextClassifier().fit(train, _labels(train, seed=3))
    model.save(tmp_path)
    loaded = TextClassifier.load(tmp_path)
    assert loaded.tfidf_ is not None and loaded.coef_ is not None and loaded.intercept_ is not None
    meta = json.loads((tmp_path / "textclf_meta.json").read_text(encoding="utf-8"))
    vec = _sklearn_vectorizer(meta["vocabulary"], np.load(tmp_path / "textclf_idf.npy"))

    queries = [*_texts(150, seed=4), "", "rien de connu ici", train[0]]
    X = vec.transform(queries).tocsr()  # type: ignore[attr-defined]
    rows = loaded.tfidf_.transform(queries)
    for i, (indices, values) in enumerate(rows):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        np.testing.assert_array_equal(indices, X.indices[lo:hi])
        np.testing.assert_array_equal(values, X.data[lo:hi])
        assert values.dtype == X.data.dtype == np.float32
    before = _probabilities(np.asarray(X @ loaded.coef_.T, dtype=np.float32) + loaded.intercept_)
    np.testing.assert_array_equal(loaded.predict(queries), before)
    assert any(len(ix) for ix, _ in rows) and np.ptp(before) > 0  # the comparison saw real, varied scores


def test_a_freshly_fitted_model_scores_like_its_snapshot(tmp_path: Path) -> None:
    train = _texts(120, seed=5)
    model = TextClassifier().fit(train, _labels(train, seed=6))
    model.save(tmp_path)
    # float16 coefficients on disk: the fitted model rounded the same way scores identically.
    loaded = TextClassifier.load(tmp_path)
    assert model.coef_ is not None
    model.coef_ = model.coef_.astype(np.float16).astype(np.float32)
    queries = _texts(40, seed=7)
    np.testing.assert_array_equal(model.predict(queries), loaded.predict(queries))


def test_idf_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="expected \\(2,\\)"):
        TfidfTransform({"a b": 0, "cd": 1}, np.ones(3, dtype=np.float32))


def test_the_served_snapshot_scores_like_sklearn() -> None:
    """The demo home's history model, when one is built (MAILLAGE_HOME or ./var)."""
    import os

    home = Path(os.environ.get("MAILLAGE_HOME", "var"))
    current = home / "indexes" / "CURRENT"
    if not current.is_file():
        pytest.skip(f"no index snapshot under {home}")
    folder = home / "indexes" / current.read_text(encoding="utf-8").strip()
    if not (folder / "history_textclf_idf.npy").is_file():
        pytest.skip("this snapshot has no text model")
    loaded = TextClassifier.load(folder, prefix="history_textclf_")
    meta = json.loads((folder / "history_textclf_meta.json").read_text(encoding="utf-8"))
    vec = _sklearn_vectorizer(meta["vocabulary"], np.load(folder / "history_textclf_idf.npy"))
    queries = [t for t in meta["vocabulary"] if " " in t][:200] + _texts(50, seed=8)
    X = vec.transform(queries)  # type: ignore[attr-defined]
    assert loaded.coef_ is not None
    before = _probabilities(np.asarray(X @ loaded.coef_.T, dtype=np.float32) + loaded.intercept_)
    np.testing.assert_array_equal(loaded.predict(queries), before)
