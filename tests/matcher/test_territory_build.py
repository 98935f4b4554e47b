"""scripts/build_territory_data.py on a tiny stand-in package (tests/fixtures/decoupage-administratif):
deterministic output, the documented derivations, and refusals. No network."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_territory_data.py"
FIXTURE = ROOT / "tests" / "fixtures" / "decoupage-administratif"


def _build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(source), "--out", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_output_is_deterministic_and_as_documented(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert _build(FIXTURE, first).returncode == 0
    run = _build(FIXTURE, second)
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == ["communes.json.gz", "departements.json", "regions.json"]  # no temporary file left
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    deps = json.loads((first / "departements.json").read_text("utf-8"))
    assert [d["code"] for d in deps] == ["01", "2A", "75"]  # COG order, collectivité 975 left out
    assert [r["code"] for r in json.loads((first / "regions.json").read_text("utf-8"))] == ["11", "84", "94"]

    cog = json.loads(gzip.decompress((first / "communes.json.gz").read_bytes()))
    assert cog["format"] == 1 and cog["source"]["version"] == "6.0.0" and cog["source"]["tarball_sha256"] is None
    rows = {c[0]: dict(zip(cog["columns"], c, strict=True)) for c in cog["communes"]}
    assert list(rows) == ["01001", "01015", "01262", "75056"]  # sorted; Saint-Pierre (975) left out
    assert rows["01015"]["postcodes"] == ["01300", "01260"]  # the roundest postcode is the main one
    assert rows["75056"]["postcodes"] == ["75001", "75002", "75010"]  # Paris keeps its first
    assert (rows["01262"]["urban"], rows["01001"]["urban"]) == (True, False)  # 3,500 inhabitants
    assert (rows["01262"]["epci"], rows["01015"]["epci"]) == ("240100610", None)
    assert cog["epci"] == {"200054781": ["Métropole du Grand Paris", "METRO"],
                           "240100610": ["CC de la Côtière à Montluel", "CC"]}
    assert cog["arrondissements"] == [["75101", "Paris 1er Arrondissement", "75056", ["75001"], 15917]]
    assert cog["former"] == [
        ["01120", "Cordieux", "01262", "commune associée"],
        ["01145", None, "01262", "ancienne commune"],
        ["01340", "Saint-Bois", "01015", "commune déléguée"],  # not 01015 Arbignieu: that code is current
        ["01500", "Ailleurs", "01001", "commune associée"],  # its own record wins over 01262's list
    ]
    assert "01500" in run.stderr


def test_another_version_is_refused(tmp_path):
    package = tmp_path / "package"
    shutil.copytree(FIXTURE, package)
    meta = json.loads((package / "package.json").read_text("utf-8"))
    (package / "package.json").write_text(json.dumps(meta | {"version": "6.1.0"}), "utf-8")
    run = _build(package, tmp_path / "out")
    assert run.returncode == 1 and "expected @etalab/decoupage-administratif 6.0.0" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_tarball_with_another_sha_is_refused(tmp_path):
    tarball = tmp_path / "etalab-decoupage-administratif-6.0.0.tgz"
    tarball.write_bytes(b"not the pinned tarball")
    run = _build(tarball, tmp_path / "out")
    assert run.returncode == 1 and "expected c189ffd5" in run.stderr
