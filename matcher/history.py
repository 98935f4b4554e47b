"""Past partnerships: what each resource (and its provider) funded, sponsored or refused before.

Built from the outcome log, it answers the questions a seasoned staff member answers from memory:
which past initiatives look like this one and what did they obtain (a kNN vote, dense and lexical),
how close is this project to what a resource usually supports (its profile), how often does a
resource say yes. Vectors of past initiatives are ``(n, d) float32`` L2-normalised rows, encoded as
queries (the project side), so similarity between two projects is symmetric.

Every question can be asked **as of** a date (``before``, a POSIX timestamp): only partnerships
decided before it count. Training scores each past initiative as of its own date, so the ranker
learns from the same situation it serves in: predicting from what was known before.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexes import DenseIndex, Encoder, SparseIndex, encode_in_batches
from matcher.history_view import HistoryView
from matcher.places import departement_of, place_terms, zone_of
from matcher.schemas import Decision, Initiative, Outcome
from matcher.textclf import TextClassifier, TextClassifierConfig, VectorClassifier, VectorClassifierConfig

__all__ = ["CLASSIFIER_FOLDS", "KNN_INDEX_FROM", "NEGATIVE", "POSITIVE", "History", "HistoryError", "HistoryView"]

CLASSIFIER_FOLDS = 5

POSITIVE = frozenset({Decision.obtained, Decision.applied, Decision.shortlisted, Decision.contacted, Decision.pinned})
NEGATIVE = frozenset({Decision.refused, Decision.dismissed, Decision.excluded})
KNN_INDEX_FROM = 300_000
"""Rows from which the kNN vote searches an index (an IVF, :class:`indexes.DenseIndex`'s kind at this size)
instead of scoring every row: at a million rows, ``vectors @ query`` reads 1.5 GB per query."""
_CUTS = 4  # date cuts whose answers History.cut_memo keeps (the observatory asks one month end at a time)


@dataclass
class History:
    """Positive pairs with the vectors of their initiatives, plus acceptance counts per resource.

    ``dates[r]`` is the POSIX time of row ``r``'s first positive decision. Questions are asked
    through :meth:`view` (:class:`matcher.history_view.HistoryView`: one visibility mask per query).
    """

    initiative_ids: list[str]
    vectors: np.ndarray
    resources_of: list[frozenset[str]]
    positives: Counter[str] = field(default_factory=Counter)
    negatives: Counter[str] = field(default_factory=Counter)
    sparse: SparseIndex | None = None
    """BM25 over the past initiatives' texts, for the lexical vote (short texts are keyword-heavy)."""
    dates: np.ndarray | None = None
    texts: list[str] | None = None
    """The past initiatives' texts (row order); the text model's folds are fitted from them."""
    classifier: TextClassifier | None = None
    """The text model fitted on every row (:mod:`matcher.textclf`); None when there is no history."""
    vector_classifier: VectorClassifier | None = None
    """The same question asked of the projects' vectors (:class:`matcher.textclf.VectorClassifier`)."""
    places: list[str | None] | None = None
    """The département of each past initiative (None when national or unknown)."""
    amounts: np.ndarray | None = None
    """``(n,) float64``: log1p of the amount each past initiative sought, NaN when unknown."""
    # Derived in __post_init__, read by :class:`HistoryView`.
    rows_of: dict[str, np.ndarray] = field(init=False, repr=False)
    """Rows (past initiatives) that obtained each resource."""
    rows_at: dict[str, np.ndarray] = field(init=False, repr=False)
    """Rows of each département and zone."""
    sums: dict[str, np.ndarray] = field(init=False, repr=False)
    """Sum of the vectors of each resource's rows (the profile before normalising)."""
    row: dict[str, int] = field(init=False, repr=False)
    count: dict[str, int] = field(init=False, repr=False)
    # Answers that depend only on the whole history (no ``before``/``exclude``), filled on first use:
    # a query asks them for a few hundred resources, most of them the same from one query to the next.
    norms: dict[str, float] = field(init=False, repr=False, default_factory=dict)
    amount_stats: dict[str, tuple[float, float] | None] = field(init=False, repr=False, default_factory=dict)
    local_counts: dict[str, Counter[str]] = field(init=False, repr=False, default_factory=dict)
    cuts: dict[float, dict[object, Any]] = field(init=False, repr=False, default_factory=dict)
    """Answers that depend only on a date cut (``before``, nothing excluded), per cut: every query of
    the observatory's month ends shares them (:meth:`cut_memo`)."""
    knn_index: DenseIndex | None = field(init=False, repr=False, default=None)
    """From :data:`KNN_INDEX_FROM` rows, the past initiatives' vectors in a :class:`indexes.DenseIndex`
    (FAISS id = row), which the kNN vote searches instead of scoring every row."""
    _folds: dict[tuple[str, int], TextClassifier | VectorClassifier] = field(init=False, repr=False,
                                                                            default_factory=dict)
    _folds_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.dates is None:
            self.dates = np.zeros(len(self.initiative_ids), dtype=np.float64)
        rows: defaultdict[str, list[int]] = defaultdict(list)
        for r, res in enumerate(self.resources_of):
            for rid in res:
                rows[rid].append(r)
        self.rows_of = {rid: np.asarray(idx, dtype=np.int64) for rid, idx in rows.items()}
        self.row = {iid: r for r, iid in enumerate(self.initiative_ids)}
        if self.places is None:
            self.places = [None] * len(self.initiative_ids)
        if self.amounts is None:
            self.amounts = np.full(len(self.initiative_ids), np.nan)
        by_place: defaultdict[str, list[int]] = defaultdict(list)  # départements and zones
        for r, place in enumerate(self.places):
            if place is not None:
                by_place[place].append(r)
                by_place[zone_of(place)].append(r)
        self.rows_at = {p: np.asarray(idx, dtype=np.int64) for p, idx in by_place.items()}
        self.sums = {rid: self.vectors[idx].sum(axis=0) for rid, idx in self.rows_of.items()}
        self.count = {rid: len(idx) for rid, idx in self.rows_of.items()}
        if len(self.initiative_ids) >= KNN_INDEX_FROM:
            self.knn_index = DenseIndex.build(self.initiative_ids, self.vectors)  # FAISS ids: rows, in order

    @classmethod
    def empty(cls, dim: int) -> History:
        return cls([], np.zeros((0, dim), dtype=np.float32), [])

    @classmethod
    def build(
        cls,
        outcomes: Iterable[Outcome],
        initiatives: dict[str, Initiative] | Callable[[Sequence[str]], dict[str, Initiative]],
        encoder: Encoder,
        *,
        batch_size: int = 256,
        progress: Callable[[int, int], None] | None = None,
    ) -> History:
        """From the outcome log: the latest decision per (initiative, resource) pair counts."""
        pos, first, positives, negatives = _latest_decisions(outcomes)
        ids = sorted(pos)
        lookup = initiatives(ids) if callable(initiatives) else initiatives
        ids = [i for i in ids if i in lookup]
        texts = [lookup[i].text() for i in ids]
        vectors = encode_in_batches(encoder.encode_queries, texts, encoder.dim, batch_size=batch_size,
                                    progress=progress)
        labels = [frozenset(pos[i]) for i in ids]
        places = [departement_of(lookup[i].territory) for i in ids]
        amounts = np.asarray(
            [np.log1p(a) if (a := lookup[i].amount_sought) is not None and a >= 0 else np.nan for i in ids],
            dtype=np.float64,
        )
        return cls(ids, vectors, labels, positives, negatives, SparseIndex().build(ids, texts),
                   np.asarray([first[i] for i in ids], dtype=np.float64), texts,
                   TextClassifier().fit(_documents(texts, places), labels) if ids else None,
                   VectorClassifier().fit(vectors, labels) if ids else None, places, amounts)

    def __len__(self) -> int:
        return len(self.initiative_ids)

    def without(self, initiative_ids: Collection[str]) -> History:
        """A copy without the rows of ``initiative_ids`` (erased initiatives, until the snapshot is
        rebuilt): their ids, vectors, texts, places, amounts and BM25 terms are gone, so no vote, profile
        or title comes from them. The models of past partnerships stay as fitted (the rebuild refits
        them) and the acceptance counts stay (an erased initiative's outcomes stay, anonymised)."""
        keep = [r for r, iid in enumerate(self.initiative_ids) if iid not in initiative_ids]
        if len(keep) == len(self):
            return self
        ids = [self.initiative_ids[r] for r in keep]
        texts = [self.texts[r] for r in keep] if self.texts is not None else None
        return History(
            ids, self.vectors[keep], [self.resources_of[r] for r in keep], self.positives, self.negatives,
            SparseIndex().build(ids, texts) if texts is not None else None,
            None if self.dates is None else self.dates[keep], texts, self.classifier, self.vector_classifier,
            None if self.places is None else [self.places[r] for r in keep],
            None if self.amounts is None else self.amounts[keep],
        )

    def visible(self, before: float | None, exclude: str | None) -> np.ndarray | None:
        """Boolean mask of the rows that may be used, or None when all may."""
        if before is None and (exclude is None or exclude not in self.row):
            return None
        dates = self.dates if self.dates is not None else np.zeros(len(self))
        mask: np.ndarray = np.ones(len(self), dtype=bool) if before is None else np.asarray(dates < before)
        if exclude is not None and exclude in self.row:
            mask[self.row[exclude]] = False
        return mask

    def title_of(self, initiative_id: str) -> str | None:
        """The title of a past initiative (the first line of its text); None when unknown or when the
        history was loaded without its texts."""
        row = self.row.get(initiative_id)
        if row is None or self.texts is None:
            return None
        return self.texts[row].split("\n", 1)[0].strip() or None

    def cut_memo(self, before: float) -> dict[object, Any]:
        """The memo of the views cut at ``before`` with nothing excluded (the last :data:`_CUTS` cuts
        asked are kept). Its answers are the ones a view computes, so sharing them changes nothing."""
        memo = self.cuts.get(before)
        if memo is None:
            while len(self.cuts) >= _CUTS:
                self.cuts.pop(next(iter(self.cuts)), None)
            memo = self.cuts[before] = {}
        return memo

    def view(self, *, exclude: str | None = None, before: float | None = None) -> HistoryView:
        """The rows a query may use: decided before ``before`` (POSIX time), without ``exclude``."""
        return HistoryView(self, exclude=exclude, before=before)

    # --- the models of past partnerships ----------------------------------------------------------

    def classifier_scores(
        self, text: str, resource_ids: Sequence[str], *, where: str | None = None, exclude: str | None = None
    ) -> np.ndarray:
        """``(len(resource_ids),) float32``: the text model's probability of each resource for ``text``
        of a project in territory ``where`` (the model reads the département and zone as words, see
        :func:`place_terms`).

        With ``exclude`` (a past initiative scored for training) the answer comes from a model fitted
        without that initiative's fold (cross-fitting, :data:`CLASSIFIER_FOLDS` folds fitted on first use),
        so a training example never sees its own label. The models ignore dates: their folds cover
        the whole history, which keeps each fold as strong as the served model.
        """
        if self.classifier is None:
            return np.zeros(len(resource_ids), dtype=np.float32)
        model = self._served_or_fold(self.classifier, "text", exclude)
        if not isinstance(model, TextClassifier):
            raise TypeError(f"the text folds hold {type(model).__name__}, not TextClassifier")
        return model.scores(text + place_terms(departement_of(where)), resource_ids)

    def vector_classifier_scores(
        self, vector: np.ndarray, resource_ids: Sequence[str], *, exclude: str | None = None
    ) -> np.ndarray:
        """Like :meth:`classifier_scores` for a ``(d,)`` query vector and the vector model."""
        if self.vector_classifier is None:
            return np.zeros(len(resource_ids), dtype=np.float32)
        model = self._served_or_fold(self.vector_classifier, "vector", exclude)
        if not isinstance(model, VectorClassifier):
            raise TypeError(f"the vector folds hold {type(model).__name__}, not VectorClassifier")
        return model.scores(vector, resource_ids)

    def _served_or_fold(
        self, served: TextClassifier | VectorClassifier, view: str, exclude: str | None
    ) -> TextClassifier | VectorClassifier:
        """The served model, or for a past initiative (``exclude``) the fold model that never saw it."""
        if exclude is not None and exclude in self.row:
            return self._fold_model(view, _fold_of(exclude))
        return served

    def _fold_model(self, view: str, fold: int) -> TextClassifier | VectorClassifier:
        with self._folds_lock:
            hit = self._folds.get((view, fold))
            if hit is not None:
                return hit
            keep = [r for r, iid in enumerate(self.initiative_ids) if _fold_of(iid) != fold]
            labels = [self.resources_of[r] for r in keep]
            model: TextClassifier | VectorClassifier
            if view == "text":
                if self.texts is None:
                    raise HistoryError("this history was loaded without its texts, so it cannot score a past "
                                       "initiative for training: its snapshot must be rebuilt")
                config = self.classifier.config if self.classifier is not None else TextClassifierConfig()
                places = self.places or [None] * len(self)
                model = TextClassifier(config).fit(_documents([self.texts[r] for r in keep], [places[r] for r in keep]),
                                                   labels)
            else:
                vconfig = (self.vector_classifier.config if self.vector_classifier is not None
                           else VectorClassifierConfig())
                model = VectorClassifier(vconfig).fit(self.vectors[keep], labels)
            self._folds[(view, fold)] = model
            return model

    # --- persistence ------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the history into a snapshot folder (``history_*`` files, beside the resource index)."""
        np.save(folder / "history_vectors.npy", self.vectors, allow_pickle=False)
        meta = {
            "initiative_ids": self.initiative_ids,
            "resources_of": [sorted(r) for r in self.resources_of],
            "positives": dict(self.positives),
            "negatives": dict(self.negatives),
            "dates": [float(x) for x in self.dates] if self.dates is not None else [],
            "texts": self.texts,
            "places": self.places,
            "amounts": [None if not np.isfinite(a) else float(a) for a in self.amounts]
            if self.amounts is not None else None,
        }
        (folder / "history.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        if self.sparse is not None:
            self.sparse.save(folder, prefix="history_")
        if self.classifier is not None:
            self.classifier.save(folder, prefix="history_textclf_")
        if self.vector_classifier is not None:
            self.vector_classifier.save(folder, prefix="history_vectorclf_")

    @classmethod
    def load(cls, folder: Path, dim: int) -> History:
        """Read what :meth:`save` wrote; raises ``ValueError`` when the vectors do not match ``dim``."""
        vectors = np.load(folder / "history_vectors.npy", allow_pickle=False)
        meta = json.loads((folder / "history.json").read_text(encoding="utf-8"))
        expected = (len(meta["initiative_ids"]), dim)
        if vectors.shape != expected:
            raise ValueError(f"history_vectors.npy has shape {vectors.shape}, expected {expected}")
        def present(name: str) -> bool:
            return (folder / name).is_file()
        sparse = SparseIndex.load(folder, prefix="history_") if present("history_sparse.json") else None
        classifier = TextClassifier.load(folder, prefix="history_textclf_") if present("history_textclf_meta.json") \
            else None
        vector_classifier = (VectorClassifier.load(folder, prefix="history_vectorclf_", dim=dim)
                             if present("history_vectorclf_meta.json") else None)
        return cls(
            meta["initiative_ids"], vectors.astype(np.float32), [frozenset(r) for r in meta["resources_of"]],
            Counter(meta["positives"]), Counter(meta["negatives"]), sparse,
            np.asarray(meta.get("dates") or [0.0] * len(meta["initiative_ids"]), dtype=np.float64),
            meta.get("texts"), classifier, vector_classifier, meta.get("places"),
            None if meta.get("amounts") is None
            else np.asarray([np.nan if a is None else a for a in meta["amounts"]], dtype=np.float64),
        )


class HistoryError(RuntimeError):
    """A history that cannot answer what was asked (the message says why)."""


def _latest_decisions(
    outcomes: Iterable[Outcome],
) -> tuple[defaultdict[str, set[str]], dict[str, float], Counter[str], Counter[str]]:
    """From the outcome log, the latest decision per (initiative, resource) pair: the resources each
    initiative obtained, the POSIX time of its first positive decision, positives and negatives per
    resource."""
    latest: dict[tuple[str, str], Outcome] = {}
    for o in sorted(outcomes, key=lambda o: o.occurred_at):
        latest[(o.initiative_id, o.resource_id)] = o
    pos: defaultdict[str, set[str]] = defaultdict(set)
    first: dict[str, float] = {}
    positives: Counter[str] = Counter()
    negatives: Counter[str] = Counter()
    for (iid, rid), o in latest.items():
        if o.decision in POSITIVE:
            pos[iid].add(rid)
            positives[rid] += 1
            when = o.occurred_at.timestamp()
            first[iid] = min(first.get(iid, when), when)
        elif o.decision in NEGATIVE:
            negatives[rid] += 1
    return pos, first, positives, negatives


def _fold_of(initiative_id: str) -> int:
    """A stable fold per initiative id (the same across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(initiative_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") % CLASSIFIER_FOLDS


def _documents(texts: Sequence[str], places: Sequence[str | None]) -> list[str]:
    """What the text model reads of past projects: each text with its :func:`place_terms`."""
    return [text + place_terms(place) for text, place in zip(texts, places, strict=True)]
