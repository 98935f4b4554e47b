"""TF-IDF of texts over a fixed vocabulary, without scikit-learn, and its product with a weight matrix.

:class:`matcher.textclf.TextClassifier` is fitted with scikit-learn's ``TfidfVectorizer``; at query
time it only needs ``transform`` with the fitted vocabulary and idf. Importing scikit-learn (and the
part of SciPy it pulls in) took 1.4 s of a one-off ``maillage match``, so serving computes the same
numbers here with the standard library and numpy, operation for operation, in the same order and the
same float32/float64 types as scikit-learn 1.9's ``TfidfVectorizer(strip_accents="unicode",
lowercase=True, ngram_range=(1, 2), sublinear_tf=True, norm="l2", dtype=float32).transform`` followed
by SciPy's CSR × dense product — so the scores are bit-for-bit scikit-learn's
(tests/matcher/test_tfidf.py checks it against scikit-learn itself).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = ["SparseRows", "TfidfTransform", "analyze"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""scikit-learn's default ``token_pattern``."""


def _strip_accents(s: str) -> str:
    """scikit-learn's ``strip_accents_unicode``: NFKD, then combining marks dropped."""
    try:
        s.encode("ASCII", errors="strict")
        return s
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", s)
        return "".join([c for c in normalized if not unicodedata.combining(c)])


def analyze(doc: str) -> list[str]:
    """The terms of ``doc``: lowercased, accents stripped, words of 2+ characters, then word pairs."""
    words = _TOKEN.findall(_strip_accents(doc.lower()))
    return words + [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]


SparseRows = list[tuple[np.ndarray, np.ndarray]]
"""One ``(indices (nnz,) int32 ascending, values (nnz,) float32)`` pair per text (a CSR matrix's rows)."""


class TfidfTransform:
    """``vocabulary`` term → column, ``idf`` ``(len(vocabulary),) float32``. L2-normalised rows,
    sublinear term frequency (``1 + log(count)``)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        if idf.shape != (len(vocabulary),):
            raise ValueError(f"idf has shape {idf.shape}, expected ({len(vocabulary)},) like the vocabulary")
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)

    def transform(self, texts: Sequence[str]) -> SparseRows:
        rows: SparseRows = []
        for doc in texts:
            counts: dict[int, int] = {}
            for term in analyze(doc):
                j = self.vocabulary.get(term)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            order = sorted(counts)
            indices = np.asarray(order, dtype=np.int32)
            values = np.asarray([counts[j] for j in order], dtype=np.float32)
            np.log(values, values)
            values += 1.0
            values *= self.idf[indices]
            # The squares in float32, summed one after the other in float64 (cumsum is sequential,
            # unlike sum's pairwise order), the division in float64: sklearn's inplace_csr_row_normalize_l2.
            total = float(np.cumsum((values * values).astype(np.float64))[-1]) if len(values) else 0.0
            if total != 0.0:
                values = (values.astype(np.float64) / np.sqrt(total)).astype(np.float32)
            rows.append((indices, values))
        return rows

    @staticmethod
    def times(rows: SparseRows, coef: np.ndarray) -> np.ndarray:
        """``(len(rows), c) float32``: the rows times ``coef.T``, ``coef`` ``(c, len(vocabulary)) float32``;
        each row's terms added one after the other in column order, like SciPy's ``csr_matvecs``."""
        out = np.zeros((len(rows), coef.shape[0]), dtype=np.float32)
        for r, (indices, values) in enumerate(rows):
            acc = out[r]
            for j, v in zip(indices.tolist(), values, strict=True):
                acc += v * coef[:, j]
        return out
