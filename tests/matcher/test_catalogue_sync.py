"""Synchronising a source: re-import idempotence, updates, inactivation of what disappeared, the same
aid from two sources merged; and the store's content hash unchanged for records without the new fields."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from matcher._store_base import content_hash
from matcher.eligibility import check_all
from matcher.features import PAIR_FEATURES, pair_values
from matcher.importers._catalogue import ProviderDraft, SourceAid
from matcher.importers.catalogues import import_catalogue
from matcher.importers.sync import find_duplicate, sync_source
from matcher.schemas import Criterion, MatchQuery, Resource
from matcher.store import Catalogue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues"
TODAY = date(2026, 12, 1)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    shutil.copy(FIXTURES / "at_export.csv", path)
    return path


def _rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_reimporting_the_same_file_changes_nothing(store: Catalogue, export: Path) -> None:
    first = import_catalogue(store, "aides-territoires", [export])
    before = store.resources_hash()
    stamps = {r.id: r.updated_at for r in store.resources()}
    again = import_catalogue(store, "aides-territoires", [export])
    assert len(first.added) == 4
    assert (again.added, again.updated, again.expired, again.merged) == ([], [], [], [])
    assert sorted(again.unchanged) == sorted(first.added) and again.providers_added == 0
    assert store.resources_hash() == before and {r.id: r.updated_at for r in store.resources()} == stamps


def test_reimport_updates_what_changed_and_inactivates_what_disappeared(store: Catalogue, export: Path) -> None:
    import_catalogue(store, "aides-territoires", [export])
    rows = _rows(export)
    rows[1] = rows[1].replace("isolation, chauffage, ventilation", "isolation et chauffage")
    export.write_text("".join(r for i, r in enumerate(rows) if i != 2), encoding="utf-8")  # the garden call goes
    report = import_catalogue(store, "aides-territoires", [export])
    assert report.updated == ["at-a1b2-renover-les-ecoles"]
    assert report.expired == ["at-c3d4-creer-un-jardin-partage"] and report.added == []
    gone = store.get_resource("at-c3d4-creer-un-jardin-partage")
    assert gone.active is False and gone.title == "Créer un jardin partagé en ville"  # kept, for its history
    assert "isolation et chauffage" in store.get_resource("at-a1b2-renover-les-ecoles").description
    again = import_catalogue(store, "aides-territoires", [export])
    assert again.expired == [] and again.updated == []  # inactivated once, not at every import
    export.write_text("".join(rows), encoding="utf-8")  # it comes back
    back = import_catalogue(store, "aides-territoires", [export])
    assert back.updated == ["at-c3d4-creer-un-jardin-partage"]
    assert store.get_resource("at-c3d4-creer-un-jardin-partage").active is True


def test_another_source_is_not_inactivated(store: Catalogue, export: Path) -> None:
    import_catalogue(store, "tee", [FIXTURES / "tee"])
    export.write_text(_rows(export)[0], encoding="utf-8")  # an export with no row at all
    import_catalogue(store, "aides-territoires", [export])
    assert store.get_resource("tee-pret-vert-sud").active is True


def test_the_same_aid_from_two_sources_is_merged_with_both_references(store: Catalogue, export: Path) -> None:
    import_catalogue(store, "aides-territoires", [export])
    report = import_catalogue(store, "dispositif-aide", [FIXTURES / "dispositifs.json"])
    target = "at-c3d4-creer-un-jardin-partage"
    assert report.merged == [("dispositif-aide:5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0001", target)]
    assert report.updated == [target] and len(report.added) == 2
    merged = store.get_resource(target)
    assert merged.source_refs == ["aides-territoires:c3d4-creer-un-jardin-partage",
                                  "dispositif-aide:5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0001"]
    assert merged.source == "aides-territoires"  # the first source stays the record's
    assert merged.last_verified == date(2026, 11, 20) and merged.url is not None  # empty fields filled
    assert "da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0001" not in {r.id for r in store.resources()}
    for fmt, path in (("dispositif-aide", FIXTURES / "dispositifs.json"), ("aides-territoires", export)):
        again = import_catalogue(store, fmt, [path])
        assert (again.added, again.updated, again.merged) == ([], [], []), fmt
    assert store.get_resource(target).source_refs == merged.source_refs


def test_a_merged_aid_stays_active_when_one_of_its_sources_drops_it(store: Catalogue, export: Path,
                                                                   tmp_path: Path) -> None:
    import_catalogue(store, "aides-territoires", [export])
    import_catalogue(store, "dispositif-aide", [FIXTURES / "dispositifs.json"])
    empty = tmp_path / "empty.json"
    empty.write_text('{"dispositifs": []}', encoding="utf-8")
    report = import_catalogue(store, "dispositif-aide", [empty])
    assert sorted(report.expired) == ["da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0002",
                                      "da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0003"]
    kept = store.get_resource("at-c3d4-creer-un-jardin-partage")
    assert kept.active and kept.source_refs == ["aides-territoires:c3d4-creer-un-jardin-partage"]


def _aid(key: str, title: str, text: str, provider: str = "ADEME") -> SourceAid:
    return SourceAid(1, key, {"kind": "financement", "title": title, "description": text}, [ProviderDraft(provider)])


def test_near_identical_text_is_the_same_aid_a_different_text_is_not(store: Catalogue) -> None:
    text = ("Le fonds finance les études de faisabilité et les travaux de chaleur renouvelable des collectivités : "
            "géothermie, biomasse, solaire thermique et réseaux de chaleur, jusqu'à 60 % des dépenses éligibles.")
    sync_source(store, "a", [_aid("k1", "Développer la chaleur renouvelable", text)], prefix="a")
    near = sync_source(store, "b", [_aid("x", "Fonds chaleur : développer les énergies renouvelables",
                                         text.replace("jusqu'à 60 %", "jusqu'à 65 %"), "ADEME")], prefix="b")
    assert near.merged == [("b:x", "a-k1")]
    other = sync_source(store, "c", [_aid("y", "Rénover les écoles", "Isolation des bâtiments scolaires.")], prefix="c")
    assert other.merged == [] and other.added == ["c-y"]
    r = store.get_resource("a-k1")
    elsewhere = r.model_copy(update={"id": "z", "provider_id": "fin-autre"})
    assert find_duplicate(elsewhere, [r]) is r  # the same title and text under another provider's name
    assert find_duplicate(elsewhere.model_copy(update={"title": "Autre titre"}), [r]) is None


def test_resources_without_the_new_fields_hash_as_before() -> None:
    r = Resource(id="res-1", kind="financement", provider_id="p", title="Aide", coverage=["93"])
    old = r.model_dump(mode="json", exclude={"created_at", "updated_at", "eligibility_text", "perimeter_text",
                                             "source_refs", "contact_email", "contact", "non_cumulable_with",
                                             "cumulation_scope", "cumulation_text"})
    expected = hashlib.sha256(json.dumps(old, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    assert content_hash(r) == expected
    assert content_hash(r.model_copy(update={"eligibility_text": "Réservé aux communes."})) != expected
    assert content_hash(r.model_copy(update={"non_cumulable_with": ["res-2"]})) != expected
    assert content_hash(r.model_copy(update={"cumulation_text": "Non cumulable."})) != expected


def test_the_source_clause_is_shown_but_not_counted_as_an_unknown_criterion() -> None:
    q = MatchQuery(text="jardin", territory="93066")
    plain = Resource(id="r", kind="financement", provider_id="p", title="Aide", coverage=["93"])
    sourced = plain.model_copy(update={"eligibility_text": "Réservé aux communes de moins de 2 000 habitants."})
    checks = check_all(sourced, q, TODAY)
    assert [c.criterion for c in checks][-1] is Criterion.conditions
    assert len(checks) == len(check_all(plain, q, TODAY)) + 1
    assert checks[-1].clause == ("Conditions de la source, à vérifier : Réservé aux communes de moins de 2 000 "
                                 "habitants.")
    i = PAIR_FEATURES.index("unknown_checks")
    assert pair_values(q, sourced, checks, TODAY)[i] == pair_values(q, plain, check_all(plain, q, TODAY), TODAY)[i]


def test_the_export_and_the_api_give_one_resource_for_one_aid(store: Catalogue, export: Path, tmp_path: Path) -> None:
    import_catalogue(store, "aides-territoires", [export])
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"count": 1, "previous": None, "next": None, "results": [{
        "id": 7, "slug": "creer-un-jardin-partage", "url": "/aides/c3d4-creer-un-jardin-partage/",
        "name": "Créer un jardin partagé en ville", "financers": ["Conseil départemental du Tarn"],
        "perimeter": "Tarn (Département)", "targeted_audiences": ["Associations"], "aid_types": ["Subvention"],
        "date_updated": "2026-11-30T10:00:00+01:00"}]}), encoding="utf-8")
    report = import_catalogue(store, "aides-territoires-api", [page])
    assert report.merged == [("aides-territoires-api:c3d4-creer-un-jardin-partage", "at-c3d4-creer-un-jardin-partage")]
    assert report.added == []
    assert store.get_resource("at-c3d4-creer-un-jardin-partage").last_verified == date(2026, 11, 30)


def test_providers_meet_by_name_or_spelled_out_acronym_not_by_a_shared_acronym(store: Catalogue) -> None:
    aids = [_aid("1", "Aide un", "texte un", "Établissement Public Foncier des Hauts-de-France (EPF)"),
            _aid("2", "Aide deux", "texte deux", "Établissement public foncier d'Occitanie (EPF)"),
            _aid("3", "Aide trois", "texte trois", "Agence Nationale de l'Habitat (ANAH)"),
            _aid("4", "Aide quatre", "texte quatre", "ANAH"),
            _aid("5", "Aide cinq", "texte cinq", "agence nationale de l’habitat")]
    report = sync_source(store, "s", aids, prefix="s")
    providers = {r.id: r.provider_id for r in store.resources()}
    assert report.providers_added == 3
    assert providers["s-1"] != providers["s-2"]  # two regional land agencies sharing "(EPF)"
    assert providers["s-3"] == providers["s-4"] == providers["s-5"]


def test_a_key_given_twice_is_reported_not_silently_overwritten(store: Catalogue, export: Path) -> None:
    rows = _rows(export)
    export.write_text("".join(rows) + rows[1].replace("Rénover les écoles communales", "Autre titre"),
                      encoding="utf-8")
    report = import_catalogue(store, "aides-territoires", [export])
    assert report.read == 7 and report.imported + len(report.problems) == 7
    assert str(report.problems[-1]).startswith("ligne 8 : même clé que ligne 2 (a1b2-renover-les-ecoles)")
    assert store.get_resource("at-a1b2-renover-les-ecoles").title == "Rénover les écoles communales"


def test_a_resource_staff_deleted_is_not_restored_by_a_reimport(store: Catalogue, export: Path) -> None:
    import_catalogue(store, "aides-territoires", [export])
    store.delete_resource("at-a1b2-renover-les-ecoles")
    report = import_catalogue(store, "aides-territoires", [export])
    assert ("ligne 2 : ressource at-a1b2-renover-les-ecoles supprimée par l'équipe : non restaurée"
            in [str(p) for p in report.problems])
    assert "at-a1b2-renover-les-ecoles" not in {r.id for r in store.resources()} and report.expired == []
