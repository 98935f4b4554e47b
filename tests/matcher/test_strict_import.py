"""Lenient input refused at the boundary (issue 17 item 14): NUL characters (stored on SQLite, a
server error on PostgreSQL), amounts given as text or booleans, and files that are not UTF-8."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher._json_types import NUL_MESSAGE
from matcher.importers import read_file_rows, run_import
from matcher.schemas import Initiative, MatchQuery, Outcome, Resource
from matcher.store import Catalogue
from tests.conftest import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalogue]:
    with open_store(request.param, tmp_path) as cat:
        yield cat


def _lines(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_nul_is_refused_in_every_text_field_naming_it() -> None:
    with pytest.raises(ValidationError, match="title") as err:
        Initiative(id="ini-1", title="Jardin\x00", territory="93066")
    assert NUL_MESSAGE in str(err.value)
    for build in (lambda: Initiative(id="ini-1", title="Jardin", themes=["a\x00"]),
                  lambda: Resource(id="r", kind="financement", provider_id="p", title="t", description="\x00"),
                  lambda: MatchQuery(text="jardin \x00 partagé"),
                  lambda: Outcome(initiative_id="i", resource_id="r", decision="obtained", reason="\x00")):
        with pytest.raises(ValidationError, match="NUL"):
            build()


def test_an_import_with_nul_rejects_the_line_on_both_databases(store: Catalogue, tmp_path: Path) -> None:
    path = _lines(tmp_path / "i.jsonl", [
        {"id": "ini-ok", "title": "Recyclerie", "territory": "75056"},
        {"id": "ini-nul", "title": "Recyclerie\u0000", "territory": "75056"},
        {"id": "ini-nul2", "title": "Recyclerie", "description": "texte\u0000caché", "territory": "75056"},
    ])
    report = run_import(store, read_file_rows(path, "initiative"))
    assert report.inserted == {"initiative": 1} and report.rejected == 2
    assert [str(e).split(":")[0] for e in report.errors] == ["ligne 2 (initiative) ", "ligne 3 (initiative) "]
    assert all("NUL" in str(e) for e in report.errors)
    assert [i.id for i in store.initiatives()] == ["ini-ok"]


@pytest.mark.parametrize("given", ["12", True, "12.5", False])
def test_an_amount_as_text_or_boolean_is_refused_on_import(store: Catalogue, tmp_path: Path, given: object) -> None:
    path = _lines(tmp_path / "i.jsonl", [{"id": "ini-a", "title": "Projet", "territory": "75056",
                                          "amount_sought": given}])
    report = run_import(store, read_file_rows(path, "initiative"))
    assert report.rejected == 1 and "amount_sought : un nombre est attendu" in str(report.errors[0])
    assert store.initiatives() == []


def test_capacity_and_active_take_their_json_types_on_import(store: Catalogue, tmp_path: Path) -> None:
    rows = [(1, "provider", {"id": "prov", "name": "Mairie", "kind": "commune"}),
            (2, "resource", {"id": "r1", "kind": "financement", "provider_id": "prov", "title": "t",
                             "capacity": "5"}),
            (3, "resource", {"id": "r2", "kind": "financement", "provider_id": "prov", "title": "t",
                             "active": "yes"}),
            (4, "resource", {"id": "r3", "kind": "financement", "provider_id": "prov", "title": "t",
                             "capacity": 5, "amount_max": 1000})]
    report = run_import(store, rows)
    assert [e.line for e in report.errors] == [2, 3]
    assert "capacity : un nombre est attendu" in str(report.errors[0])
    assert "active : vrai ou faux (true ou false) est attendu" in str(report.errors[1])
    assert [r.id for r in store.resources()] == ["r3"]


def test_csv_cells_are_read_as_numbers_and_text_that_is_none_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text("id,title,territory,amount_sought\nini-1,Projet,75056,12\nini-2,Projet,75056,\"12,5\"\n"
                    "ini-3,Projet,75056,douze\n", encoding="utf-8")
    rows = list(read_file_rows(path, "initiative"))
    assert rows[0][2]["amount_sought"] == 12 and rows[1][2]["amount_sought"] == 12.5
    assert rows[2][2]["amount_sought"] == "douze"  # left as text: the import refuses it, by its line


def test_a_jsonl_file_that_is_not_utf8_rejects_the_line_by_number(store: Catalogue, tmp_path: Path) -> None:
    path = tmp_path / "i.jsonl"
    good = json.dumps({"id": "ini-ok", "title": "Épicerie", "territory": "75056"}, ensure_ascii=False)
    bad = '{"id": "ini-latin", "title": "Épicerie", "territory": "75056"}'.encode("latin-1")
    path.write_bytes(good.encode() + b"\n" + bad + b"\n")
    report = run_import(store, read_file_rows(path, "initiative"))
    assert report.inserted == {"initiative": 1} and report.rejected == 1
    assert str(report.errors[0]).startswith("ligne 2 (initiative) : texte non UTF-8 : l'octet b'\\xc9' à la colonne 31")
    assert [i.title for i in store.initiatives()] == ["Épicerie"]  # nothing stored with U+FFFD


def test_a_csv_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_bytes(b"id,title,territory\nini-1,Projet,75056\n" + "ini-2,Épicerie,75056\n".encode("latin-1"))
    with pytest.raises(ValueError,
                       match=r"ligne 3 : texte non UTF-8 : l'octet b'\\xc9' à la colonne 7.*rien n'a été importé"):
        list(read_file_rows(path, "initiative"))
