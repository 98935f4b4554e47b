"""A one-off ``maillage match`` on an existing home: queries from the ONNX export, neither PyTorch nor
scikit-learn imported, the same answers as the scikit-learn path; and the export is used only when it
was made from the model folder it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from indexes.onnx_encoder import onnx_first

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from service.cli import app
try:
    app(["match", "--text", "jardin partagé et compost de quartier", "--territory", "93066", "--json"],
        standalone_mode=False)
finally:
    watched = ("torch", "sentence_transformers", "sklearn", "onnxruntime")
    sys.stderr.write("MODULES " + json.dumps({m: m in sys.modules for m in watched}))
"""


def test_no_export_or_an_export_of_other_weights_is_not_used(tmp_path: Path) -> None:
    folder, export = tmp_path / "model", tmp_path / "onnx"
    folder.mkdir()
    export.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")

    def full() -> object:
        raise AssertionError("not loaded by the check")

    kwargs = dict(model_id="m", dim=8, query_prefix="", document_prefix="", max_texts=8)
    assert onnx_first(folder, export, "auto", full, **kwargs) is None  # type: ignore[arg-type]
    (export / "model.onnx").write_bytes(b"")
    (export / "export.json").write_text(json.dumps({"source": "another-folder"}), encoding="utf-8")
    assert onnx_first(folder, export, "float32", full, **kwargs) is None  # type: ignore[arg-type]


@pytest.mark.model
def test_match_from_the_cli_imports_no_pytorch(tmp_path: Path, e5_folder: Path) -> None:
    from indexes import load_encoder
    from matcher.indexing import ResourceIndex
    from matcher.store import Catalogue, sqlite_url
    from tests.conftest import small_catalogue

    home = tmp_path / "home"
    (home / "models" / "encoders").mkdir(parents=True)
    os.symlink(e5_folder, home / "models" / "encoders" / "multilingual-e5-small")
    store = Catalogue.open(sqlite_url(home / "maillage.db"))
    providers, resources, initiatives = small_catalogue()
    store.upsert_providers(providers)
    store.upsert_resources(resources)
    store.upsert_initiatives(initiatives)
    encoder = load_encoder("multilingual-e5-small", models_dir=home / "models" / "encoders",
                           cache_path=home / "cache" / "embeddings.sqlite")  # exports to ONNX, builds the index
    ResourceIndex.ensure(store, encoder, home / "indexes")
    store.close()

    env = {**os.environ, "MAILLAGE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    answers = []
    for loaded_model in (True, False):  # the second time the text's vector is in the cache: no model loaded
        run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr
        answers.append(json.loads(run.stdout))
        assert answers[-1] and answers[-1][0]["resource_id"] == "res-jardin-93"
        modules = json.loads(run.stderr.rsplit("MODULES ", 1)[1])
        assert modules == {"torch": False, "sentence_transformers": False, "sklearn": False,
                           "onnxruntime": loaded_model}
    assert answers[0] == answers[1]


# --- the CLI path without scikit-learn, with the outputs of the scikit-learn path -----------------

LOADED = """
import json, sys
from service.cli import main
try:
    main()
finally:
    sys.stderr.write("MODULES " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in WATCHED)))
"""
WATCHED = ("torch", "sentence_transformers", "transformers", "sklearn", "uvicorn", "aiosmtpd", "training", "eval")


def _sklearn_predict(self: object, texts: object) -> object:
    """``TextClassifier.predict`` as it was before it stopped importing scikit-learn: the vectorizer
    rebuilt from the snapshot's vocabulary and idf, and SciPy's CSR × dense product."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from matcher.textclf import TextClassifier, _probabilities

    assert isinstance(self, TextClassifier) and self.tfidf_ is not None and self.coef_ is not None
    vec = TfidfVectorizer(strip_accents="unicode", lowercase=True, ngram_range=(1, 2), sublinear_tf=True,
                          min_df=1, max_features=len(self.tfidf_.vocabulary), vocabulary=self.tfidf_.vocabulary,
                          dtype=np.float32)
    vec.idf_ = self.tfidf_.idf
    X = vec.transform(list(texts))  # type: ignore[call-overload]
    return _probabilities(np.asarray(X @ self.coef_.T, dtype=np.float32) + self.intercept_)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalogue (with its past decisions, so the text model of past partnerships is fitted and
    weighs in the ranking), indexed with the hashing encoder."""
    from matcher.demo_catalogue import load_demo
    from service.cli._common import ensure_index
    from service.settings import Settings

    home = tmp_path_factory.mktemp("quick") / "home"
    settings = Settings(home=home, model="hashing:64")
    from matcher.store import Catalogue

    store = Catalogue.open(settings.db_url)
    load_demo(store)
    index, _ = ensure_index(store, settings)
    assert index.history.classifier is not None and index.history.classifier.classes_
    store.close()
    return home


def test_cli_match_equals_the_sklearn_path_and_imports_neither_sklearn_nor_torch(
        demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matcher.store import Catalogue
    from matcher.textclf import TextClassifier
    from service.cli._common import ensure_index
    from service.settings import Settings

    env = {**os.environ, "MAILLAGE_HOME": str(demo_home), "MAILLAGE_MODEL": "hashing:64", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    env.pop("MAILLAGE_DATABASE_URL", None)
    settings = Settings(home=demo_home, model="hashing:64")
    store = Catalogue.open(settings.db_url)
    _, rec = ensure_index(store, settings, onnx_first=True)
    monkeypatch.setattr(TextClassifier, "predict", _sklearn_predict)
    used_text_model = 0
    for args in (["--initiative", "ini-0001"], ["--initiative", "ini-0004"],
                 ["--text", "Jardin partagé et compost dans notre quartier", "--territory", "93066"]):
        run = subprocess.run([sys.executable, "-c", LOADED.replace("WATCHED", repr(WATCHED)), "match", *args,
                              "--json", "--on", "2026-06-01"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stderr.rsplit("MODULES ", 1)[1]) == []
        if args[0] == "--initiative":
            ini = store.get_initiative(args[1])
            result = rec.recommend(ini, 10, today=date(2026, 6, 1), overrides=store.overrides_for(ini.id))
        else:
            from matcher.schemas import MatchQuery
            from matcher.understanding import understand

            query = understand(MatchQuery(text=args[1], territory=args[3])).query
            result = rec.recommend(query, 10, today=date(2026, 6, 1))
        expected = [m.model_dump(mode="json") for m in result.matches]
        assert expected and json.loads(run.stdout) == expected
        used_text_model += sum(m["features"].get("text_clf", 0.0) > 0 for m in expected)
    assert used_text_model > 0  # the text model of past partnerships did score these matches
    store.close()
