"""Write a named labelled set (:data:`eval.datasets.EVAL_SETS`) as a folder of Maillage's import files.

:func:`export_eval_set` writes what the named set's evaluation sees, so that
``maillage eval --dataset DIR --test-ids DIR/test_ids.txt`` (read by :mod:`eval.folder_set`) gives the
same figures as ``maillage eval --dataset NAME``:

- ``providers.jsonl``, ``resources.jsonl``: the candidates and their providers, in the set's order
  (the random baseline and ties depend on it);
- ``initiatives.jsonl``: every query of the test split (train and test), by id;
- ``outcomes.jsonl``: an ``obtained`` outcome per query and relevant resource: the train history as
  it is (EIG hosts already mapped to their ministry), and for test queries one outcome per relevant
  resource dated on the query's day (what the importers give: a startup's sponsorship and a grant are
  dated on the startup's first phase and the grant's year);
- ``test_ids.txt``: the test split's queries; ``dev_train_ids.txt`` and ``dev_ids.txt``: the dev
  split's (``--train-ids DIR/dev_train_ids.txt --test-ids DIR/dev_ids.txt``);
- ``set.json``: the name, the splits' descriptions and counts, and the notes of the named set.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.datasets import EVAL_SETS, EvalQuery, EvalSet, load_eval_set
from matcher.schemas import Outcome

__all__ = ["export_eval_set"]


def _outcome_id(query: str, resource: str) -> str:
    oid = f"{query}:{resource}"
    return oid if len(oid) <= 128 else f"{query[:100]}:{hashlib.blake2b(oid.encode(), digest_size=8).hexdigest()}"


def _test_outcomes(name: str, queries: list[EvalQuery]) -> list[Outcome]:
    out = []
    for q in queries:
        dates: dict[str, Any] = {}
        if q.when is not None:
            when = datetime(q.when.year, q.when.month, q.when.day, tzinfo=UTC)
            dates = {"occurred_at": when, "recorded_at": when}
        out += [Outcome.model_validate({"id": _outcome_id(q.id, rid), "initiative_id": q.id, "resource_id": rid,
                                        "decision": "obtained", "actor": "import", "source": name, **dates})
                for rid in sorted(q.relevant)]
    return out


def _write(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _jsonl(path: Path, records: list[Any], exclude: set[str] | None = None) -> None:
    lines = [json.dumps(r.model_dump(mode="json", exclude=exclude), ensure_ascii=False) for r in records]
    _write(path, "".join(line + "\n" for line in lines))


def _ids(path: Path, queries: list[EvalQuery]) -> None:
    _write(path, "".join(f"{q.id}\n" for q in queries))


def export_eval_set(name: str, data: Path, out: Path) -> dict[str, Any]:
    """Write the named set ``name`` read from ``data`` into the folder ``out`` (created; files replaced);
    returns the manifest written to ``set.json``. Raises what :func:`load_eval_set` raises."""
    if name not in EVAL_SETS:
        raise ValueError(f"jeu de données inconnu {name!r} : attendu l'un de {', '.join(EVAL_SETS)}")
    test_split = load_eval_set(name, data)
    dev_split = load_eval_set(name, data, split="dev")
    queries = sorted(test_split.train + test_split.test, key=lambda q: q.id)
    extra = {q.id for q in dev_split.train + dev_split.test} - {q.id for q in queries}
    if extra:  # the dev split's queries lie inside the test split's train years
        raise ValueError(f"{name}: {len(extra)} dev quer(ies) outside the test split: {', '.join(sorted(extra)[:5])}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _jsonl(out / "providers.jsonl", test_split.providers)
    _jsonl(out / "resources.jsonl", test_split.resources, exclude={"created_at", "updated_at"})  # load time, not data
    _jsonl(out / "initiatives.jsonl", [q.initiative for q in queries])
    _jsonl(out / "outcomes.jsonl", test_split.history + _test_outcomes(name, test_split.test))
    _ids(out / "test_ids.txt", test_split.test)
    _ids(out / "dev_train_ids.txt", dev_split.train)
    _ids(out / "dev_ids.txt", dev_split.test)
    manifest = {"name": name, "source": str(data), "splits": {
        "test": _split(test_split, "test_ids.txt", None),
        "dev": _split(dev_split, "dev_ids.txt", "dev_train_ids.txt"),
    }, "notes": test_split.notes}
    _write(out / "set.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return manifest


def _split(es: EvalSet, test_file: str, train_file: str | None) -> dict[str, Any]:
    return {"description": es.split, "train": len(es.train), "test": len(es.test), "test_ids": test_file,
            "train_ids": train_file or "every other initiative"}
