"""Labelled evaluation sets built from the real data of ``../shared/data``, split in time.

Records come from :func:`matcher.importers.datasets.dataset_rows`, the same adapters that load the
sets into the catalogue, so evaluation sees exactly what the product would. This module only
chooses the candidate resources, the queries and their relevant resources, and splits them:

| name | query → relevant | candidates | train | test |
| --- | --- | --- | --- | --- |
| ``reserve-parlementaire`` | grant → its budget programme | ``rp-prog-*`` except 122 | 2013–2015 | 2016 |
| ``betagouv`` | startup → its sponsors (none: skipped) | ``bg-org-*`` | first phase < 2022 | 2022–2023 |
| ``betagouv-incubators`` | startup → its incubator | ``bg-inc-*`` | first phase < 2022 | 2022–2023 |
| ``eig-defis`` | défi → host ministry (see below) | ``eig-min-*`` | promotions 1–4 | the last two (5, 6) |

Programme 122 (works by communes, 59 % of the grants) is dropped from queries *and* candidates:
the set stands for association projects. ``history`` holds the outcomes of the train split only;
they become the catalogue's past partnerships, and test outcomes are never shown to a system.

``eig-defis`` labels are free text (88 spellings for 100 défis). They are mapped to a coarse
ministry level by the ordered keyword rules of :data:`eval.eig.EIG_MINISTRIES` (first match wins; e.g.
"Direction générale de la gendarmerie nationale (DGGN)" → ``interieur``, "Shom" → ``armees``,
"DREES" → ``affaires-sociales``); an unmatched label goes to ``autre`` and is counted in
``EvalSet.notes``. Défi dates are page dates (mostly October 2021), so the split uses the promotion,
the one field read from the raw file besides what the importer yields.

``train_file`` / ``test_file`` replace the set's main file (grants, startups or défis) with two JSONL files
of its schema: every record of one is train, of the other test, whatever its date (an id in both: ``ValueError``).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from eval.eig import EIG_MINISTRIES, eig_candidates, eig_ministry
from matcher import territory
from matcher.importers.datasets import dataset_rows, slug
from matcher.schemas import Initiative, Outcome, Provider, Resource

__all__ = ["DEV_SPLITS", "EIG_MINISTRIES", "EVAL_SETS", "EvalQuery", "EvalSet", "eig_ministry", "load_eval_set",
           "with_slices"]

_POSITIVE = {"obtained"}


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query: an initiative and the ids of the resources it really obtained.

    ``grades`` (judged sets only): resource id → graded relevance 0–3, absent ids 0; ``relevant``
    is then the ids graded 2 or more, and may be empty (nothing fits this project)."""

    id: str
    initiative: Initiative
    relevant: frozenset[str]
    when: date | None = None
    slices: dict[str, str] = field(default_factory=dict)
    grades: Mapping[str, int] | None = None


@dataclass
class EvalSet:
    """Candidates, train and test queries, and the train-only history of one labelled set."""

    name: str
    providers: list[Provider]
    resources: list[Resource]
    train: list[EvalQuery]
    test: list[EvalQuery]
    history: list[Outcome]
    split: str = ""
    today: date = field(default_factory=date.today)  # a day after every query, so date filters see every resource open
    notes: list[str] = field(default_factory=list)
    calibration: list[EvalQuery] = field(default_factory=list)
    """Labelled queries a calibration is fitted on instead of the train split's validation lists (the
    judged dev projects for the judged test split); never test queries."""
    folds: list[EvalSet] = field(default_factory=list)
    """Cross-fitting (:mod:`eval.folder_set`): sets of the same candidates, each with its own train and
    history; ``test`` is their tests end to end, each ranked after a fit on its fold. Empty: one fit."""

    @property
    def resource_ids(self) -> list[str]:
        return [r.id for r in self.resources]

    def provider_of(self) -> dict[str, str]:
        return {r.id: r.provider_id for r in self.resources}

    def summary(self) -> dict[str, Any]:
        out = {
            "name": self.name, "split": self.split, "candidates": len(self.resources),
            "providers": len(self.providers), "train": len(self.train), "test": len(self.test),
            "history": len(self.history), "notes": list(self.notes),
        }
        per_fold = lambda n: "/".join(str(n(f)) for f in self.folds) + " (per fold)"  # noqa: E731
        return out | ({"folds": len(self.folds), "train": per_fold(lambda f: len(f.train)),
                       "history": per_fold(lambda f: len(f.history))} if self.folds else {})


# --- set definitions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    source: str  # importer name in matcher.importers.datasets
    main: str  # the file that train/test files replace, relative to the data folder
    aux: tuple[str, ...]  # other files the importer reads
    prefix: str  # candidate resources' id prefix
    split: str  # human description, written into reports
    excluded: frozenset[str] = frozenset()  # candidate ids dropped, with their queries


_BG_AUX = ("betagouv-startups/organisations.jsonl", "betagouv-startups/incubators.jsonl")
EVAL_SETS: dict[str, _Spec] = {
    "reserve-parlementaire": _Spec(
        "reserve-parlementaire", "reserve-parlementaire/reserve_parlementaire_2013_2016.jsonl",
        ("reserve-parlementaire/programmes.jsonl",), "rp-prog-",
        "train: grants 2013–2015; test: grants 2016; programme 122 (communes' works) excluded",
        frozenset({"rp-prog-122"}),
    ),
    "betagouv": _Spec(
        "betagouv", "betagouv-startups/startups.jsonl", _BG_AUX, "bg-org-",
        "train: startups whose first phase started before 2022; test: 2022–2023; startups without sponsor skipped",
    ),
    "betagouv-incubators": _Spec(
        "betagouv", "betagouv-startups/startups.jsonl", _BG_AUX, "bg-inc-",
        "train: startups whose first phase started before 2022; test: 2022–2023",
    ),
    "eig-defis": _Spec(
        "eig-defis", "eig-defis/eig_defis.jsonl", (), "eig-min-",
        "train: promotions 1–4 (incl. 3 - DIG); test: the last two promotions (5, 6); "
        "labels mapped to 15 ministry-level hosts",
    ),
}


_YEARS: dict[str, dict[str, tuple[range, range]]] = {
    "reserve-parlementaire": {"test": (range(2013, 2016), range(2016, 2017)),
                              "dev": (range(2013, 2015), range(2015, 2016))},
    "betagouv": {"test": (range(1900, 2022), range(2022, 2024)), "dev": (range(1900, 2020), range(2020, 2022))},
}
"""(train years, held-out years) of each split, by importer."""
DEV_SPLITS: dict[str, str] = {
    "reserve-parlementaire": "dev: train grants 2013–2014; dev grants 2015 (2016 unused); programme 122 excluded",
    "betagouv": "dev: train startups whose first phase started before 2020; dev 2020–2021 (2022–2023 unused)",
    "betagouv-incubators": "dev: train startups whose first phase started before 2020; dev 2020–2021",
    "eig-defis": "dev: train the promotions before the last four; dev the next two (the last two unused)",
}
"""What each set's dev split holds: choices are made on it, never on the test years."""


@dataclass
class _Records:
    providers: dict[str, Provider] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    initiatives: dict[str, Initiative] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


_MODELS: dict[str, type[BaseModel]] = {"provider": Provider, "resource": Resource, "initiative": Initiative,
                                       "outcome": Outcome}


def _read(source: str, data: Path) -> _Records:
    """Every valid record the importer yields; invalid rows are counted, as an import would reject them."""
    recs = _Records()
    for row in dataset_rows(source, data):
        kind, payload = row[1], row[2]
        if isinstance(payload, str):
            recs.rejected[kind] += 1
            continue
        try:
            record = _MODELS[kind].model_validate(payload)
        except ValidationError:
            recs.rejected[kind] += 1
            continue
        if isinstance(record, Provider):
            recs.providers.setdefault(record.id, record)
        elif isinstance(record, Resource):
            recs.resources.setdefault(record.id, record)
        elif isinstance(record, Initiative):
            recs.initiatives[record.id] = record
        elif isinstance(record, Outcome):
            recs.outcomes.append(record)
    return recs


def _missing(data: Path, files: Iterable[str]) -> list[str]:
    return [str(data / f) for f in files if not (data / f).is_file()]


def _unavailable(name: str, where: Path, missing: list[str]) -> FileNotFoundError:
    return FileNotFoundError(f"jeu de données {name!r} absent de {where} : il manque {', '.join(missing)}")


def _staged(spec: _Spec, data: Path, main_file: Path, folder: Path) -> Path:
    """A data folder laid out as the importer expects, with ``main_file`` as the set's main file."""
    for rel, target in [(spec.main, main_file)] + [(a, data / a) for a in spec.aux]:
        link = folder / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target.resolve())
    return folder


def _eig_promotions(path: Path) -> dict[str, int]:
    """Initiative id → promotion number ("Promotion 3 - DIG" → 3), read from the raw défis file."""
    out: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # the importer reports it; here it is just not a query
            if not isinstance(d, dict) or not d.get("id"):
                continue
            m = re.search(r"(\d+)", str(d.get("promotion") or ""))
            if m:
                out["eig-" + slug(str(d["id"]))] = int(m.group(1))
    return out


def _year_split(train_years: range, test_years: range) -> Callable[[Initiative], str | None]:
    def split(ini: Initiative) -> str | None:
        y = ini.created_at.year
        return "train" if y in train_years else "test" if y in test_years else None

    return split


def load_eval_set(
    name: str,
    data: Path,
    *,
    train_file: Path | None = None,
    test_file: Path | None = None,
    split: str = "test",
) -> EvalSet:
    """Build the labelled set ``name`` (one of :data:`EVAL_SETS`) from the data folder ``data``.

    ``split`` ``"dev"`` moves the whole split back inside the train years (:data:`DEV_SPLITS`): the
    split every choice is made on, the test years being kept for reporting. Raises ``ValueError``
    for an unknown name or split, a lone ``train_file``/``test_file`` (or files with ``"dev"``) or an
    id in both splits, and ``FileNotFoundError`` (« jeu de données 'X' absent de DIR : il manque … »).
    """
    if name not in EVAL_SETS:
        raise ValueError(f"jeu de données inconnu {name!r} : attendu l'un de {', '.join(EVAL_SETS)}")
    if split not in ("dev", "test"):
        raise ValueError(f"unknown split {split!r}: expected dev or test")
    if (train_file is None) != (test_file is None):
        raise ValueError("give both --train and --test files, or neither")
    if train_file is not None and split == "dev":
        raise ValueError("--split dev chooses the years itself: give it without --train and --test")
    spec = EVAL_SETS[name]
    data = Path(data)
    if train_file is not None and test_file is not None:
        given = [Path(train_file), Path(test_file)]
        missing = [str(p) for p in given if not p.is_file()] + _missing(data, spec.aux)
        if missing:
            raise _unavailable(name, data, missing)
        with tempfile.TemporaryDirectory(prefix="maillage-eval-") as tmp:
            train = _read(spec.source, _staged(spec, data, given[0], Path(tmp) / "train"))
            test = _read(spec.source, _staged(spec, data, given[1], Path(tmp) / "test"))
        split_desc = f"train: {given[0].name}; test: {given[1].name}"
        return _assemble(name, spec, train, test, lambda ini, role: role, split_desc)

    missing = _missing(data, (spec.main, *spec.aux))
    if missing:
        raise _unavailable(name, data, missing)
    recs = _read(spec.source, data)
    if spec.source == "eig-defis":
        promos = _eig_promotions(data / spec.main)
        ordered = sorted(set(promos.values()))
        held = ordered[-4:-2] if split == "dev" else ordered[-2:]
        dropped = set(ordered[-2:]) if split == "dev" else set()

        def by_promotion(ini: Initiative, _role: str) -> str | None:
            p = promos.get(ini.id)
            return None if p is None or p in dropped else "test" if p in held else "train"

        return _assemble(name, spec, recs, recs, by_promotion, DEV_SPLITS[name] if split == "dev" else spec.split)
    train_years, test_years = _YEARS[spec.source][split]
    by_year = _year_split(train_years, test_years)
    return _assemble(name, spec, recs, recs, lambda ini, _role: by_year(ini),
                     DEV_SPLITS[name] if split == "dev" else spec.split)


def _assemble(
    name: str,
    spec: _Spec,
    train_recs: _Records,
    test_recs: _Records,
    role_of: Callable[[Initiative, str], str | None],
    split_desc: str,
) -> EvalSet:
    notes: list[str] = []
    providers_list, resources_list, relabel = _candidates(spec, train_recs, test_recs, notes)
    candidates = {r.id for r in resources_list}
    queries: dict[str, list[EvalQuery]] = {"train": [], "test": []}
    history: list[Outcome] = []
    dropped = Counter[str]()
    for role, recs in (("train", train_recs), ("test", test_recs)):
        _add_queries(recs, role, role_of, relabel, spec.excluded, candidates, queries[role],
                     history if role == "train" else None, dropped)
    both = sorted({q.id for q in queries["train"]} & {q.id for q in queries["test"]})
    if both:
        shown = ", ".join(both[:20]) + (f" … ({len(both)} in all)" if len(both) > 20 else "")
        raise ValueError(f"split leak in {name}: {len(both)} id(s) in both train and test: {shown}")
    for reason, n in sorted(dropped.items()):
        notes.append(f"{n} record(s) skipped: {reason}")
    for recs in {id(train_recs): train_recs, id(test_recs): test_recs}.values():
        for kind, n in sorted(recs.rejected.items()):
            notes.append(f"{n} {kind} row(s) rejected by validation")

    seen = Counter(o.resource_id for o in history)
    kind_of = {r.id: r.kind.value for r in resources_list}
    test = [with_slices(q, seen, kind_of) for q in sorted(queries["test"], key=lambda q: q.id)]
    train = sorted(queries["train"], key=lambda q: q.id)
    whens = [q.when for q in train + test if q.when is not None]
    today = max(whens) + timedelta(days=1) if whens else date.today()
    return EvalSet(name, providers_list, resources_list, train, test, history, split_desc, today, notes)


def _candidates(
    spec: _Spec, train_recs: _Records, test_recs: _Records, notes: list[str]
) -> tuple[list[Provider], list[Resource], Callable[[str], str | None]]:
    """``(providers, candidate resources, relabel)``: ``relabel`` maps a record's resource id to its
    candidate id (EIG: host administration → ministry; ``None`` when unknown)."""
    if spec.source == "eig-defis":
        providers_list, resources_list = eig_candidates()
        host_names = {**test_recs.providers, **train_recs.providers}
        relabel: Callable[[str], str | None] = lambda rid: (  # noqa: E731
            f"eig-min-{eig_ministry(host_names[rid].name)}" if rid in host_names else None
        )
        unmapped = sorted({p.name for p in host_names.values() if eig_ministry(p.name) == "autre"})
        if unmapped:
            notes.append(f"{len(unmapped)} EIG host label(s) mapped to 'autre': {'; '.join(unmapped)}")
        return providers_list, resources_list, relabel
    all_res = {**test_recs.resources, **train_recs.resources}
    resources_list = [r for rid, r in sorted(all_res.items())
                      if rid.startswith(spec.prefix) and rid not in spec.excluded]
    owners = {r.provider_id for r in resources_list}
    all_prov = {**test_recs.providers, **train_recs.providers}
    providers_list = [p for pid, p in sorted(all_prov.items()) if pid in owners]
    return providers_list, resources_list, lambda rid: rid


def _add_queries(
    recs: _Records,
    role: str,
    role_of: Callable[[Initiative, str], str | None],
    relabel: Callable[[str], str | None],
    excluded: frozenset[str],
    candidates: set[str],
    out: list[EvalQuery],
    history: list[Outcome] | None,
    dropped: Counter[str],
) -> None:
    """Append to ``out`` the queries of ``recs`` that fall in ``role``, with their relevant candidates;
    their positive outcomes go to ``history`` (train only), and skipped records to ``dropped``."""
    positives: dict[str, list[Outcome]] = {}
    for o in recs.outcomes:
        if o.decision.value in _POSITIVE:
            positives.setdefault(o.initiative_id, []).append(o)
    for iid, ini in recs.initiatives.items():
        if role_of(ini, role) != role:
            continue
        outs = positives.get(iid, [])
        labels = {relabel(o.resource_id) for o in outs}
        if labels & excluded:
            dropped["excluded resource"] += 1
            continue
        relevant = frozenset(lab for lab in labels if lab in candidates)
        if not relevant:
            dropped["no relevant candidate"] += 1
            continue
        out.append(EvalQuery(iid, ini, relevant, ini.created_at.date()))
        if history is not None:
            history.extend(o.model_copy(update={"resource_id": relabel(o.resource_id)}) for o in outs
                           if relabel(o.resource_id) in candidates)


def with_slices(q: EvalQuery, seen: Counter[str], kind_of: dict[str, str]) -> EvalQuery:
    """``q`` with its slices: territory kind, seen / cold / mixed by the train history ``seen``, kinds."""
    slices: dict[str, str] = {}
    if q.initiative.territory != "FR":
        slices["territory"] = territory.territory_kind(q.initiative.territory)
    states = {"seen" if seen[r] else "cold" for r in q.relevant}
    slices["popularity"] = states.pop() if len(states) == 1 else "mixed"
    slices["kind"] = "+".join(sorted({kind_of[r] for r in q.relevant}))
    return EvalQuery(q.id, q.initiative, q.relevant, q.when, slices, q.grades)
