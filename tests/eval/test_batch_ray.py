"""``maillage batch``: the command on a home (hashing encoder), locally and on a local Ray with 2 workers,
whose outputs must be the same files byte for byte."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from eval.shards import MANIFEST
from matcher.store import Catalogue
from service.cli.batch import batch
from service.settings import Settings
from tests.conftest import small_catalogue
from tests.eval.test_batch import cohort_file


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """A bare application with the ``batch`` command, on a home holding the small catalogue."""
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    settings = Settings()
    settings.home.mkdir(parents=True)
    store = Catalogue.open(settings.db_url)
    providers, resources, initiatives = small_catalogue()
    store.upsert_providers(providers)
    store.upsert_resources(resources)
    store.upsert_initiatives(initiatives)
    store.close()
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """maillage"""

    app.command()(batch)
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["batch", *args, "-k", "3", "--on", "2026-12-01"])
    return res.exit_code, " ".join(res.output.split())  # rich wraps long lines


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != MANIFEST}


def test_the_command_runs_resumes_and_refuses_in_french(app: typer.Typer, tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 25)
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "out"), "--shard-size", "10", "--format", "csv")
    assert code == 0, text
    assert "3 lots (3 appariés, 0 déjà faits, 0 réécrits) : 25 initiatives, 75 lignes, 1 ligne(s) rejetée(s)" in text
    assert sorted(files(tmp_path / "out")) == ["shard-00000.csv", "shard-00001.csv", "shard-00002.csv"]
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "out"), "--shard-size", "10", "--format", "csv")
    assert code == 0 and "0 appariés, 3 déjà faits" in text
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "out"), "--shard-size", "5", "--format", "csv")
    assert code == 2 and "la taille des lots (--shard-size) diffère (manifeste : 10, cette exécution : 5)" in text
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "x"), "--engine", "spark")
    assert code == 2 and "--engine inconnu 'spark'" in text
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "x"), "--ray-address", "ray://head:10001")
    assert code == 2 and "--ray-address ne s'emploie qu'avec --engine ray" in text


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # nothing leaves the machine
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_ray_writes_the_same_shards_as_one_machine(app: typer.Typer, tmp_path: Path, local_ray: None) -> None:
    cohort = cohort_file(tmp_path / "c.jsonl", 40, bad=False)
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "local"), "--shard-size", "10")
    assert code == 0, text
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "ray"), "--shard-size", "10", "--engine", "ray",
                        "--workers", "2")
    assert code == 0, text
    assert "4 lots (4 appariés" in text
    local, on_ray = files(tmp_path / "local"), files(tmp_path / "ray")
    assert sorted(local) == [f"shard-{n:05d}.parquet" for n in range(4)]
    assert on_ray == local  # same rows, same order, same scores: the same bytes
    rows = [r for name in sorted(on_ray) for r in pq.read_table(tmp_path / "ray" / name).to_pylist()]
    assert len(rows) == 120 and [r["initiative_id"] for r in rows[::3]] == [f"c{i:03d}" for i in range(40)]
    manifests = [json.loads((tmp_path / d / MANIFEST).read_text(encoding="utf-8")) for d in ("local", "ray")]
    assert manifests[0] == manifests[1] and manifests[1]["complete"]
    # Resumed on Ray after one shard is lost: only that shard is matched again, to the same bytes.
    (tmp_path / "ray" / "shard-00002.parquet").unlink()
    code, text = invoke(app, str(cohort), "-o", str(tmp_path / "ray"), "--shard-size", "10", "--engine", "ray")
    assert code == 0 and "1 appariés, 3 déjà faits, 1 réécrits" in text
    assert files(tmp_path / "ray") == local


def test_a_worker_refuses_a_snapshot_or_model_other_than_the_runs(app: typer.Typer, tmp_path: Path) -> None:
    from service.cli.batch import HomeRecommender

    code, text = invoke(app, str(cohort_file(tmp_path / "c.jsonl", 3)), "-o", str(tmp_path / "out"))
    assert code == 0, text
    version = json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))["fingerprint"]
    rec = HomeRecommender(Settings(), version["index_version"], version["model_version"])()
    assert rec.index.version == version["index_version"]
    with pytest.raises(ValueError, match=r"le travailleur Ray trouve l'index .* le lot a été lancé avec l'index "
                                         r"20990101T000000000000Z"):
        HomeRecommender(Settings(), "20990101T000000000000Z", version["model_version"])()
