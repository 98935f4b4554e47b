"""Review regressions of the real-catalogue importers: a row or file that cannot be read on a re-import
keeps its resource as it was (it is not inactivated), and odd JSON values are reported, not a crash."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from matcher.importers.aides_territoires import api_item
from matcher.importers.catalogues import import_catalogue
from matcher.importers.sync import sync_source
from matcher.schemas import Stage
from matcher.store import Catalogue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues"
GARDEN = "at-c3d4-creer-un-jardin-partage"


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    shutil.copy(FIXTURES / "at_export.csv", path)
    return path


def test_a_row_unreadable_on_reimport_keeps_its_resource_active(store: Catalogue, tmp_path: Path) -> None:
    export = _export(tmp_path)
    import_catalogue(store, "aides-territoires", [export])
    before = store.get_resource(GARDEN)
    rows = export.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = rows[2].rstrip("\r\n").split(",")
    rows[2] = ",".join([*cells[:-1], "31/02/2027"]) + "\n"  # its closing date becomes impossible
    export.write_text("".join(rows), encoding="utf-8")
    report = import_catalogue(store, "aides-territoires", [export])
    assert any(p.line == 3 and "Date Clôture" in p.message for p in report.problems)
    assert report.expired == [] and store.get_resource(GARDEN).active is True
    assert store.get_resource(GARDEN).closes_at == before.closes_at  # kept as it was


def _page(aids: list[dict[str, object]]) -> str:
    return json.dumps({"count": len(aids), "previous": None, "next": None, "results": aids})


AID = {"id": 7, "url": "/aides/c3d4-jardin/", "name": "Créer un jardin partagé", "financers": ["ADEME"],
       "perimeter": "Tarn (Département)", "aid_types": ["Subvention"], "targeted_audiences": ["Associations"]}


def test_an_api_page_unreadable_on_reimport_inactivates_nothing(store: Catalogue, tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "1.json").write_text(_page([AID]), encoding="utf-8")
    (pages / "2.json").write_text(_page([{**AID, "url": "/aides/e5f6-autre/", "name": "Une autre aide"}]),
                                  encoding="utf-8")
    first = import_catalogue(store, "aides-territoires-api", [pages])
    assert len(first.added) == 2
    (pages / "1.json").write_text(_page([AID])[:40], encoding="utf-8")  # a truncated download
    report = import_catalogue(store, "aides-territoires-api", [pages])
    assert report.problems and report.expired == []
    assert all(r.active for r in store.resources())
    assert any("désactivée" in w.message for w in report.warnings)  # staff are told why nothing expired


def test_a_tee_programme_whose_file_breaks_stays_active(store: Catalogue, tmp_path: Path) -> None:
    folder = tmp_path / "tee"
    shutil.copytree(FIXTURES / "tee", folder)
    (folder / "broken.yaml").unlink()
    import_catalogue(store, "tee", [folder])
    (folder / "pret-vert-sud.yaml").write_text("titre: [non fermé\n", encoding="utf-8")
    report = import_catalogue(store, "tee", [folder])
    assert report.problems and report.expired == []
    assert store.get_resource("tee-pret-vert-sud").active is True


def test_odd_json_values_of_an_aid_are_no_crash(store: Catalogue) -> None:
    items = [api_item(1, {**AID, "url": 12345}), api_item(2, {**AID, "url": "/aides/b/", "loan_amount": True})]
    report = sync_source(store, "s", items, prefix="s")
    assert report.read == 2 and report.imported + len(report.problems) == 2
    assert all(r.amount_max is None for r in store.resources())  # a boolean is not an amount


def test_yaml_aliases_that_loop_or_multiply_are_read_once(tmp_path: Path) -> None:
    from matcher.importers.tee import read_programs

    loop = tmp_path / "boucle.yaml"
    loop.write_text("titre: Boucle\nopérateur de contact: ADEME\npublicodes:\n"
                    "  entreprise . est dans une zone géographique éligible: &a\n    - *a\n", encoding="utf-8")
    levels = ['a: &a ["région = Bretagne", "région = Bretagne", "région = Bretagne"]']
    levels += [f"{x}: &{x} [{', '.join([f'*{y}'] * 30)}]" for y, x in zip("abcdefg", "bcdefgh", strict=True)]
    bomb = tmp_path / "rires.yaml"  # 3 × 30⁷ strings if each alias is walked again
    bomb.write_text("titre: Rires\nopérateur de contact: ADEME\npublicodes:\n"
                    "  entreprise . est dans une zone géographique éligible:\n"
                    + "".join(f"    {line}\n" for line in levels), encoding="utf-8")
    items = dict(read_programs(tmp_path))
    assert items["boucle.yaml"].fields["coverage"] == ["FR"]  # type: ignore[union-attr]
    assert items["rires.yaml"].fields["coverage"] == ["R53"]  # type: ignore[union-attr]


def test_programme_sections_of_the_wrong_shape_are_no_crash(tmp_path: Path) -> None:
    from matcher.importers.tee import read_programs

    (tmp_path / "liste.yaml").write_text("titre: Liste\nopérateur de contact: ADEME\n"
                                         "conditions d'éligibilité: [1, 2]\npublicodes: [1, 2]\n", encoding="utf-8")
    (tmp_path / "texte.yaml").write_text("titre: Texte\nopérateur de contact: ADEME\n"
                                         "conditions d'éligibilité: texte\npublicodes: texte\n", encoding="utf-8")
    items = [item for _, item in read_programs(tmp_path)]
    assert [i.fields["title"] for i in items] == ["Liste", "Texte"]  # type: ignore[union-attr]


def test_nul_characters_of_a_source_are_not_stored(store: Catalogue, tmp_path: Path) -> None:
    (tmp_path / "nul.yaml").write_text('titre: "Prêt\\0 vert"\nopérateur de contact: "ADE\\0ME"\n'
                                       'description: "un\\0 texte"\n', encoding="utf-8")
    report = import_catalogue(store, "tee", [tmp_path])
    assert report.added == ["tee-nul"]
    stored = store.get_resource("tee-nul")
    assert (stored.title, stored.description) == ("Prêt vert", "un texte")
    assert all("\x00" not in p.name for p in store.providers())


def test_csv_files_the_csv_module_balks_at(store: Catalogue, tmp_path: Path) -> None:
    import pytest

    export = _export(tmp_path)
    text = export.read_text(encoding="utf-8")
    with export.open(encoding="utf-8", newline="") as fh:
        header, first = list(csv.reader(fh))[:2]
    first[7] = "<p>" + "isolation " * 20_000 + "</p>"  # a 200 kB description: over csv's default 128 KiB
    with export.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, first])
    report = import_catalogue(store, "aides-territoires", [export])
    assert report.added == ["at-a1b2-renover-les-ecoles"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode("latin-1", errors="replace"))
    with pytest.raises(ValueError, match="n'est pas en UTF-8"):
        import_catalogue(store, "aides-territoires", [latin])
    assert store.get_resource("at-a1b2-renover-les-ecoles").active


def test_an_empty_dispositif_csv_is_refused_not_a_source_that_lists_nothing(store: Catalogue,
                                                                            tmp_path: Path) -> None:
    import pytest

    first = import_catalogue(store, "dispositif-aide", [FIXTURES / "dispositifs.csv"])
    assert first.added
    empty = tmp_path / "dispositifs.csv"
    empty.write_bytes(b"")  # a download that failed
    with pytest.raises(ValueError, match="colonnes absentes id, titre"):
        import_catalogue(store, "dispositif-aide", [empty])
    assert all(r.active for r in store.resources())


def test_a_folder_without_the_format_s_files_inactivates_nothing(store: Catalogue, tmp_path: Path) -> None:
    import pytest

    import_catalogue(store, "tee", [FIXTURES / "tee"])
    wrong = tmp_path / "tee-programmes"  # the data folder given instead of its programs/
    wrong.mkdir()
    (wrong / "projects.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"aucun programme \*\.yaml"):
        import_catalogue(store, "tee", [wrong])
    (tmp_path / "pages").mkdir()
    with pytest.raises(ValueError, match=r"aucune page \*\.json"):
        import_catalogue(store, "aides-territoires-api", [tmp_path / "pages"])
    assert all(r.active for r in store.resources())


def test_what_only_staff_set_survives_a_reimport_of_the_same_file(store: Catalogue) -> None:
    import_catalogue(store, "tee", [FIXTURES / "tee"])
    held = store.get_resource("tee-pret-vert-sud")
    store.upsert_resources([held.model_copy(update={"contact": "Guichet Région Sud, 04 91 57 50 57",
                                                    "capacity": 12, "eligible_stages": [Stage.prototype]})])
    report = import_catalogue(store, "tee", [FIXTURES / "tee"])
    assert "tee-pret-vert-sud" in report.unchanged and report.updated == []
    kept = store.get_resource("tee-pret-vert-sud")
    assert (kept.contact, kept.capacity, [s.value for s in kept.eligible_stages]) == (
        "Guichet Région Sud, 04 91 57 50 57", 12, ["prototype"])


def test_a_missing_api_page_inactivates_nothing(store: Catalogue) -> None:
    pages = FIXTURES / "at_api"
    both = import_catalogue(store, "aides-territoires-api", [pages])
    assert len(both.added) == 3 and not any("pages incomplètes" in p.message for p in both.problems)
    first_only = import_catalogue(store, "aides-territoires-api", [pages / "page1.json"])  # page 2 missing
    assert any("pages incomplètes" in p.message for p in first_only.problems)
    assert first_only.expired == [] and all(r.active for r in store.resources())


def test_a_description_full_of_lone_angle_brackets_is_read_in_linear_time() -> None:
    import time

    from matcher.importers._catalogue import html_to_text

    assert html_to_text("<p>a < b</p><br/>c <b>d</b>") == "a < b\nc d"
    started = time.perf_counter()
    html_to_text("x < " * 40_000)  # 160 kB: several seconds when each "<" was scanned to the end
    assert time.perf_counter() - started < 0.5
