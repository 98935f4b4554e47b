"""matcher.erasure: the texts an initiative leaves in the cache, the snapshots that hold it, and the
store's part (rows gone, outcomes anonymised, SQLite bytes wiped)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from indexes.cache import EmbeddingCache
from matcher._fields import MAX_DESCRIPTION_CHARS
from matcher.erasure import erase_initiatives, initiative_texts, snapshots_holding
from matcher.schemas import Decision, Initiative, MatchQuery, Outcome
from matcher.store import Catalogue, NotFoundError


def test_the_texts_include_what_a_match_and_the_history_encode() -> None:
    ini = Initiative(id="i-1", title="Ab", description="x" * MAX_DESCRIPTION_CHARS)
    texts = initiative_texts(ini)
    assert ini.text() in texts and MatchQuery.from_initiative(ini).text in texts
    assert MatchQuery.from_initiative(ini).text != ini.text()  # cut to a query's length


def test_snapshots_holding_reads_histories_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "history.json").write_text(json.dumps({"initiative_ids": ["i-1", "i-2"]}))
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "history.json").write_text(json.dumps({"initiative_ids": ["i-3"]}))
    (tmp_path / ".tmp-v3-x").mkdir()
    (tmp_path / ".tmp-v3-x" / "half.bin").write_bytes(b"\x00garbage i-2 \x01")
    assert [p.name for p in snapshots_holding(tmp_path, ["i-2"])] == [".tmp-v3-x", "v1"]
    assert snapshots_holding(tmp_path, ["i-9"]) == []


def test_erasure_anonymises_outcomes_and_leaves_no_byte_in_the_sqlite_files(tmp_path: Path) -> None:
    store = Catalogue.open(f"sqlite:///{tmp_path / 'c.db'}")
    secret = "Marguerite Oyelaran-Tessier"
    store.upsert_initiatives([Initiative(id="i-erase", title="Projet", description=f"porté par {secret}"),
                              Initiative(id="i-keep", title="Autre", description="rien")])
    store.append_outcomes([Outcome(id="o-i-erase-1", initiative_id="i-erase", resource_id="r-1",
                                   decision=Decision.obtained, reason=f"vu avec {secret}")])
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    import numpy as np

    from indexes.cache import text_key
    for text in initiative_texts(store.get_initiative("i-erase")):
        cache.put("m", "query", [text_key(text)], np.ones((1, 4), dtype=np.float32))
    index_root = tmp_path / "indexes"
    (index_root / "v1").mkdir(parents=True)
    (index_root / "v1" / "history.json").write_text(json.dumps({"initiative_ids": ["i-erase"]}))
    (index_root / "CURRENT").write_text("v1")
    with pytest.raises(NotFoundError):
        erase_initiatives(store, ["i-erase", "i-absent"], cache=cache, index_root=index_root)
    assert store.get_initiative("i-erase").id == "i-erase"  # nothing erased
    report = erase_initiatives(store, ["i-erase"], cache=cache, index_root=index_root)
    assert report.outcomes_anonymised == 1 and report.cache_rows == 2 and report.served_removed
    assert not (index_root / "CURRENT").exists() and not (index_root / "v1").exists()
    [kept] = store.outcomes()
    assert kept.initiative_id == report.pseudonyms["i-erase"] and kept.reason is None
    assert kept.decision is Decision.obtained and "i-erase" not in (kept.id or "")
    store.close()
    for path in tmp_path.glob("c.db*"):
        data = path.read_bytes()
        assert b"Oyelaran" not in data and b"i-erase" not in data, path
    assert store.get_initiatives(["i-keep"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_store_erases_the_same_way_on_both_databases(backend: str, tmp_path: Path) -> None:
    from matcher.store import AuditEntry
    from tests.conftest import open_store

    with open_store(backend, tmp_path) as store:
        store.upsert_initiatives([Initiative(id="i-pg", title="Projet", description="Adèle Fontanieu")])
        store.append_outcomes([Outcome(initiative_id="i-pg", resource_id="r-1", decision=Decision.pinned,
                                       reason="à la demande d'Adèle")])
        store.record_audit([AuditEntry(action="override.pin", principal="key:k1 test", role="staff",
                                       target_kind="initiative", target_id="i-pg")])
        pseudonyms = store.erase_initiatives(["i-pg"])
        assert store.get_initiatives(["i-pg"]) == {} and store.outcomes(initiative_id="i-pg") == []
        [kept] = store.outcomes(initiative_id=pseudonyms["i-pg"])
        assert kept.reason is None and kept.decision is Decision.pinned
        [entry] = store.audit_page()[0]
        assert entry.target_id == pseudonyms["i-pg"]
        with pytest.raises(NotFoundError):
            store.erase_initiatives(["i-pg"])


def test_a_history_without_erased_rows_keeps_the_others_and_the_counts() -> None:
    from indexes import HashingEncoder
    from matcher.history import History

    inis = {i: Initiative(id=i, title=f"Jardin {w}", description=f"potager {w} compost", territory="93066")
            for i, w in (("i-a", "tilleuls"), ("i-b", "acacias"), ("i-c", "platanes"))}
    outcomes = [Outcome(initiative_id=i, resource_id="r-1", decision=Decision.obtained) for i in inis]
    history = History.build(outcomes, inis, HashingEncoder(32))
    masked = history.without({"i-b"})
    assert masked.initiative_ids == ["i-a", "i-c"] and masked.vectors.shape == (2, 32)
    assert masked.title_of("i-b") is None and masked.title_of("i-c") == "Jardin platanes"
    assert masked.sparse is not None and "i-b" not in masked.sparse.search("acacias", 3)[1]
    assert masked.positives == history.positives  # the anonymised labels still count
    assert masked.count["r-1"] == 2 and history.count["r-1"] == 3
    assert history.without({"i-z"}) is history


def test_a_snapshot_changing_under_a_build_is_removed_without_an_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild writing or publishing its ``.tmp-*`` folder while an erasure scans and removes it made the
    erasure answer 500 (FileNotFoundError in the scan or in rmtree; seen in the crash test)."""
    import shutil as shutil_module

    from matcher import erasure

    building = tmp_path / ".tmp-build"
    building.mkdir()
    (building / "history_vectorclf_intercept.npy").write_bytes(b"ini-gone")
    (building / "other.bin").write_bytes(b"x")
    real_read = Path.read_bytes

    def vanishing(self: Path) -> bytes:  # the build renames its files away while they are read
        if self.name == "other.bin":
            raise FileNotFoundError(self)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", vanishing)
    assert erasure.snapshots_holding(tmp_path, ["absent-id"]) == [building]  # changing: removed to be sure
    monkeypatch.setattr(Path, "read_bytes", real_read)
    real_rmtree = shutil_module.rmtree

    def racing(path: Path, onerror: object = None) -> None:  # a file disappears between listing and unlink
        (Path(path) / "other.bin").unlink()
        real_rmtree(path, onerror=onerror)  # type: ignore[arg-type]
        onerror(None, str(Path(path) / "other.bin"), (FileNotFoundError, FileNotFoundError("other.bin"), None))  # type: ignore[operator]

    monkeypatch.setattr(erasure.shutil, "rmtree", racing)
    assert erasure._remove_tree(building) is True and not building.exists()
    monkeypatch.setattr(erasure.shutil, "rmtree", real_rmtree)
    assert erasure._remove_tree(building) is False  # already gone: no error
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(erasure.shutil, "rmtree",
                        lambda path, onerror: onerror(None, str(path), (PermissionError, PermissionError("x"), None)))
    with pytest.raises(PermissionError):  # any other failure is not hidden
        erasure._remove_tree(locked)


def test_a_folder_a_build_keeps_writing_into_is_removed_all_the_same(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The crash test's race: a rebuild writes a file into its .tmp folder after rmtree listed it, so
    # the final rmdir finds the folder not empty (ENOTEMPTY); the erasure lists it again.
    import shutil as shutil_module

    from matcher import erasure

    building = tmp_path / ".tmp-build"
    building.mkdir()
    (building / "a.npy").write_bytes(b"ini-gone")
    real_rmtree = shutil_module.rmtree
    calls: list[Path] = []

    def written_meanwhile(path: Path, onerror: object = None) -> None:
        calls.append(path)
        if len(calls) <= 2:  # twice, the build adds a file just before the rmdir
            for p in Path(path).iterdir():
                p.unlink()
            (Path(path) / f"late-{len(calls)}.npy").write_bytes(b"ini-gone")
            raise OSError(errno.ENOTEMPTY, "Directory not empty", str(path))
        real_rmtree(path, onerror=onerror)  # type: ignore[arg-type]

    monkeypatch.setattr(erasure.shutil, "rmtree", written_meanwhile)
    assert erasure._remove_tree(building) is True and not building.exists() and len(calls) == 3
    # a build that never stops writing is not hidden: the erasure says it failed
    stubborn = tmp_path / ".tmp-stubborn"
    stubborn.mkdir()
    def always_written(path: Path, onerror: object = None) -> None:
        raise OSError(errno.ENOTEMPTY, "Directory not empty", str(path))

    monkeypatch.setattr(erasure.shutil, "rmtree", always_written)
    monkeypatch.setattr(erasure.time, "sleep", lambda s: None)
    with pytest.raises(OSError, match="not empty"):
        erasure._remove_tree(stubborn)
