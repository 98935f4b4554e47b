"""Each real catalogue format read from small fixtures written for it (tests/fixtures/catalogues),
imported into a fresh store: mapping, warnings naming the row, rejected rows with their reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from matcher.eligibility import check_all, check_territory
from matcher.importers.catalogues import import_catalogue
from matcher.importers.perimeters import at_perimeter_codes, etalab_codes, financer_codes, place_codes
from matcher.schemas import CheckStatus, Criterion, MatchQuery
from matcher.store import Catalogue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues"
TODAY = date(2026, 12, 1)


def test_aides_territoires_csv_maps_every_column_and_reports_every_row(store: Catalogue) -> None:
    report = import_catalogue(store, "aides-territoires", [FIXTURES / "at_export.csv"])
    assert report.read == 6 and report.imported + len(report.problems) == report.read
    rejected = [(p.line, p.message.split(" :")[0]) for p in report.problems]
    assert rejected == [(5, "Date Clôture"), (6, "colonne Nom vide")]
    ecoles = store.get_resource("at-a1b2-renover-les-ecoles")
    assert ecoles.coverage == ["81"] and ecoles.eligible_legal_forms == ["collectivite"]
    assert ecoles.kind.value == "financement" and ecoles.recurrence.value == "permanent"
    assert ecoles.needs_covered == ["financement", "accompagnement", "expertise"]
    assert ecoles.eligibility_text == "Bénéficiaires selon la source : Communes ; Intercommunalités / Pays"
    assert ecoles.source == "aides-territoires" and ecoles.source_refs == ["aides-territoires:a1b2-renover-les-ecoles"]
    jardin = store.get_resource("at-c3d4-creer-un-jardin-partage")
    assert jardin.kind.value == "appel_a_projets" and jardin.closes_at == date(2027, 3, 31)
    assert jardin.eligible_legal_forms == ["association", "collectif"] and jardin.recurrence.value == "ponctuel"
    # "Conseil départemental du Tarn" and "Conseil Départemental du Tarn": one provider.
    assert jardin.provider_id == ecoles.provider_id
    assert store.get_provider(ecoles.provider_id).territory == "81"
    mobilite = store.get_resource("at-k1l2-mobilite")
    assert mobilite.coverage == ["R76"]  # the régional financer, not the national bank's FR
    assert "Autres financeurs : Conseil régional d'Occitanie" in mobilite.description
    assert len(store.providers()) == 4  # Tarn, Hellio, Banque des Territoires, Occitanie (rejected rows add none)


def test_unresolved_perimeter_is_a_warning_naming_the_row_and_an_unknown_check(store: Catalogue) -> None:
    report = import_catalogue(store, "aides-territoires", [FIXTURES / "at_export.csv"])
    assert [(w.line, "Hellio Solutions" in w.message) for w in report.warnings] == [(4, True)]
    assert str(report.warnings[0]).startswith("ligne 4 : périmètre non reconnu")
    assert (report.perimeters_resolved, report.perimeters) == (3, 4) and report.perimeter_rate == 0.75
    hellio = store.get_resource("at-e5f6-bureau-etudes")
    assert hellio.perimeter_text is not None and "Hellio Solutions" in hellio.perimeter_text
    check = check_territory(hellio, MatchQuery(text="rénovation énergétique", territory="81004"))
    assert check.status is CheckStatus.unknown and "à vérifier" in check.clause  # never a silent "France"


def test_aides_territoires_api_pages_from_a_folder(store: Catalogue) -> None:
    report = import_catalogue(store, "aides-territoires-api", [FIXTURES / "at_api"])
    assert report.read == 4 and len(report.added) == 3
    assert [(p.file, p.line) for p in report.problems] == [("page2.json", 2)]
    assert str(report.problems[0]) == "page2.json, aide 2 : champ name vide : aide sans titre"
    assert [(w.file, w.line) for w in report.warnings] == [("page2.json", 1)]  # the hydrographic basin
    lights = store.get_resource("at-renover-eclairage-public")
    assert lights.coverage == ["26"] and lights.closes_at == date(2027, 6, 30) and lights.opens_at == date(2026, 1, 1)
    assert lights.last_verified == date(2026, 10, 15) and lights.recurrence.value == "annuel"
    assert lights.themes == ["Énergies / Déchets", "Sobriété énergétique", "Urbanisme", "Espaces publics"]
    assert lights.eligibility_text is not None and lights.eligibility_text.startswith(
        "Communes de moins de 2 000 habitants\nProjet non commencé")
    assert "<" not in lights.description and "Taux de subvention : 20 % à 50 %" in lights.description
    assert lights.url == "https://www.sded.fr/eclairage"
    sante = store.get_resource("at-equiper-une-maison-de-sante")
    assert sante.coverage == ["26362"] and sante.kind.value == "appel_a_projets"
    assert store.get_resource("at-restaurer-les-zones-humides").perimeter_text == (
        "Bassin Rhône-Méditerranée (Bassin hydrographique)")


def test_api_accepts_one_page_file_or_a_list(store: Catalogue) -> None:
    one = import_catalogue(store, "aides-territoires-api", [FIXTURES / "at_api" / "page1.json"], source="p1")
    assert len(one.added) == 2
    both = import_catalogue(store, "aides-territoires-api",
                            [FIXTURES / "at_api" / "page1.json", FIXTURES / "at_api" / "page2.json"], source="p1")
    assert len(both.added) == 1 and len(both.unchanged) == 2


def test_dispositif_aide_json(store: Catalogue) -> None:
    report = import_catalogue(store, "dispositif-aide", [FIXTURES / "dispositifs.json"])
    assert report.read == 4 and report.imported == 3 and [p.line for p in report.problems] == [4]
    biodiv = store.get_resource("da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0002")
    assert biodiv.coverage == ["R84", "05", "83141"]
    assert biodiv.eligible_legal_forms == ["entreprise", "entreprise_ess", "association"]
    assert store.get_provider(biodiv.provider_id).name == "Région Sud"  # the financer comes first
    assert biodiv.eligibility_text is not None and "Zones exclues par la source : COM-05061" in biodiv.eligibility_text
    assert biodiv.kind.value == "accompagnement" and biodiv.last_verified == date(2026, 11, 2)
    jardin = store.get_resource("da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0001")
    assert (jardin.opens_at, jardin.closes_at, jardin.coverage) == (date(2026, 10, 1), date(2027, 3, 31), ["81"])
    unknown = store.get_resource("da-5b1c8f2e-0d2a-4e8e-9a61-2f0b6c1d0003")
    assert unknown.perimeter_text == "ZZZ-99"
    assert any(w.line == 3 and "ZZZ-99" in w.message for w in report.warnings)


def test_dispositif_aide_csv(store: Catalogue) -> None:
    report = import_catalogue(store, "dispositif-aide", [FIXTURES / "dispositifs.csv"])
    assert len(report.added) == 2 and [(p.line, "2027-13-45" in p.message) for p in report.problems] == [(4, True)]
    audit = store.get_resource("da-da-001")
    assert audit.coverage == ["FR"] and audit.themes == ["Fonds Chaleur"] and audit.recurrence.value == "permanent"
    assert store.get_provider(audit.provider_id).name == "ADEME"  # porteurs given as a JSON cell
    pret = store.get_resource("da-da-002")
    assert pret.coverage == ["R76"] and pret.closes_at == date(2027, 12, 31)
    assert "collectivite" in pret.eligible_legal_forms


def test_tee_programmes(store: Catalogue) -> None:
    report = import_catalogue(store, "tee", [FIXTURES / "tee"])
    assert report.read == 3 and len(report.added) == 2
    assert [(p.file, p.message.split(" :")[0]) for p in report.problems] == [("broken.yaml", "YAML illisible")]
    pret = store.get_resource("tee-pret-vert-sud")
    assert pret.coverage == ["R93", "40"]  # Nouvelle-Calédonie is outside the hierarchy, Atlantide is warned
    assert [w.message for w in report.warnings] == ["zone géographique « Atlantide » non reconnue"]
    assert (pret.opens_at, pret.closes_at, pret.kind.value) == (date(2025, 3, 1), date(2027, 12, 31), "financement")
    assert pret.eligibility_text is not None
    assert "Années d'activité : Au moins 3 ans d'activité" in pret.eligibility_text
    diag = store.get_resource("tee-diag-eco-flux")
    assert diag.coverage == ["FR"] and diag.recurrence.value == "permanent" and diag.closes_at is None
    assert "collectivite" in diag.eligible_legal_forms  # ouvert aux administrations publiques
    assert diag.themes == ["performance énergétique", "gestion des déchets"]
    assert diag.eligibility_text is not None and "Plus de 20 salariés" in diag.eligibility_text
    assert "Tous secteurs" not in diag.eligibility_text  # conditions that exclude no one are not clauses
    assert "Coût : 10 000 € HT" in diag.description


def test_tee_mapped_conditions_become_checks_the_others_an_unknown_clause(store: Catalogue) -> None:
    import_catalogue(store, "tee", [FIXTURES / "tee"])
    pret = store.get_resource("tee-pret-vert-sud")
    q = MatchQuery(text="investissement", territory="2A004", legal_form="entreprise")
    by = {c.criterion: c for c in check_all(pret, q, TODAY)}
    assert by[Criterion.territory].status is CheckStatus.failed  # Corsica is not in PACA nor the Landes
    assert by[Criterion.legal_form].status is CheckStatus.passed
    assert by[Criterion.dates].status is CheckStatus.passed
    conditions = by[Criterion.conditions]
    assert conditions.status is CheckStatus.unknown
    assert conditions.clause.startswith("Conditions de la source, à vérifier : Taille de l'entreprise : Moins de 250")
    closed = check_all(pret, q, date(2028, 1, 2))
    assert {c.criterion: c for c in closed}[Criterion.dates].status is CheckStatus.failed


def test_perimeter_resolvers() -> None:
    assert at_perimeter_codes("Auvergne-Rhône-Alpes (Région)") == ["R84"]
    assert at_perimeter_codes("Valence (Commune – 26000)") == ["26362"]
    assert at_perimeter_codes("Valence (Commune)") is None  # three communes of that name
    assert at_perimeter_codes("Outre-mer") == ["R01", "R02", "R03", "R04", "R06"]
    assert at_perimeter_codes("France") == ["FR"] and at_perimeter_codes("Ad-hoc inconnu") is None
    assert etalab_codes("REG-84|DEP-05|COM-83141|DEP-99") == (["R84", "05", "83141"], ["DEP-99"])
    assert etalab_codes("PAYS-99100") == (["FR"], [])
    assert place_codes("Landes") == ["40"] and place_codes("Nouvelle-Calédonie") is None
    assert financer_codes("DDT du Tarn-et-Garonne") == ["82"]  # the longest name first, not the Tarn
    assert financer_codes("ID77") == ["77"] and financer_codes("Agence Nationale de l'Habitat (ANAH)") == ["FR"]
    assert sorted(financer_codes("Établissement public foncier local de l'Oise et Aisne (EPFLO)") or []) == ["02", "60"]
    assert financer_codes("Hellio Solutions") is None


def test_dispositif_aide_csv_with_semicolons(store: Catalogue, tmp_path: Path) -> None:
    import csv

    rows = list(csv.reader((FIXTURES / "dispositifs.csv").open(encoding="utf-8")))
    path = tmp_path / "dispositifs.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)
    report = import_catalogue(store, "dispositif-aide", [path])
    assert len(report.added) == 2 and store.get_provider(store.get_resource("da-da-001").provider_id).name == "ADEME"
