"""The judged set: handwritten projects graded 0–3 against every resource of the demo catalogue.

``eval/judged/test.jsonl`` and ``eval/judged/dev.jsonl`` follow ``eval/judged/README.md`` (one
project a line: ``id``, ``text``, ``territory``, ``legal_form``, ``judgments``, ``fits``, ``note``).
:func:`load_judged_set` turns one split into an :class:`~eval.datasets.EvalSet`:

- candidates: the demo catalogue's resources and providers (``matcher/demo``), as shipped;
- train: the demo initiatives with at least one ``obtained`` outcome, those outcomes as history
  (what the other sets do: only positive outcomes become past partnerships);
- test: the judged projects, each an :class:`~matcher.schemas.Initiative` built from what a person
  types in the widget: title = the first sentence (cut to :data:`TITLE_WORDS` words), description =
  the whole text, territory (``FR`` when none was picked) and legal form; everything else unknown.
  ``grades`` holds the judgments (absent ids are 0) and ``relevant`` the grade ≥ 2 ids, so a
  project without a fitting resource has an empty ``relevant``;
- ``today``: :data:`REFERENCE_DATE`, the catalogue's snapshot date the judgments assume.

Dev is for choices (thresholds, parameters), test for reporting only. Test queries carry two
slices: ``territory`` (:func:`_place`: urban / rural commune, département, overseas, Corsica,
national) and ``legal_form``. :func:`spread_tables` gives the split's spread (legal forms,
territories, themes of the fitting resources) as the Markdown tables of ``eval/judged/README.md``.

The file is validated strictly; any error raises ``ValueError`` naming the file, line and project id.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from eval.datasets import EvalQuery, EvalSet
from matcher.demo_catalogue import demo_dir
from matcher.importers.files import read_file_rows
from matcher.schemas import Initiative, LegalForm, Outcome, Provider, Resource
from matcher.territory import Level, TerritoryError, parse_territory, territory_kind

__all__ = ["JUDGED_DIR", "JUDGED_SPLITS", "REFERENCE_DATE", "TITLE_WORDS", "judged_path", "load_judged_set",
           "read_judged", "spread_tables"]

JUDGED_DIR = Path(__file__).resolve().parent / "judged"
JUDGED_SPLITS = ("dev", "test")
REFERENCE_DATE = date(2026, 11, 28)
"""The demo catalogue's snapshot date: what is open, closed or annual-reopened in the judgments."""
TITLE_WORDS = 12

_ID_PREFIX = {"dev": "jd-", "test": "jt-"}
_FIELDS = {"id", "text", "territory", "legal_form", "judgments", "fits", "note"}
_LEGAL_FORMS = tuple(f.value for f in LegalForm)
# When a judged project "was created": after every demo outcome, before the reference date.
_CREATED = datetime(2026, 11, 27, tzinfo=UTC)


def judged_path(split: str) -> Path:
    """``eval/judged/<split>.jsonl``; raises ``ValueError`` for a split other than dev or test."""
    if split not in JUDGED_SPLITS:
        raise ValueError(f"partie du jeu jugé inconnue {split!r} : attendu l'une de {', '.join(JUDGED_SPLITS)}")
    return JUDGED_DIR / f"{split}.jsonl"


def load_judged_set(split: str = "test", *, path: Path | None = None) -> EvalSet:
    """The judged set's ``split`` (``"dev"`` or ``"test"``) over the demo catalogue.

    ``path`` replaces ``eval/judged/<split>.jsonl`` (tests); its ids must still carry the split's
    prefix (``jt-`` for test, ``jd-`` for dev). Raises ``FileNotFoundError`` when the file is
    missing and ``ValueError`` naming the line and id for any invalid project.
    """
    default = judged_path(split)  # validates the split, with or without ``path``
    file = Path(path) if path is not None else default
    if not file.is_file():
        raise FileNotFoundError(f"jeu jugé « {split} » indisponible : fichier absent {file}")
    providers = _demo(Provider, "provider", "providers.jsonl")
    resources = _demo(Resource, "resource", "resources.jsonl")
    test = list(_projects(file, split, {r.id for r in resources}))
    if not test:
        raise ValueError(f"{file}: no project")
    train, history = _train(_demo(Initiative, "initiative", "initiatives.jsonl"),
                            _demo(Outcome, "outcome", "outcomes.jsonl"))
    n_fit = sum(1 for q in test if q.relevant)
    # The test split is calibrated on the dev split's judgments (when shipped): labels of the same kind,
    # never the test projects themselves. The dev split has no other split to calibrate on.
    dev = judged_path("dev")
    calibration = list(_projects(dev, "dev", {r.id for r in resources})) if split == "test" and dev.is_file() else []
    return EvalSet(
        name="judged", providers=providers, resources=resources, train=train, test=test, history=history,
        split=(f"judged {split} split ({file.name}): {len(test)} handwritten projects, {n_fit} with a fitting "
               f"resource, {len(test) - n_fit} with none; train: demo initiatives with obtained outcomes"),
        today=REFERENCE_DATE,
        notes=[f"judged {split}: {len(test) - n_fit} project(s) without a fitting resource are ranked (for "
               "nothing-fits and exposure figures) but left out of the per-query ranking metrics"]
        + ([f"calibrated on the {len(calibration)} judged dev projects"] if calibration else []),
        calibration=calibration,
    )


def _demo(model: Any, kind: str, name: str) -> list[Any]:
    """Every record of one demo file, validated (the shipped catalogue is valid: an error is a bug)."""
    out = []
    for line, row_kind, payload in read_file_rows(demo_dir() / name, kind):
        if isinstance(payload, str) or row_kind != kind:
            raise ValueError(f"demo catalogue {name} line {line}: {payload}")
        out.append(model.model_validate(payload))
    return out


def _train(initiatives: list[Initiative], outcomes: list[Outcome]) -> tuple[list[EvalQuery], list[Outcome]]:
    """Initiatives with an ``obtained`` outcome as train queries, and those outcomes as history."""
    positives: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.decision.value == "obtained":
            positives.setdefault(o.initiative_id, []).append(o)
    train, history = [], []
    for ini in sorted(initiatives, key=lambda i: i.id):
        outs = positives.get(ini.id)
        if outs:
            train.append(EvalQuery(ini.id, ini, frozenset(o.resource_id for o in outs), ini.created_at.date()))
            history.extend(outs)
    return train, history


def read_judged(file: Path, resource_ids: set[str]) -> list[EvalQuery]:
    """The projects of a file in the judged set's format whose grades name ``resource_ids`` (a
    deployment's own catalogue): any id of letters, digits, ``.``, ``_`` or ``-`` (64 at most), the
    other rules as for the shipped splits. Raises ``ValueError`` naming the line for an invalid project
    and ``FileNotFoundError`` for a missing file."""
    if not Path(file).is_file():
        raise FileNotFoundError(f"fichier de projets jugés absent : {file}")
    return list(_projects(Path(file), None, resource_ids))


def _projects(file: Path, split: str | None, resource_ids: set[str]) -> Iterator[EvalQuery]:
    seen: dict[str, int] = {}
    with file.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file.name} line {n}: not valid JSON ({exc.msg})") from None
            pid = record.get("id") if isinstance(record, dict) else None
            where = f"{file.name} line {n} ({pid!r})"
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            query = _project(record, where, split, resource_ids)
            if query.id in seen:
                raise ValueError(f"{where}: duplicate id, first on line {seen[query.id]}")
            seen[query.id] = n
            yield query


def _project(record: dict[str, Any], where: str, split: str | None, resource_ids: set[str]) -> EvalQuery:
    fields = set(record)
    if fields != _FIELDS:
        missing, extra = sorted(_FIELDS - fields), sorted(fields - _FIELDS)
        raise ValueError(f"{where}: fields must be {', '.join(sorted(_FIELDS))}; "
                         f"missing {missing or 'none'}, unexpected {extra or 'none'}")
    pid = record["id"]
    if split is None:
        if not isinstance(pid, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", pid):
            raise ValueError(f"{where}: id must be 1 to 64 letters, digits, '.', '_' or '-'")
    elif not isinstance(pid, str) or not re.fullmatch(rf"{_ID_PREFIX[split]}\d{{3}}", pid):
        raise ValueError(f"{where}: id must be {_ID_PREFIX[split]}NNN in the {split} split")
    text = record["text"]
    if not isinstance(text, str) or len(text.strip()) < 20:
        raise ValueError(f"{where}: text must be a French description of at least 20 characters")
    territory = _territory(record["territory"], where)
    legal_form = record["legal_form"]
    if legal_form is not None and legal_form not in _LEGAL_FORMS:
        raise ValueError(f"{where}: legal_form must be one of {', '.join(_LEGAL_FORMS)} or null; "
                         f"got {legal_form!r}")
    grades = _grades(record["judgments"], where, resource_ids)
    fits = record["fits"]
    if not isinstance(fits, bool):
        raise ValueError(f"{where}: fits must be true or false, got {fits!r}")
    if fits != any(g >= 2 for g in grades.values()):
        raise ValueError(f"{where}: fits is {str(fits).lower()} but the highest grade is "
                         f"{max(grades.values(), default=0)} (fits means some grade >= 2)")
    if not isinstance(record["note"], str):
        raise ValueError(f"{where}: note must be a string")
    try:
        initiative = Initiative(id=pid, title=_title(text), description=text, territory=territory or "FR",
                                legal_form=legal_form, created_at=_CREATED, updated_at=_CREATED)
    except ValidationError as exc:
        raise ValueError(f"{where}: not a valid initiative: {exc.errors()[0]['msg']}") from None
    relevant = frozenset(rid for rid, g in grades.items() if g >= 2)
    slices = {"territory": _place(territory), "legal_form": legal_form or "none"}
    return EvalQuery(pid, initiative, relevant, slices=slices, grades=grades)


def _place(code: str | None) -> str:
    """``national`` (none picked), ``overseas``, ``corsica``, ``urban-commune``, ``rural-commune`` or
    ``departement``: the territory spread the format asks for."""
    if code is None:
        return "national"
    kind = territory_kind(code)
    if kind == "overseas":
        return "overseas"
    if code.startswith(("2A", "2B")):
        return "corsica"
    if parse_territory(code).level is Level.departement:
        return "departement"
    return "urban-commune" if kind == "urban" else "rural-commune"


def spread_tables(split: str = "test") -> str:
    """Markdown tables of a split: projects per legal form and per territory (fits / none), and the
    number of fitting projects whose best-graded resources carry each theme (a project counts once
    per theme)."""
    ev = load_judged_set(split)
    themes = {r.id: r.themes for r in ev.resources}
    out = [f"{len(ev.test)} projects: {sum(1 for q in ev.test if q.relevant)} fit, "
           f"{sum(1 for q in ev.test if not q.relevant)} none.", ""]
    for key in ("legal_form", "territory"):
        fit = Counter(q.slices[key] for q in ev.test if q.relevant)
        none = Counter(q.slices[key] for q in ev.test if not q.relevant)
        out += [f"| {key} | fits | none |", "| --- | ---: | ---: |"]
        out += [f"| {v} | {fit[v]} | {none[v]} |" for v in sorted(fit | none, key=lambda v: (-(fit[v] + none[v]), v))]
        out.append("")
    per_theme: Counter[str] = Counter()
    for q in ev.test:
        if q.relevant and q.grades:
            top = max(q.grades.values())
            per_theme.update({t for r, g in q.grades.items() if g == top for t in themes[r]})
    out += ["| theme of the best-graded resources | fitting projects |", "| --- | ---: |"]
    out += [f"| {t} | {n} |" for t, n in sorted(per_theme.items(), key=lambda x: (-x[1], x[0]))]
    return "\n".join(out) + "\n"


def _territory(code: Any, where: str) -> str | None:
    """A commune listed in ``matcher/data/territory/communes.json``, a département, or None."""
    if code is None:
        return None
    if not isinstance(code, str):
        raise ValueError(f"{where}: territory must be a string or null, got {code!r}")
    try:
        t = parse_territory(code)
    except TerritoryError as exc:
        raise ValueError(f"{where}: unknown territory: {exc}") from None
    if t.code != code or not (t.level is Level.departement or (t.level is Level.commune and t.name)):
        raise ValueError(f"{where}: unknown territory {code!r}: expected a commune of "
                         "matcher/data/territory/communes.json or a département code")
    return code


def _grades(judgments: Any, where: str, resource_ids: set[str]) -> Mapping[str, int]:
    if not isinstance(judgments, dict):
        raise ValueError(f"{where}: judgments must be an object resource id → grade")
    for rid, g in judgments.items():
        if rid not in resource_ids:
            raise ValueError(f"{where}: unknown resource id {rid!r} in judgments")
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= 3:
            raise ValueError(f"{where}: grade of {rid} must be an integer 0–3, got {g!r}")
    return dict(sorted(judgments.items()))


def _title(text: str) -> str:
    """The first sentence, cut to :data:`TITLE_WORDS` words (with "…" when cut)."""
    first = re.split(r"(?<=[.!?…])\s+", text.strip(), maxsplit=1)[0]
    words = first.split()
    return " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
