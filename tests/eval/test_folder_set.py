"""Labelled sets brought as a folder of import files (``eval/folder_set.py``): splits, cross-fitting,
an empty train split, and errors naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.folder_set import EMPTY_TRAIN, load_folder_set
from eval.harness import evaluate
from eval.report import write_report
from eval.systems import make_systems
from indexes import HashingEncoder

THEMES = ["jardin partagé", "théâtre de rue", "football féminin", "aide aux devoirs", "recyclerie", "chorale"]


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _folder(root: Path, n: int = 10, *, dated: bool = True, same_day: bool = False) -> Path:
    """``n`` initiatives, each with an obtained outcome on one of three resources, dated a month apart
    (or undated, or all on one day); plus an initiative with a refusal only."""
    _jsonl(root / "providers.jsonl", [{"id": "p1", "name": "Ministère de la culture", "kind": "ministere"},
                                      {"id": "p2", "name": "Agence du sport", "kind": "agence"}])
    _jsonl(root / "resources.jsonl", [
        {"id": "r-culture", "provider_id": "p1", "kind": "financement", "title": "Aide aux arts de la rue",
         "description": "Théâtre de rue, chorale, spectacle vivant."},
        {"id": "r-sport", "provider_id": "p2", "kind": "financement", "title": "Fonds pour le sport",
         "description": "Football, clubs sportifs."},
        {"id": "r-social", "provider_id": "p2", "kind": "accompagnement", "title": "Accompagnement social",
         "description": "Aide aux devoirs, jardin partagé, recyclerie."},
    ])
    target = {"jardin partagé": "r-social", "théâtre de rue": "r-culture", "football féminin": "r-sport",
              "aide aux devoirs": "r-social", "recyclerie": "r-social", "chorale": "r-culture"}
    inis, outs = [], []
    for i in range(n):
        theme = THEMES[i % len(THEMES)]
        inis.append({"id": f"i{i:02d}", "title": f"Projet {theme}", "description": f"Un projet de {theme}.",
                     "territory": "86"})
        outcome: dict[str, Any] = {"id": f"o{i:02d}", "initiative_id": f"i{i:02d}", "resource_id": target[theme],
                                   "decision": "obtained"}
        if dated:
            day = "2024-01-01" if same_day else f"2024-{1 + i % 12:02d}-{1 + i // 12:02d}"
            outcome["occurred_at"] = f"{day}T00:00:00+00:00"
        outs.append(outcome)
    inis.append({"id": "i-refus", "title": "Projet refusé", "description": "Rien."})
    outs.append({"initiative_id": "i-refus", "resource_id": "r-sport", "decision": "refused"})
    _jsonl(root / "initiatives.jsonl", inis)
    _jsonl(root / "outcomes.jsonl", outs)
    return root


def _ids(path: Path, ids: list[str]) -> Path:
    path.write_text("\n".join(ids) + "\n", encoding="utf-8")
    return path


def test_default_split_is_time_the_latest_fifth_by_first_positive_outcome(tmp_path: Path) -> None:
    es = load_folder_set(_folder(tmp_path / "set"))
    assert [q.id for q in es.test] == ["i08", "i09"]  # the two latest of ten
    assert [q.id for q in es.train] == [f"i{i:02d}" for i in range(8)]
    assert sorted(o.initiative_id for o in es.history) == [q.id for q in es.train]  # never a test label
    assert es.test[0].relevant == frozenset({"r-sport"}) and es.test[0].when is not None
    assert es.today > max(q.when for q in es.test if q.when)
    assert es.test[0].slices["popularity"] == "seen" and "territory" in es.test[0].slices
    assert "time" in es.split and not es.folds
    assert any("1 initiative(s) without a positive outcome" in n for n in es.notes)
    assert any("1 refused" in n for n in es.notes)


def test_pinned_is_a_positive_too(tmp_path: Path) -> None:
    root = _folder(tmp_path / "set")
    lines = (root / "outcomes.jsonl").read_text().splitlines()
    lines[-1] = json.dumps({"initiative_id": "i-refus", "resource_id": "r-sport", "decision": "pinned",
                            "occurred_at": "2025-06-01T00:00:00+00:00"})
    (root / "outcomes.jsonl").write_text("\n".join(lines) + "\n")
    es = load_folder_set(root)
    latest = {q.id: q for q in es.test}
    assert latest["i-refus"].relevant == frozenset({"r-sport"})  # the latest query: a test one


def test_test_ids_choose_the_split_and_the_others_train(tmp_path: Path) -> None:
    root = _folder(tmp_path / "set")
    es = load_folder_set(root, test_ids=_ids(tmp_path / "t.txt", ["i03", "# a comment", "i00"]))
    assert [q.id for q in es.test] == ["i00", "i03"]
    assert {q.id for q in es.train} == {f"i{i:02d}" for i in range(10)} - {"i00", "i03"}
    es = load_folder_set(root, test_ids=tmp_path / "t.txt", train_ids=_ids(tmp_path / "a.txt", ["i01", "i02"]))
    assert [q.id for q in es.train] == ["i01", "i02"]
    with pytest.raises(ValueError, match=r"u\.txt: 1 unknown initiative id\(s\): nope"):
        load_folder_set(root, test_ids=_ids(tmp_path / "u.txt", ["i01", "nope"]))
    with pytest.raises(ValueError, match=r"without a positive outcome .*: i-refus"):
        load_folder_set(root, test_ids=_ids(tmp_path / "v.txt", ["i-refus"]))
    with pytest.raises(ValueError, match="split leak"):
        load_folder_set(root, test_ids=tmp_path / "t.txt", train_ids=_ids(tmp_path / "b.txt", ["i00", "i05"]))
    with pytest.raises(ValueError, match="--train-ids needs --test-ids"):
        load_folder_set(root, train_ids=tmp_path / "a.txt")


@pytest.mark.parametrize("kind", ["no occurred_at", "one timestamp"])
def test_undated_outcomes_are_cross_fitted(tmp_path: Path, kind: str) -> None:
    es = load_folder_set(_folder(tmp_path / "set", dated=False, same_day=kind == "one timestamp"), folds=3)
    assert "cross-fitting" in es.split and len(es.folds) == 3
    assert [q.id for f in es.folds for q in f.test] == [q.id for q in es.test]
    assert sorted(q.id for q in es.test) == [f"i{i:02d}" for i in range(10)]  # every query tested once
    for fold in es.folds:
        tested = {q.id for q in fold.test}
        assert {q.id for q in fold.train} == {q.id for q in es.test} - tested
        assert not tested & {o.initiative_id for o in fold.history}
        assert all(q.when is None for q in fold.test)
    result = evaluate(es, make_systems(["popularity", "maillage"]), encoder=HashingEncoder(64), resamples=50,
                      progress=False)
    assert result.dataset["folds"] == 3 and result.dataset["test_evaluated"] == 10
    assert len(result.systems["maillage"].rankings) == 10
    # Popularity is fitted on each fold's train: a fold's own labels never count for it.
    assert result.systems["popularity"].summary["ndcg@10"].value > 0
    assert result.calibration["maillage"]["pairs"] > 0  # probabilities gathered fold by fold
    sample = evaluate(es, make_systems(["random"]), encoder=HashingEncoder(64), limit=4, resamples=20, progress=False)
    assert sample.dataset["test_evaluated"] == 4 and len(sample.systems["random"].rankings) == 4


def test_an_empty_train_split_ranks_with_the_prior_alone_and_the_report_says_so(tmp_path: Path) -> None:
    root = _folder(tmp_path / "set", n=4)
    es = load_folder_set(root, test_ids=_ids(tmp_path / "all.txt", ["i00", "i01", "i02", "i03"]))
    assert es.train == [] and es.history == [] and EMPTY_TRAIN in es.notes
    result = evaluate(es, make_systems(["random", "popularity", "tfidf-lr", "maillage"]), encoder=HashingEncoder(64),
                      resamples=50, progress=False)
    assert all(len(r) == 3 for r in result.systems["tfidf-lr"].rankings)  # nothing learned: every candidate
    write_report(result, tmp_path / "out")
    assert "prior alone" in (tmp_path / "out" / "report.md").read_text()
    single = load_folder_set(_folder(tmp_path / "one", n=1))  # one dated query: one timestamp, one fold
    assert single.folds and single.folds[0].train == [] and EMPTY_TRAIN in single.notes


@pytest.mark.parametrize(
    ("file", "line", "text", "message"),
    [
        ("resources.jsonl", 2, "{not json", r"resources\.jsonl:2 : JSON mal formé"),
        ("resources.jsonl", 1, '{"id": "r1", "provider_id": "p1", "title": "X", "kind": "magie"}',
         r"resources\.jsonl:1 : kind : valeur non prévue : attendu"),
        ("resources.jsonl", 3, '{"id": "r-x", "provider_id": "p9", "title": "X", "kind": "financement"}',
         r"resources\.jsonl:3 : provider_id : financeur inconnu 'p9'"),
        ("outcomes.jsonl", 4, '{"initiative_id": "i03", "resource_id": "r-none", "decision": "obtained"}',
         r"outcomes\.jsonl:4 : resource_id : ressource inconnue 'r-none'"),
        ("initiatives.jsonl", 2, '{"id": "i00", "title": "Encore"}', r"initiatives\.jsonl:2 : id 'i00' given twice"),
    ],
)
def test_a_bad_line_is_an_error_naming_file_and_line(tmp_path: Path, file: str, line: int, text: str,
                                                    message: str) -> None:
    root = _folder(tmp_path / "set")
    lines = (root / file).read_text().splitlines()
    lines[line - 1] = text
    (root / file).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        load_folder_set(root)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "set")
    (root / "providers.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing providers\.jsonl"):
        load_folder_set(root)
