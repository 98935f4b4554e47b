from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from matcher.importers import dataset_rows, read_file_rows, run_import
from matcher.store import Catalogue
from tests.conftest import SHARED_DATA, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalogue]:
    """The same tests on SQLite and on PostgreSQL: one code path for both."""
    with open_store(request.param, tmp_path) as cat:
        yield cat


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ini(i: int, **over: object) -> str:
    rec: dict[str, object] = {"id": f"ini-{i}", "title": f"Projet {i}", "territory": "93066"}
    rec.update(over)
    return json.dumps(rec, ensure_ascii=False)


def test_jsonl_keeps_good_rows_and_reports_bad_ones_with_line_numbers(store: Catalogue, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ini.jsonl", [
        ini(1),
        "{not json",
        ini(3, territory="99"),
        "",
        ini(5, legal_form="sarl"),
        '["a list"]',
        ini(7, amount_sought=1200),
    ])
    report = run_import(store, read_file_rows(path, "initiative"))
    assert report.inserted == {"initiative": 2}
    by_line = {e.line: e.message for e in report.errors}
    assert set(by_line) == {2, 3, 5, 6}
    assert by_line[2].startswith("JSON mal formé")
    assert "territory" in by_line[3] and "'99'" in by_line[3]
    assert "legal_form" in by_line[5] and "'sarl'" in by_line[5]
    assert "un objet JSON est attendu" in by_line[6]
    assert {i.id for i in store.initiatives()} == {"ini-1", "ini-7"}


def test_reimport_is_idempotent_and_detects_changes(store: Catalogue, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ini.jsonl", [ini(1), ini(2)])
    run_import(store, read_file_rows(path, "initiative"))
    again = run_import(store, read_file_rows(path, "initiative"))
    assert again.inserted.get("initiative", 0) == 0 and again.unchanged("initiative") == 2
    write_jsonl(path, [ini(1), ini(2, title="Projet 2 renommé")])
    third = run_import(store, read_file_rows(path, "initiative"))
    assert third.updated == {"initiative": 1}
    assert store.get_initiative("ini-2").title == "Projet 2 renommé"
    assert store.counts()["initiatives"] == 2


def test_csv_with_list_fields(store: Catalogue, tmp_path: Path) -> None:
    store.upsert_providers([])
    (tmp_path / "prov.csv").write_text("id,name,kind\nprov-a,Région Bretagne,region\n", encoding="utf-8")
    run_import(store, read_file_rows(tmp_path / "prov.csv", "provider"))
    (tmp_path / "res.csv").write_text(
        "id;kind;provider_id;title;coverage;eligible_legal_forms;amount_max;active\n"
        "res-a;financement;prov-a;Aide bretonne;R53|29;association|collectif;15000;oui\n"
        "res-b;financement;prov-x;Aide orpheline;FR;;;\n"
        "res-c;financement;prov-a;Aide;R53;;-3;\n",
        encoding="utf-8",
    )
    report = run_import(store, read_file_rows(tmp_path / "res.csv", "resource"))
    assert {e.line: e.message.split(" :")[0] for e in report.errors} == {3: "provider_id", 4: "amount_max"}
    res = store.get_resource("res-a")
    assert res.coverage == ["R53", "29"] and res.amount_max == 15000
    assert [f.value for f in res.eligible_legal_forms] == ["association", "collectif"]


def test_unsupported_file_type_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"type de fichier non pris en charge '\.xlsx'"):
        list(read_file_rows(tmp_path / "x.xlsx", "initiative"))
    with pytest.raises(FileNotFoundError, match="fichier introuvable"):
        list(read_file_rows(tmp_path / "absent.jsonl", "initiative"))


def test_crash_half_way_leaves_whole_batches_and_a_rerun_completes(store: Catalogue, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ini.jsonl", [ini(i) for i in range(1, 26)])

    def crashing() -> Iterator[tuple[int, str, object]]:
        for n, row in enumerate(read_file_rows(path, "initiative")):
            if n == 17:
                raise RuntimeError("power cut")
            yield row

    with pytest.raises(RuntimeError, match="power cut"):
        run_import(store, crashing(), batch_size=5)
    assert store.counts()["initiatives"] == 15  # three whole batches, nothing half-written
    report = run_import(store, read_file_rows(path, "initiative"), batch_size=5)
    assert report.inserted == {"initiative": 10}
    assert store.counts()["initiatives"] == 25


def test_outcomes_need_known_initiative_and_resource(filled_store: Catalogue, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "out.jsonl", [
        json.dumps({"id": "o1", "initiative_id": "ini-jardin", "resource_id": "res-jardin-93",
                    "decision": "obtained"}),
        json.dumps({"id": "o2", "initiative_id": "ghost", "resource_id": "res-jardin-93", "decision": "obtained"}),
    ])
    report = run_import(filled_store, read_file_rows(path, "outcome"))
    assert report.inserted == {"outcome": 1}
    assert [str(e) for e in report.errors] == ["ligne 2 (outcome) : initiative_id : initiative inconnue 'ghost'"]


# --- dataset adapters on miniature copies of the real formats -----------------------------------

def _mini_sets(root: Path) -> Path:
    rp = root / "reserve-parlementaire"
    rp.mkdir(parents=True)
    (rp / "programmes.jsonl").write_text(
        '{"id": "224", "title": "Transmission des savoirs", "mission": "Culture"}\n'
        '{"id": "163", "title": "Jeunesse et vie associative", "mission": "Sport, jeunesse et vie associative"}\n',
        encoding="utf-8",
    )
    grants = [
        {"id": "rp2013-00003", "year": 2013, "title": "2000 Danses", "description": "Diffusion de la danse",
         "beneficiary_location": "Cour de la Mairie 86700 COUHE", "departement": "Vienne", "amount_eur": 2000.0,
         "label_programme_code": "224"},
        {"id": "rp2016-00001", "year": 2016, "title": "Club ados", "description": "Séjour jeunes",
         "beneficiary_location": None, "departement": None, "amount_eur": 1500.0, "label_programme_code": "163"},
        {"id": "rp2014-00009", "year": 2014, "title": "Foyer rural", "description": "Matériel",
         "beneficiary_location": "Mairie", "departement": "Corrèze", "amount_eur": 800.0,
         "label_programme_code": "106"},
    ]
    (rp / "reserve_parlementaire_2013_2016.jsonl").write_text(
        "\n".join(json.dumps(g, ensure_ascii=False) for g in grants) + "\n{broken\n", encoding="utf-8"
    )
    return root


def test_reserve_parlementaire_adapter(store: Catalogue, tmp_path: Path) -> None:
    data = _mini_sets(tmp_path / "data")
    report = run_import(store, dataset_rows("reserve-parlementaire", data))
    assert report.inserted["initiative"] == 3 and report.inserted["outcome"] == 3
    assert [str(e) for e in report.errors] == [
        "reserve_parlementaire_2013_2016.jsonl:4 (initiative) : JSON mal formé : nom de propriété entre "
        "guillemets doubles attendu"
    ]
    assert store.get_initiative("rp2013-00003").territory == "86"  # from the postcode
    assert store.get_initiative("rp2014-00009").territory == "19"  # from the département name
    assert store.get_initiative("rp2016-00001").territory == "FR"  # nothing known
    assert store.get_resource("rp-prog-106").title.startswith("Programme 106")
    [o] = store.outcomes(initiative_id="rp2013-00003")
    assert o.resource_id == "rp-prog-224" and o.decision.value == "obtained" and o.amount == 2000.0
    again = run_import(store, dataset_rows("reserve-parlementaire", data))
    assert sum(again.inserted.values()) == 0


def test_missing_dataset_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"programmes\.jsonl") as info:
        dataset_rows("reserve-parlementaire", tmp_path)
    assert "--data" in str(info.value)
    with pytest.raises(ValueError, match=r"jeu de données inconnu 'nope'"):
        dataset_rows("nope", tmp_path)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "initiatives", "min_outcomes"),
    [("reserve-parlementaire", 29_293, 29_293), ("betagouv", 491, 900), ("eig-defis", 100, 100)],
)
def test_real_sets_import_whole(store: Catalogue, name: str, initiatives: int, min_outcomes: int) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data absent: {SHARED_DATA}")
    report = run_import(store, dataset_rows(name, SHARED_DATA))
    assert report.inserted["initiative"] == initiatives
    assert report.inserted["outcome"] >= min_outcomes
    assert report.rejected == 0, [str(e) for e in report.errors[:5]]
