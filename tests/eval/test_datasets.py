"""Evaluation sets: tiny synthetic files in the real formats, and the real sets when present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.datasets import EIG_MINISTRIES, eig_ministry, load_eval_set
from tests.conftest import SHARED_DATA


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _grant(gid: str, year: int, code: str, desc: str, location: str = "1 rue de la Paix 86000 POITIERS") -> dict:
    return {"id": gid, "year": year, "title": f"Association {gid}", "description": desc,
            "beneficiary_location": location, "departement": None, "amount_eur": 1000.0,
            "label_programme_code": code, "label_action_code": None, "label_programme": None,
            "label_mission": None, "label_action": None}


PROGRAMMES = [
    {"id": "122", "title": "Concours spécifiques et administration",
     "mission": "Relations avec les collectivités territoriales"},
    {"id": "163", "title": "Jeunesse et vie associative", "mission": "Sport, jeunesse et vie associative"},
    {"id": "219", "title": "Sport", "mission": "Sport, jeunesse et vie associative"},
    {"id": "224", "title": "Transmission des savoirs et démocratisation de la culture", "mission": "Culture"},
]
GRANTS = [
    _grant("rp2013-00001", 2013, "122", "Réfection de la toiture de la mairie"),
    _grant("rp2014-00002", 2014, "163", "Accueil de jeunes bénévoles"),
    _grant("rp2015-00003", 2015, "224", "Festival de danse intercommunal"),
    _grant("rp2016-00004", 2016, "224", "Atelier de théâtre", "Place du marché 97400 SAINT-DENIS"),
    _grant("rp2016-00005", 2016, "122", "Voirie communale"),
    _grant("rp2016-00006", 2016, "219", "Matériel pour le club de football"),
]


def _rp_data(root: Path, grants: list[dict] = GRANTS) -> Path:
    _jsonl(root / "reserve-parlementaire" / "programmes.jsonl", PROGRAMMES)
    _jsonl(root / "reserve-parlementaire" / "reserve_parlementaire_2013_2016.jsonl", grants)
    return root


def test_reserve_parlementaire_year_split_and_programme_122_excluded(tmp_path: Path) -> None:
    es = load_eval_set("reserve-parlementaire", _rp_data(tmp_path))
    assert [q.id for q in es.train] == ["rp2014-00002", "rp2015-00003"]
    assert [q.id for q in es.test] == ["rp2016-00004", "rp2016-00006"]
    assert sorted(es.resource_ids) == ["rp-prog-163", "rp-prog-219", "rp-prog-224"]  # no 122
    assert {q.id: q.relevant for q in es.test} == {
        "rp2016-00004": frozenset({"rp-prog-224"}), "rp2016-00006": frozenset({"rp-prog-219"}),
    }
    # History is the train outcomes only: a system must never see a test label.
    assert sorted(o.initiative_id for o in es.history) == ["rp2014-00002", "rp2015-00003"]
    assert all(p.id.startswith("rp-mission-") for p in es.providers)
    assert {r.provider_id for r in es.resources} <= {p.id for p in es.providers}
    by_id = {q.id: q for q in es.test}
    assert by_id["rp2016-00004"].slices == {"territory": "overseas", "popularity": "seen", "kind": "financement"}
    assert by_id["rp2016-00006"].slices["popularity"] == "cold"  # programme 219 has no train grant
    assert by_id["rp2016-00004"].when is not None and by_id["rp2016-00004"].when.year == 2016
    assert es.today > max(q.when for q in es.test if q.when)
    assert any("skipped: excluded resource" in n for n in es.notes)


def test_train_and_test_files_replace_the_date_split(tmp_path: Path) -> None:
    data = _rp_data(tmp_path / "data")
    train = _jsonl(tmp_path / "a.jsonl", [GRANTS[1], GRANTS[3]])  # a 2016 grant on the train side
    test = _jsonl(tmp_path / "b.jsonl", [GRANTS[2], GRANTS[4]])  # 2015, and a 122 grant (dropped)
    es = load_eval_set("reserve-parlementaire", data, train_file=train, test_file=test)
    assert [q.id for q in es.train] == ["rp2014-00002", "rp2016-00004"]
    assert [q.id for q in es.test] == ["rp2015-00003"]
    assert "a.jsonl" in es.split and "b.jsonl" in es.split


def test_split_leak_is_refused_naming_the_ids(tmp_path: Path) -> None:
    data = _rp_data(tmp_path / "data")
    train = _jsonl(tmp_path / "train.jsonl", [GRANTS[1], GRANTS[2]])
    test = _jsonl(tmp_path / "test.jsonl", [GRANTS[2], GRANTS[5]])
    with pytest.raises(ValueError, match=r"split leak.*1 id\(s\) in both train and test: rp2015-00003"):
        load_eval_set("reserve-parlementaire", data, train_file=train, test_file=test)


def test_missing_data_and_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"jeu de données 'betagouv' absent de .* : il manque .*startups"):
        load_eval_set("betagouv", tmp_path)
    with pytest.raises(ValueError, match="jeu de données inconnu 'nope' : attendu l'un de reserve-parlementaire"):
        load_eval_set("nope", tmp_path)
    with pytest.raises(ValueError, match="both --train and --test"):
        load_eval_set("reserve-parlementaire", tmp_path, train_file=tmp_path / "x.jsonl")
    data = _rp_data(tmp_path / "data")
    with pytest.raises(FileNotFoundError, match=r"il manque .*nothere.jsonl"):
        load_eval_set("reserve-parlementaire", data, train_file=tmp_path / "nothere.jsonl",
                      test_file=data / "reserve-parlementaire" / "reserve_parlementaire_2013_2016.jsonl")


def _startup(sid: str, first: str, sponsors: list[str], incubator: str) -> dict:
    return {"id": sid, "title": sid.title(), "mission": f"Mission de {sid}",
            "description": "## Le problème\n\nDes démarches.", "thematiques": ["social"], "usertypes": ["etat"],
            "phases": [{"name": "construction", "start": first, "end": None}],
            "first_phase_start": first, "current_phase": "construction", "link": None, "repository": None,
            "label_sponsors": sponsors, "label_incubator": incubator, "source_path": f"content/_startups/{sid}.md"}


def _bg_data(root: Path) -> Path:
    d = root / "betagouv-startups"
    _jsonl(d / "organisations.jsonl", [
        {"id": "anct", "title": "Agence nationale de la cohésion des territoires", "acronym": "ANCT",
         "type": "operateur", "domaine_ministeriel": "territoires", "description": None},
        {"id": "dinum", "title": "Direction interministérielle du numérique", "acronym": "DINUM",
         "type": "administration-centrale", "domaine_ministeriel": "premier-ministre", "description": None},
    ])
    _jsonl(d / "incubators.jsonl", [
        {"id": "dinum", "title": "L'incubateur de la DINUM", "description": "Incubateur interministériel",
         "owner_organisation": "dinum", "address": "", "website": None},
        {"id": "anct", "title": "Incubateur des territoires", "description": "Services aux collectivités",
         "owner_organisation": "anct", "address": "", "website": None},
    ])
    _jsonl(d / "startups.jsonl", [
        _startup("alpha", "2019-03-01", ["anct"], "anct"),
        _startup("beta", "2021-12-31", ["dinum"], "dinum"),
        _startup("gamma", "2022-01-01", ["anct", "dinum"], "dinum"),
        _startup("delta", "2023-06-01", [], "anct"),  # no sponsor: skipped for sponsors only
        _startup("epsilon", "2024-02-01", ["anct"], "anct"),  # after the test window
    ])
    return root


def test_betagouv_sponsors_and_incubators_split_on_first_phase(tmp_path: Path) -> None:
    data = _bg_data(tmp_path)
    sp = load_eval_set("betagouv", data)
    assert [q.id for q in sp.train] == ["bg-alpha", "bg-beta"]
    assert [q.id for q in sp.test] == ["bg-gamma"]
    assert sp.test[0].relevant == frozenset({"bg-org-anct", "bg-org-dinum"})
    assert sorted(sp.resource_ids) == ["bg-org-anct", "bg-org-dinum"]
    assert {o.resource_id for o in sp.history} == {"bg-org-anct", "bg-org-dinum"}
    inc = load_eval_set("betagouv-incubators", data)
    assert [q.id for q in inc.test] == ["bg-delta", "bg-gamma"]
    assert {q.id: q.relevant for q in inc.test}["bg-delta"] == frozenset({"bg-inc-anct"})
    assert sorted(inc.resource_ids) == ["bg-inc-anct", "bg-inc-dinum"]
    assert all(o.resource_id.startswith("bg-inc-") for o in inc.history)


def test_eig_ministry_mapping() -> None:
    assert eig_ministry("Direction générale de la gendarmerie nationale (DGGN)") == "interieur"
    assert eig_ministry("Service hydrographique et océanographique de la marine (Shom), Ministère des Armées") == (
        "armees"
    )
    assert eig_ministry("Direction de la Recherche, des Études, de l’Évaluation et des Statistiques (DREES)") == (
        "affaires-sociales"
    )
    assert eig_ministry("Agence du numérique de la sécurité civile") == "interieur"
    assert eig_ministry("Direction interministérielle du numérique (DINUM)") == "premier-ministre"
    assert eig_ministry("Office du tourisme imaginaire") == "autre"
    assert len({k for k, _, _ in EIG_MINISTRIES}) == len(EIG_MINISTRIES)


def test_eig_split_on_the_last_two_promotions(tmp_path: Path) -> None:
    def defi(did: str, promo: str, who: str) -> dict:
        return {"id": did, "title": did, "mission": "m", "description": "d", "themes": [], "expertises": [],
                "promotion": promo, "town": "Paris", "date": "2021-10-01", "label_host_administration": who}

    _jsonl(tmp_path / "eig-defis" / "eig_defis.jsonl", [
        defi("a", "Promotion 1", "Ministère de l’Intérieur"),
        defi("b", "Promotion 3 - DIG", "Cour des comptes"),
        defi("c", "Promotion 4", "Direction générale des finances publiques (DGFiP)"),
        defi("d", "Promotion 5", "Ministère de l'Intérieur"),
        defi("e", "Promotion 6", "Office du tourisme imaginaire"),
    ])
    es = load_eval_set("eig-defis", tmp_path)
    assert [q.id for q in es.train] == ["eig-a", "eig-b", "eig-c"]  # promotions 1, 3 - DIG, 4
    assert [q.id for q in es.test] == ["eig-d", "eig-e"]  # the last two: 5 and 6
    assert {q.id: q.relevant for q in es.test} == {
        "eig-d": frozenset({"eig-min-interieur"}), "eig-e": frozenset({"eig-min-autre"}),
    }
    assert {o.resource_id for o in es.history} == {
        "eig-min-interieur", "eig-min-autorites-independantes", "eig-min-economie-finances",
    }
    assert len(es.resources) == len(EIG_MINISTRIES) + 1
    assert any("mapped to 'autre'" in n for n in es.notes)


realdata = pytest.mark.realdata
needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no shared data at {SHARED_DATA}")


@realdata
@needs_data
def test_real_reserve_parlementaire_split() -> None:
    es = load_eval_set("reserve-parlementaire", SHARED_DATA)
    # README: 2013–2016 counts; programme 122 holds 17,239 grants. Non-122: 2013–2015 train, 2016 test.
    assert (len(es.train), len(es.test)) == (9541, 2513)
    assert "rp-prog-122" not in es.resource_ids and len(es.resources) == 184
    assert all(q.when is not None and q.when.year == 2016 for q in es.test)
    assert len(es.history) == len(es.train)


@realdata
@needs_data
def test_real_betagouv_and_eig_sets() -> None:
    bg = load_eval_set("betagouv", SHARED_DATA)
    assert len(bg.resources) == 145 and len(bg.train) > 300 and len(bg.test) > 100
    assert all(q.when is not None and q.when.year in (2022, 2023) for q in bg.test)
    eig = load_eval_set("eig-defis", SHARED_DATA)
    assert (len(eig.train), len(eig.test)) == (71, 29)
    assert not any("autre" in n for n in eig.notes)  # every real host label is mapped
