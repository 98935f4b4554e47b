"""The text model of past partnerships and its cross-fitted use for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.history import History, _fold_of
from matcher.textclf import TextClassifier, VectorClassifier

_THEMES = {
    "velo": "piste cyclable vélo atelier réparation mobilité douce",
    "theatre": "théâtre spectacle scène comédiens festival culture",
    "jardin": "jardin partagé potager compost quartier nature",
}


def _corpus(n_per: int = 12, seed: int = 0) -> tuple[list[str], list[frozenset[str]], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels, ids = [], [], []
    for rid, words in _THEMES.items():
        vocab = words.split()
        for i in range(n_per):
            picked = rng.choice(vocab, size=4, replace=False)
            texts.append(f"Association {i} : projet " + " ".join(picked))
            labels.append(frozenset({rid}))
            ids.append(f"ini-{rid}-{i}")
    return texts, labels, ids


def test_ranks_the_resource_whose_past_projects_share_the_words() -> None:
    texts, labels, _ = _corpus()
    model = TextClassifier().fit(texts, labels)
    assert model.classes_ == sorted(_THEMES)
    probs = model.predict(["un atelier de réparation de vélo", "un festival de théâtre"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.classes_[int(probs[0].argmax())] == "velo"
    assert model.classes_[int(probs[1].argmax())] == "theatre"
    scores = model.scores("potager et compost", ["jardin", "inconnue", "velo"])
    assert scores[1] == 0.0  # no history, no opinion
    assert scores[0] > scores[2]


def test_resources_with_too_few_partnerships_get_no_model() -> None:
    texts, labels, _ = _corpus()
    texts.append("une ludothèque itinérante")
    labels.append(frozenset({"ludo"}))  # one partnership only (min_positives = 2)
    model = TextClassifier().fit(texts, labels)
    assert "ludo" not in model.classes_
    assert TextClassifier().fit(texts[:3], labels[:3]).predict(["vélo"]).shape == (1, 0)


def test_save_load_round_trip_and_damage(tmp_path: Path) -> None:
    texts, labels, _ = _corpus()
    model = TextClassifier().fit(texts, labels)
    model.save(tmp_path)
    back = TextClassifier.load(tmp_path)
    queries = ["réparation de vélo", "scène ouverte", "rien à voir"]
    np.testing.assert_allclose(back.predict(queries), model.predict(queries), atol=2e-3)
    np.save(tmp_path / "textclf_intercept.npy", np.zeros(7, dtype=np.float32))
    with pytest.raises(ValueError, match="damaged"):
        TextClassifier.load(tmp_path)


def test_training_scores_come_from_a_model_that_never_saw_the_example() -> None:
    texts, labels, ids = _corpus(n_per=15)
    history = History(ids, np.zeros((len(ids), 4), dtype=np.float32), labels, texts=texts,
                      classifier=TextClassifier().fit(texts, labels))
    target = ids[0]
    fold = _fold_of(target)
    keep = [i for i, iid in enumerate(ids) if _fold_of(iid) != fold]
    assert 0 < len(keep) < len(ids)
    unseen = TextClassifier().fit([texts[i] for i in keep], [labels[i] for i in keep])
    resources = sorted(_THEMES)
    got = history.classifier_scores(texts[0], resources, exclude=target)
    np.testing.assert_allclose(got, unseen.scores(texts[0], resources), rtol=1e-6)
    served = history.classifier_scores(texts[0], resources)
    np.testing.assert_allclose(served, history.classifier.scores(texts[0], resources), rtol=1e-6)
    assert not np.allclose(got, served)  # the served model has seen the example: not the same answer
    # An id outside the history (a new project) is served by the full model.
    np.testing.assert_allclose(history.classifier_scores(texts[0], resources, exclude="nouveau"), served)


def test_a_history_without_texts_refuses_to_score_training_examples() -> None:
    texts, labels, ids = _corpus()
    history = History(ids, np.zeros((len(ids), 4), dtype=np.float32), labels,
                      classifier=TextClassifier().fit(texts, labels))
    with pytest.raises(RuntimeError, match="its snapshot must be rebuilt"):
        history.classifier_scores(texts[0], ["velo"], exclude=ids[0])


def test_vector_model_learns_directions_and_refuses_a_damaged_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:3]
    X = np.vstack([c + rng.normal(0, 0.3, (20, 8)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = [frozenset({r}) for r in ("a", "b", "c") for _ in range(20)]
    model = VectorClassifier().fit(X, labels)
    assert model.classes_ == ["a", "b", "c"]
    probe = np.eye(8, dtype=np.float32)[1]
    scores = model.scores(probe, ["a", "b", "c", "z"])
    assert int(scores.argmax()) == 1 and scores[3] == 0.0
    np.testing.assert_allclose(model.predict(X).sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path)
    np.testing.assert_allclose(VectorClassifier.load(tmp_path, dim=8).predict(X), model.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match="damaged"):
        VectorClassifier.load(tmp_path, dim=16)


def test_vector_scores_for_training_come_from_the_other_folds() -> None:
    rng = np.random.default_rng(1)
    texts, labels, ids = _corpus(n_per=15)
    vectors = rng.normal(size=(len(ids), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    history = History(ids, vectors, labels, texts=texts, vector_classifier=VectorClassifier().fit(vectors, labels))
    fold = _fold_of(ids[0])
    keep = [i for i, iid in enumerate(ids) if _fold_of(iid) != fold]
    unseen = VectorClassifier().fit(vectors[keep], [labels[i] for i in keep])
    resources = sorted(_THEMES)
    np.testing.assert_allclose(history.vector_classifier_scores(vectors[0], resources, exclude=ids[0]),
                               unseen.scores(vectors[0], resources), rtol=1e-5)
