"""A labelled set anyone can bring: a folder of Maillage's own import files (``docs/import-format.md``).

The folder holds ``providers.jsonl``, ``resources.jsonl``, ``initiatives.jsonl`` and ``outcomes.jsonl``
(or the ``.csv`` of the same name), read by the importers' own reader and validated by the schemas:
the first invalid rows raise ``ValueError`` naming ``file:line`` and the reason, as an import would
reject them. :func:`load_folder_set` turns the folder into an :class:`~eval.datasets.EvalSet`:

- candidates: every resource of ``resources.jsonl``, in file order; providers: every provider;
- queries: the initiatives with at least one positive outcome (``obtained`` or ``pinned``), their
  relevant resources those outcomes' resources, their date (``when``) the first positive outcome's
  ``occurred_at``; other initiatives and other decisions are counted in the notes;
- history: the positive outcomes of the train queries only;
- split: ``test_ids`` (one initiative id a line; ``train_ids`` likewise, else every other query is
  train), or by default time: the latest :data:`TEST_SHARE` of the queries by date go to test (ties
  broken by id). When the outcomes carry no usable date (a positive outcome without ``occurred_at``,
  or all on one timestamp), time says nothing: the set is **cross-fitted** instead, the queries dealt
  into ``folds`` seeded folds, each fold tested by systems fitted on the others (:attr:`EvalSet.folds`);
- an empty train split is allowed: systems then rank with their prior alone, and the notes say so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from eval.datasets import EvalQuery, EvalSet, with_slices
from matcher.importers.files import read_file_rows
from matcher.importers.runner import missing_reference
from matcher.schemas import Initiative, Outcome, Provider, Resource, describe_validation_error

__all__ = ["FOLDER_FILES", "POSITIVE", "TEST_SHARE", "is_folder_set", "load_folder_set", "read_ids"]

FOLDER_FILES = {"provider": "providers", "resource": "resources", "initiative": "initiatives", "outcome": "outcomes"}
"""Record kind → the file's name without its suffix (``.jsonl`` or ``.csv``)."""
POSITIVE = frozenset({"obtained", "pinned"})
TEST_SHARE = 0.2
EMPTY_TRAIN = "train split is empty: every system ranks with its prior alone (no history, nothing learned)"
_MODELS: dict[str, type[BaseModel]] = {"provider": Provider, "resource": Resource, "initiative": Initiative,
                                       "outcome": Outcome}
_SHOWN_ERRORS = 5


@dataclass
class _Folder:
    providers: list[Provider] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    initiatives: dict[str, Initiative] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    undated: int = 0  # positive outcomes whose row gives no occurred_at


def _file(folder: Path, kind: str) -> Path:
    stem = FOLDER_FILES[kind]
    for suffix in (".jsonl", ".csv"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise FileNotFoundError(f"labelled folder {folder}: missing {stem}.jsonl (or {stem}.csv)")


def is_folder_set(path: Path) -> bool:
    """True when ``path`` is a folder holding an outcomes file (a labelled set to evaluate on)."""
    return path.is_dir() and any((path / f"outcomes{s}").is_file() for s in (".jsonl", ".csv"))


def _records(path: Path, kind: str, errors: list[str]) -> Iterator[tuple[int, BaseModel, dict[str, Any]]]:
    """Each valid record of ``path`` with its line and raw payload; invalid rows go to ``errors``."""
    for line, _kind, payload in read_file_rows(path, kind):
        if isinstance(payload, str):
            errors.append(f"{path.name}:{line} : {payload}")
            continue
        try:
            yield int(line), _MODELS[kind].model_validate(payload), payload
        except ValidationError as exc:
            errors.append(f"{path.name}:{line} : {'; '.join(describe_validation_error(exc))}")


def _read(folder: Path) -> _Folder:
    errors: list[str] = []
    out = _Folder()
    seen: dict[str, set[str]] = {k: set() for k in FOLDER_FILES}
    for kind in FOLDER_FILES:
        path = _file(folder, kind)
        for line, record, payload in _records(path, kind, errors):
            problem = missing_reference(kind, record, seen)
            rid = getattr(record, "id", None)
            if problem is None and kind != "outcome" and rid in seen[kind]:
                problem = f"id {rid!r} given twice"
            if problem is not None:
                errors.append(f"{path.name}:{line} : {problem}")
                continue
            if rid is not None:
                seen[kind].add(rid)
            _keep(out, record, payload)
    if errors:
        more = f" … ({len(errors)} errors in all)" if len(errors) > _SHOWN_ERRORS else ""
        raise ValueError(f"labelled folder {folder}: " + " | ".join(errors[:_SHOWN_ERRORS]) + more)
    return out


def _keep(out: _Folder, record: BaseModel, payload: dict[str, Any]) -> None:
    if isinstance(record, Provider):
        out.providers.append(record)
    elif isinstance(record, Resource):
        out.resources.append(record)
    elif isinstance(record, Initiative):
        out.initiatives[record.id] = record
    elif isinstance(record, Outcome):
        out.outcomes.append(record)
        if record.decision.value in POSITIVE and not payload.get("occurred_at"):
            out.undated += 1


def read_ids(path: Path) -> list[str]:
    """The initiative ids of ``path``, one a line (blank lines and ``#`` comments skipped)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such ids file: {path}")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [s for s in (x.strip() for x in lines) if s and not s.startswith("#")]


def _queries(recs: _Folder, dated: bool) -> dict[str, EvalQuery]:
    """Every query (initiative with a positive outcome) by id."""
    positives: dict[str, list[Outcome]] = {}
    for o in recs.outcomes:
        if o.decision.value in POSITIVE:
            positives.setdefault(o.initiative_id, []).append(o)
    queries = {}
    for iid in sorted(positives):
        outs = positives[iid]
        when = min(o.occurred_at for o in outs).date() if dated else None
        queries[iid] = EvalQuery(iid, recs.initiatives[iid], frozenset(o.resource_id for o in outs), when)
    return queries


def _check_ids(ids: Sequence[str], queries: dict[str, EvalQuery], recs: _Folder, path: Path) -> list[str]:
    unknown = [i for i in ids if i not in recs.initiatives]
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} unknown initiative id(s): {', '.join(unknown[:10])}")
    no_label = [i for i in ids if i not in queries]
    if no_label:
        raise ValueError(f"{path}: {len(no_label)} initiative(s) without a positive outcome (obtained or pinned): "
                         f"{', '.join(no_label[:10])}")
    return list(dict.fromkeys(ids))


def _time_split(queries: dict[str, EvalQuery]) -> tuple[list[str], list[str]]:
    ordered = sorted(queries.values(), key=lambda q: (q.when or date.min, q.id))
    n_test = max(1, math.ceil(len(ordered) * TEST_SHARE - 1e-9)) if ordered else 0
    cut = len(ordered) - n_test
    return [q.id for q in ordered[:cut]], [q.id for q in ordered[cut:]]


def _part(name: str, recs: _Folder, queries: dict[str, EvalQuery],
          train_ids: Sequence[str], test_ids: Sequence[str], today: date, split: str, notes: list[str]) -> EvalSet:
    """The set with ``train_ids`` as train (their positive outcomes as history) and ``test_ids`` as test."""
    both = sorted(set(train_ids) & set(test_ids))
    if both:
        raise ValueError(f"split leak in {name}: {len(both)} id(s) in both train and test: {', '.join(both[:20])}")
    train = sorted((queries[i] for i in train_ids), key=lambda q: q.id)
    in_train = set(train_ids)
    history = [o for o in recs.outcomes if o.decision.value in POSITIVE and o.initiative_id in in_train]
    seen = Counter(o.resource_id for o in history)
    kind_of = {r.id: r.kind.value for r in recs.resources}
    test = [with_slices(q, seen, kind_of) for q in sorted((queries[i] for i in test_ids), key=lambda q: q.id)]
    part_notes = list(notes) + ([EMPTY_TRAIN] if not train else [])
    return EvalSet(name, list(recs.providers), list(recs.resources), train, test, history, split, today, part_notes)


def _today(queries: Sequence[EvalQuery]) -> date:
    """A day after every query (what the named sets use), or tomorrow for undated queries."""
    whens = [q.when for q in queries if q.when is not None]
    return max(whens) + timedelta(days=1) if whens else date.today() + timedelta(days=1)


def load_folder_set(folder: Path, *, test_ids: Path | None = None, train_ids: Path | None = None,
                    folds: int = 5, seed: int = 0) -> EvalSet:
    """The labelled set of ``folder`` (see the module doc). Raises ``FileNotFoundError`` for a missing
    file and ``ValueError`` naming ``file:line`` for invalid rows, or for unknown / unlabelled ids in
    the ids files, ``train_ids`` without ``test_ids``, an id in both, or fewer than 2 ``folds``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such labelled folder: {folder}")
    if train_ids is not None and test_ids is None:
        raise ValueError("--train-ids needs --test-ids")
    if folds < 2:
        raise ValueError(f"--folds must be >= 2, got {folds}")
    recs = _read(folder)
    name = folder.resolve().name
    stamps = {o.occurred_at for o in recs.outcomes if o.decision.value in POSITIVE}
    dated = recs.undated == 0 and len(stamps) > 1
    queries = _queries(recs, dated)
    if not queries:
        raise ValueError(f"labelled folder {folder}: no initiative has a positive outcome (obtained or pinned)")
    notes = _notes(recs, queries)
    if test_ids is not None:
        return _by_ids(name, recs, queries, test_ids, train_ids, notes)
    if dated:
        train, test = _time_split(queries)
        split = (f"time: the latest {TEST_SHARE:.0%} of the queries by their first positive outcome "
                 f"({len(test)}, from {queries[test[0]].when}) are test, the earlier ones train")
        return _part(name, recs, queries, train, test, _today(list(queries.values())), split, notes)
    return _cross_fitted(name, recs, queries, folds, seed, notes)


def _by_ids(name: str, recs: _Folder, queries: dict[str, EvalQuery], test_ids: Path, train_ids: Path | None,
            notes: list[str]) -> EvalSet:
    """The split the ids files give: ``test_ids`` test, ``train_ids`` (else every other query) train."""
    test = _check_ids(read_ids(test_ids), queries, recs, test_ids)
    if train_ids is not None:
        train = _check_ids(read_ids(train_ids), queries, recs, train_ids)
    else:
        tested = set(test)
        train = [i for i in queries if i not in tested]
    split = f"train: {'ids of ' + train_ids.name if train_ids else 'every other query'}; test: ids of {test_ids.name}"
    return _part(name, recs, queries, train, test, _today([queries[i] for i in [*train, *test]]), split, notes)


def _notes(recs: _Folder, queries: dict[str, EvalQuery]) -> list[str]:
    notes = []
    if len(queries) < len(recs.initiatives):
        notes.append(f"{len(recs.initiatives) - len(queries)} initiative(s) without a positive outcome: not queries")
    other = Counter(o.decision.value for o in recs.outcomes if o.decision.value not in POSITIVE)
    if other:
        notes.append("outcomes other than obtained/pinned left out: "
                     + ", ".join(f"{n} {d}" for d, n in sorted(other.items())))
    return notes


def _cross_fitted(name: str, recs: _Folder, queries: dict[str, EvalQuery], folds: int, seed: int,
                  notes: list[str]) -> EvalSet:
    """The queries dealt into ``folds`` seeded folds; each fold's test ranked by systems fitted on the others."""
    ids = sorted(queries)
    k = min(folds, len(ids))
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = {ids[i]: n % k for n, i in enumerate(order)}
    why = (f"{recs.undated} positive outcome(s) without occurred_at" if recs.undated
           else "every positive outcome on one timestamp")
    split = (f"cross-fitting ({why}: no time order): {len(ids)} queries in {k} seeded folds (seed {seed}), "
             "each fold ranked by systems fitted on the other folds")
    today = _today(list(queries.values()))
    parts = [
        _part(name, recs, queries, [i for i in ids if fold_of[i] != f], [i for i in ids if fold_of[i] == f],
              today, f"{split}; fold {f + 1}/{k}", notes)
        for f in range(k)
    ]
    fold_notes = list(notes) + ([EMPTY_TRAIN] if any(not p.train for p in parts) else [])
    return EvalSet(name, list(recs.providers), list(recs.resources), [], [q for p in parts for q in p.test], [],
                   split, today, fold_notes, folds=parts)
