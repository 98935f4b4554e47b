"""Each reason template fires only with its evidence (hand-built cases, no model)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from indexes.sparse import SparseIndex
from matcher.eligibility import Check
from matcher.explain import Grounds, reasons_for, shared_words
from matcher.history import History
from matcher.schemas import CheckStatus, Criterion, MatchQuery, Resource, ResourceKind

TODAY = date(2026, 11, 28)


def _resource(rid: str = "r-jardin", **kw: object) -> Resource:
    base: dict[str, object] = {"id": rid, "kind": ResourceKind.financement, "provider_id": "p",
                               "title": "Jardins partagés et compostage collectif",
                               "description": "Aide aux associations qui créent un jardin partagé avec un composteur.",
                               "themes": ["agriculture urbaine"]}
    return Resource.model_validate(base | kw)


def _check(criterion: Criterion, status: CheckStatus, clause: str) -> Check:
    return Check(criterion, status, clause)


def _catalogue() -> SparseIndex:
    docs = {
        "r-jardin": "Jardins partagés et compostage collectif. Aide aux associations qui créent un jardin partagé "
                    "avec un composteur. projet",
        "r-velo": "Atelier vélo solidaire. Réparation de vélos. projet",
        "r-musique": "Résidences de musique en milieu rural. projet",
        "r-numerique": "Inclusion numérique : ateliers pour les seniors. projet",
        "r-eau": "Accès à l'eau potable outre-mer. projet",
        "r-sport": "Sport-santé pour les seniors. projet",
        "r-culture": "Culture et ruralité. projet",
        "r-emploi": "Insertion par l'activité économique. projet",
    }
    return SparseIndex().build(list(docs), list(docs.values()))


def test_shared_words_are_the_citizens_words_rarest_first_and_common_words_are_left_out() -> None:
    sparse = _catalogue()
    words = shared_words("Notre projet : un jardin partagé et un composteur au pied des tours", "r-jardin", sparse)
    # Each is held by one resource: order of appearance; "projet" is in all of them, no evidence of a fit.
    assert words == ["jardin", "partagé", "composteur"]
    sparse.upsert(["r-jardin2"], ["Un jardin partagé à Lyon"])
    assert shared_words("Notre projet : un jardin partagé et un composteur", "r-jardin", sparse)[0] == "composteur"
    assert shared_words("Un atelier de réparation de vélos", "r-jardin", sparse) == []
    assert shared_words("jardin", "unknown-id", sparse) == []


def test_shared_words_ignore_short_words_and_numbers() -> None:
    sparse = SparseIndex().build(["a", "b"], ["eau 2026 jardin", "autre chose"])
    assert shared_words("eau 2026 jardin", "a", sparse) == ["jardin"]


def test_no_evidence_gives_no_reason() -> None:
    q = MatchQuery(text="Un club de judo pour les enfants du quartier")
    assert reasons_for(q, _resource(), [], Grounds()) == []


def test_each_template_needs_its_evidence() -> None:
    q = MatchQuery(text="Nous voulons créer un jardin partagé avec un composteur", themes=["agriculture urbaine"])
    r = _resource()
    checks = [_check(Criterion.territory, CheckStatus.passed, "Périmètre : France, qui couvre Brest."),
              _check(Criterion.dates, CheckStatus.passed, "Ouvert toute l'année.")]
    full = reasons_for(q, r, checks, Grounds(shared_words=("composteur", "jardin"), relevance_label="forte",
                                             relevance=0.81, neighbour="Jardin des Capucins"))
    assert full == [
        "Thèmes communs : agriculture urbaine.",
        "Mots communs avec votre description : « composteur », « jardin ».",
        "Pertinence estimée forte (81 %), d'après les suggestions déjà évaluées.",
        "Un projet semblable au vôtre l'a déjà obtenue : « Jardin des Capucins ».",
    ]
    # A relevance that is only "moyenne" is not said to be strong; no neighbour, no neighbour reason.
    some = reasons_for(q, r, checks, Grounds(shared_words=("composteur",), relevance_label="moyenne", relevance=0.4))
    assert not any("Pertinence" in x or "semblable" in x for x in some)
    assert "Périmètre : France, qui couvre Brest." in some and "Ouvert toute l'année." in some


def test_failed_checks_give_no_reason_and_theme_or_place_words_are_not_repeated() -> None:
    q = MatchQuery(text="Agriculture urbaine à Saint-Denis", territory="93066")
    r = _resource(themes=["agriculture urbaine"])
    checks = [_check(Criterion.territory, CheckStatus.failed, "Réservé à Lyon."),
              _check(Criterion.dates, CheckStatus.failed, "Clos depuis le 1er mars 2026.")]
    reasons = reasons_for(q, r, checks, Grounds(shared_words=("agriculture", "denis", "urbaine")))
    assert reasons == ["Thèmes communs : agriculture urbaine."]


def test_neighbour_title_comes_from_the_history_texts() -> None:
    history = History(["ini-1"], np.zeros((1, 4), dtype=np.float32), [frozenset({"r"})],
                      texts=["Jardin des Capucins\nUn jardin partagé à Brest"])
    assert history.title_of("ini-1") == "Jardin des Capucins"
    assert history.title_of("ini-2") is None
    no_texts = History(["ini-1"], np.zeros((1, 4), dtype=np.float32), [frozenset({"r"})])
    assert no_texts.title_of("ini-1") is None


@pytest.mark.parametrize("rid", ["r-jardin"])
def test_document_frequency_follows_updates(rid: str) -> None:
    sparse = _catalogue()
    term = sparse.analyzer.analyze("composteur")[0]
    assert sparse.document_frequency(term) == 1
    sparse.upsert(["r-new"], ["un composteur de quartier"])
    assert sparse.document_frequency(term) == 2
    sparse.remove(["r-new", rid])
    assert sparse.document_frequency(term) == 0


def test_a_public_page_gets_the_neighbour_reason_without_the_other_initiatives_name() -> None:
    from matcher.explain import without_names

    q = MatchQuery(text="Un jardin partagé")
    named = reasons_for(q, _resource(), [], Grounds(neighbour="Jardin des Capucins"))
    assert named == ["Un projet semblable au vôtre l'a déjà obtenue : « Jardin des Capucins »."]
    assert [without_names(r) for r in named] == ["Un projet semblable au vôtre l'a déjà obtenue."]
    assert without_names("Thèmes communs : jardin.") == "Thèmes communs : jardin."
