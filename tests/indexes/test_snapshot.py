from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexes import FORMAT_VERSION, Manifest, SnapshotError, current, publish, verify


def manifest(version: str, **over: object) -> Manifest:
    base: dict[str, object] = dict(version=version, kind="resources", encoder_id="hashing:8", dim=8, count=1,
                                   catalogue_hash="abc")
    base.update(over)
    return Manifest(**base)  # type: ignore[arg-type]


def write_payload(folder: Path) -> None:
    (folder / "data.bin").write_bytes(b"x" * 1000)


def test_publish_then_current_and_verify(tmp_path: Path) -> None:
    folder = publish(tmp_path, write_payload, manifest("v1"))
    assert current(tmp_path) == folder
    m = verify(folder)
    assert m.version == "v1" and set(m.files) == {"data.bin"} and m.format_version == FORMAT_VERSION
    assert "numpy" in m.packages


def test_interrupted_build_leaves_previous_snapshot_served(tmp_path: Path) -> None:
    first = publish(tmp_path, write_payload, manifest("v1"))

    def crash(folder: Path) -> None:
        (folder / "data.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, crash, manifest("v2"))
    assert current(tmp_path) == first
    assert not (tmp_path / "v2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_truncated_file_is_detected(tmp_path: Path) -> None:
    folder = publish(tmp_path, write_payload, manifest("v1"))
    with (folder / "data.bin").open("r+b") as fh:
        fh.truncate(10)
    with pytest.raises(SnapshotError, match=r"data\.bin is corrupt or truncated"):
        verify(folder)


def test_versions_are_never_overwritten(tmp_path: Path) -> None:
    publish(tmp_path, write_payload, manifest("v1"))
    with pytest.raises(SnapshotError, match="never overwritten"):
        publish(tmp_path, write_payload, manifest("v1"))


def test_newer_format_and_encoder_mismatch_are_refused_with_advice(tmp_path: Path) -> None:
    folder = publish(tmp_path, write_payload, manifest("v1"))
    m = verify(folder)
    with pytest.raises(SnapshotError, match=r"built with encoder 'hashing:8' \(dim 8\).*rebuild the index"):
        m.check(kind="resources", encoder_id="multilingual-e5-small", dim=384)
    data = json.loads((folder / "manifest.json").read_text())
    data["format_version"] = FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match="upgrade Maillage or rebuild"):
        verify(folder)


def test_garbage_manifest_is_reported(tmp_path: Path) -> None:
    folder = publish(tmp_path, write_payload, manifest("v1"))
    (folder / "manifest.json").write_text("{oops")
    with pytest.raises(SnapshotError, match="not valid JSON"):
        verify(folder)


def test_prune_keeps_the_newest_and_the_served_snapshot(tmp_path: Path) -> None:
    import os
    import time

    from indexes import prune, set_current

    for v in ("v1", "v2", "v3", "v4", "v5"):
        publish(tmp_path, lambda d: (d / "x.bin").write_bytes(b"x"),
                Manifest(version=v, kind="t", encoder_id="e", dim=1, count=0, catalogue_hash="h"))
    set_current(tmp_path, "v1")  # a rollback: the served one is old
    stale = tmp_path / ".tmp-v6-abc"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    removed = prune(tmp_path, keep=2)
    assert sorted(removed) == [".tmp-v6-abc", "v2", "v3"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["v1", "v4", "v5"]
    with pytest.raises(ValueError):
        prune(tmp_path, keep=0)
