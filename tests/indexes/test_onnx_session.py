"""The optimised graph of an ONNX export is written once with its weights in a side file that ONNX
Runtime maps at load (:func:`indexes.onnx_runtime._session`): same outputs, older copies removed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from indexes.onnx_runtime import _session  # noqa: E402


def _model(path: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A ``y = relu(x @ W + b)`` graph with a (64, 32) float32 weight (big enough for the side file)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["z"]),
         helper.make_node("Relu", ["z"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return w, b


def _options() -> object:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return options


def test_the_optimised_graph_maps_its_weights_and_answers_the_same(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _model(path)
    (tmp_path / "model.opt.onnx").write_bytes(b"an older Maillage's optimised graph")
    (tmp_path / "model.mapped-old.data").write_bytes(b"weights of an earlier optimisation")
    x = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    first = _session(ort, path, _options()).run(None, {"x": x})[0]
    data = sorted(tmp_path.glob("model.mapped-*.data"))
    assert (tmp_path / "model.mapped.onnx").is_file() and len(data) == 1 and data[0].name != "model.mapped-old.data"
    assert data[0].stat().st_size >= 64 * 32 * 4  # the weights live in the side file, not in the graph
    assert (tmp_path / "model.mapped.onnx").stat().st_size < 64 * 32 * 4
    assert not (tmp_path / "model.opt.onnx").exists()
    again = _session(ort, path, _options()).run(None, {"x": x})[0]
    assert sorted(tmp_path.glob("model.mapped-*.data")) == data  # opened, not optimised again
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(again, plain)


def test_missing_weights_or_a_newer_export_are_optimised_again(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _model(path)
    x = np.ones((1, 64), dtype=np.float32)
    _session(ort, path, _options())
    for data in tmp_path.glob("model.mapped-*.data"):
        data.unlink()
    out = _session(ort, path, _options()).run(None, {"x": x})[0]
    assert len(list(tmp_path.glob("model.mapped-*.data"))) == 1
    w, b = _model(path, seed=2)  # a new export: newer than the optimised graph
    stale = (tmp_path / "model.mapped.onnx").stat().st_mtime_ns
    os.utime(path, ns=(stale + 10**9, stale + 10**9))
    fresh = _session(ort, path, _options()).run(None, {"x": x})[0]
    assert not np.array_equal(fresh, out)
    np.testing.assert_allclose(fresh, np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-5)
    assert len(list(tmp_path.glob("model.mapped-*.data"))) == 1


def test_sessions_open_with_the_threads_the_process_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from indexes import onnx_runtime
    from indexes.onnx_runtime import OnnxRunner, set_threads
    from service.settings import Settings

    _model(tmp_path / "m.onnx")
    monkeypatch.setattr(onnx_runtime, "_threads", None)
    assert OnnxRunner(tmp_path / "m.onnx", None, 8).threads == min(os.cpu_count() or 1, 4)
    set_threads(1)
    assert OnnxRunner(tmp_path / "m.onnx", None, 8).threads == 1
    assert OnnxRunner(tmp_path / "m.onnx", None, 8, threads=3).threads == 3  # an explicit count wins
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            set_threads(bad)  # type: ignore[arg-type]
    # The service leaves one CPU to the pipeline unless told otherwise.
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert Settings().serving_encoder_threads == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert Settings().serving_encoder_threads == 7
    monkeypatch.setenv("MAILLAGE_ENCODER_THREADS", "2")
    assert Settings().serving_encoder_threads == 2
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    monkeypatch.delenv("MAILLAGE_ENCODER_THREADS")
    assert Settings().serving_encoder_threads == 1
