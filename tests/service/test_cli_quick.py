"""A one-off ``maillage match`` on an existing home: queries from the ONNX export, no PyTorch imported;
and the export is used only when it was made from the model folder it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    sys.stderr.write("MODULES " + json.dumps({m: m in sys.modules for m in ("torch", "sentence_transformers")}))
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
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    matches = json.loads(run.stdout)
    assert matches and matches[0]["resource_id"] == "res-jardin-93"
    modules = json.loads(run.stderr.rsplit("MODULES ", 1)[1])
    assert modules == {"torch": False, "sentence_transformers": False}
