"""Regenerate ``matcher/data/territory/`` from Etalab's ``@etalab/decoupage-administratif``.

The source is the npm package ``@etalab/decoupage-administratif`` **6.0.0** (MIT licence, data of
the INSEE Code officiel géographique with La Poste postcodes and the EPCI memberships, published by
Etalab), tarball ``etalab-decoupage-administratif-6.0.0.tgz``:

* sha256 ``c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a``
* sha1 (npm "shasum") ``0330556cf07e21fff21111e5775a316ec18b9636``

Fetch it with npm, then run this script from the repository on the tarball (it checks the version
and the sha256)::

    cd "$(mktemp -d)" && npm pack @etalab/decoupage-administratif@6.0.0 && cd -
    .venv/bin/python scripts/build_territory_data.py "$OLDPWD/etalab-decoupage-administratif-6.0.0.tgz"

or on an unpacked package directory (its version is checked, no sha can be; tests use a tiny one).
The output is deterministic: the same input gives byte-identical files. It writes, each through a
temporary file and ``os.replace``:

* ``regions.json``, ``departements.json``: the 18 régions and 101 départements (the collectivités
  d'outre-mer 975, 977, 978, 984, 986–989 are left out: they are in no région, and Maillage's
  hierarchy commune → département → région → FR does not describe them);
* ``communes.json.gz``: every current commune of those départements, the arrondissements municipaux
  of Paris, Lyon and Marseille, the former communes merged into a current one, the EPCI names, and
  the source (package, version, sha256). Shapes are in :func:`build`'s docstring.

Two fields are derived here, by documented rules:

* **main postcode**: the package lists postcodes in ascending order and names no main one. The main
  postcode is the one with the most trailing zeros (La Poste gives the distributing office of the
  main town a round number: 13100 Aix-en-Provence beside 13080 Luynes, 06600 Antibes beside 06160
  Juan-les-Pins), ties to the smallest; it comes first, the others follow in ascending order. Paris,
  Lyon and Marseille (postcodes of their arrondissements) keep the first one (75001, 69001, 13001).
* **urban**: no package reachable from here ships INSEE's grille communale de densité, so a commune
  is urban when its population is at least :data:`URBAN_MIN_POPULATION` (3,500) inhabitants. With
  the 6.0.0 populations this classes 90.7 % of the communes and 31 % of the population of the 101
  départements as rural, close to the grille de densité's split (about 88 % of the communes and 33 %
  of the population in peu denses or très peu denses communes); a threshold of 5,000 gives 93.5 %
  and 37 %, one of 2,000 gives 84 % and 22 %.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
TARBALL_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"
URBAN_MIN_POPULATION = 3500
FORMAT = 1
"""Format version of ``communes.json.gz``; the loader refuses another one."""

_PLM = {"75056", "69123", "13055"}  # Paris, Lyon, Marseille: communes with arrondissements municipaux
_FORMER_STATUS = {"commune-deleguee": "commune déléguée", "commune-associee": "commune associée"}


class BuildError(Exception):
    """The package is not the pinned one, or its data breaks an invariant this build relies on."""


def main_postcode_first(code: str, postcodes: list[str]) -> list[str]:
    """The postcodes with the main one first (see the module docstring), the others ascending."""
    ordered = sorted(set(postcodes))
    if not ordered or code in _PLM:
        return ordered

    def zeros(p: str) -> int:
        return len(p) - len(p.rstrip("0"))

    main = min(ordered, key=lambda p: (-zeros(p), p))
    return [main] + [p for p in ordered if p != main]


def _read(package: Path, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((package / "data" / name).read_text(encoding="utf-8"))
    return rows


def build(package: Path, tarball_sha256: str | None) -> dict[str, bytes]:
    """The output files (name → bytes) built from an unpacked package directory.

    ``communes.json.gz`` holds one JSON object (gzip, mtime 0 so that it is deterministic)::

        {"format": 1, "source": {...}, "urban_min_population": 3500,
         "columns": ["code", "name", "departement", "epci", "postcodes", "population", "urban"],
         "communes": [["01001", "L'Abergement-Clémenciat", "01", "200069193", ["01400"], 860, false], ...],
         "arrondissements": [["75101", "Paris 1er Arrondissement", "75056", ["75001"], 15917], ...],
         "former": [["01340", null, "01015", "ancienne commune"], ["01120", "Cordieux", "01262",
                    "commune associée"], ...],
         "epci": {"200069193": ["CC de la Dombes", "CC"], ...}}

    ``communes`` is sorted by code; ``epci`` is the SIREN of the commune's EPCI à fiscalité propre
    (null for the few communes in none); ``population`` is the package's (municipal) population.
    ``former`` lists the codes of former communes that now belong to a current commune (the package's
    ``anciensCodes``), with the name when the package still lists them as a commune déléguée or
    associée; a former commune whose code the commune nouvelle kept is not listed (the code is current).
    """
    meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    if meta.get("name") != PACKAGE or meta.get("version") != VERSION:
        raise BuildError(f"expected {PACKAGE} {VERSION}, got {meta.get('name')} {meta.get('version')} "
                         f"in {package}: update VERSION and TARBALL_SHA256 deliberately to change it")
    regions, deps = _regions_and_departements(package)
    rows = _read(package, "communes.json")
    dep_region = {d["code"]: d["region"] for d in deps}
    current = {r["code"]: r for r in rows if r["type"] == "commune-actuelle" and r["departement"] in dep_region}
    for code, r in current.items():
        dep = r["departement"]
        if not code.startswith(dep) or dep_region[dep] != r["region"]:
            raise BuildError(f"commune {code} is given département {dep}, région {r['region']}")
    epci_of, epci_names = _epci(package, current)

    communes = []
    for code in sorted(current):
        r = current[code]
        population = int(r.get("population", 0))
        communes.append([code, r["nom"], r["departement"], epci_of.get(code),
                         main_postcode_first(code, r.get("codesPostaux", [])), population,
                         population >= URBAN_MIN_POPULATION])
    arrondissements = sorted(
        [r["code"], r["nom"], r["commune"], sorted(r.get("codesPostaux", [])), int(r.get("population", 0))]
        for r in rows if r["type"] == "arrondissement-municipal" and r["commune"] in current
    )
    source = {"package": PACKAGE, "version": VERSION, "licence": meta.get("license"),
              "tarball_sha256": tarball_sha256}
    payload = {"format": FORMAT, "source": source, "urban_min_population": URBAN_MIN_POPULATION,
               "columns": ["code", "name", "departement", "epci", "postcodes", "population", "urban"],
               "communes": communes, "arrondissements": arrondissements, "former": _former(rows, current),
               "epci": epci_names}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return {
        "regions.json": _lines([{"code": r["code"], "name": r["nom"]} for r in regions]),
        "departements.json": _lines([{"code": d["code"], "name": d["nom"], "region": d["region"]} for d in deps]),
        "communes.json.gz": gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0),
    }


def _regions_and_departements(package: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The régions and départements, without the collectivités d'outre-mer, in COG order."""
    regions = [r for r in _read(package, "regions.json") if r.get("zone") != "com"]
    # COG order: 01…19, 2A, 2B, 21…95, 971…976 (the package puts Corsica after 29).
    deps = sorted((d for d in _read(package, "departements.json") if d.get("zone") != "com"),
                  key=lambda d: "20" + d["code"][1] if d["code"] in ("2A", "2B") else d["code"])
    region_codes = {r["code"] for r in regions}
    for d in deps:
        if d["region"] not in region_codes:
            raise BuildError(f"département {d['code']} is in unknown région {d['region']}")
    return regions, deps


def _epci(package: Path, current: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Commune code → SIREN of its EPCI, and SIREN → [name, type] for the EPCI of those communes."""
    epci_of: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for e in _read(package, "epci.json"):
        members = [m["code"] for m in e["membres"] if m["code"] in current]
        if members:
            names[e["code"]] = [e["nom"], e["type"]]
        for m in members:
            if m in epci_of:
                raise BuildError(f"commune {m} is a member of two EPCI: {epci_of[m]} and {e['code']}")
            epci_of[m] = e["code"]
    return epci_of, dict(sorted(names.items()))


def _former(rows: list[dict[str, Any]], current: dict[str, Any]) -> list[list[str | None]]:
    """``[code, name or None, current commune, status]`` for each former code, sorted by code."""
    former_of: dict[str, str] = {}
    for code, r in current.items():
        for old in r.get("anciensCodes", []):
            if old.startswith("20"):
                continue  # Corsica's codes before 1976: Maillage refuses département 20, pointing to 2A/2B
            if old in current or old in former_of:
                raise BuildError(f"former code {old} of {code} is also current or former elsewhere")
            former_of[old] = code
    named: dict[str, tuple[str, str]] = {}
    for r in rows:
        if r["type"] not in _FORMER_STATUS or r["code"] in current:
            continue  # a commune déléguée that kept its commune nouvelle's code: the code is current
        if r["chefLieu"] not in current:
            raise BuildError(f"{r['type']} {r['code']} is attached to {r['chefLieu']}, not a current commune")
        if former_of.get(r["code"]) != r["chefLieu"]:
            # 6.0.0 has two: 55273 and 60455, named among the former codes of a commune they no longer
            # belong to. The commune déléguée or associée record states the present attachment: it wins.
            print(f"note: {r['type']} {r['code']} {r['nom']} is attached to {r['chefLieu']}; "
                  f"anciensCodes of {former_of.get(r['code'])} also name it: keeping {r['chefLieu']}",
                  file=sys.stderr)
            former_of[r["code"]] = r["chefLieu"]
        named[r["code"]] = (r["nom"], _FORMER_STATUS[r["type"]])
    out: list[list[str | None]] = []
    for old in sorted(former_of):
        name, status = named.get(old, (None, "ancienne commune"))
        out.append([old, name, former_of[old], status])
    return out


def _lines(rows: list[dict[str, str]]) -> bytes:
    """A JSON list with one object per line, as the shipped files have always been written."""
    body = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in rows)
    return f"[\n{body}\n]\n".encode()


def write(files: dict[str, bytes], out: Path) -> None:
    """Write each file through a temporary file in ``out`` and ``os.replace``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, out / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def run(source: Path, out: Path) -> None:
    """Build from a tarball (sha256 checked against the pin) or an unpacked package directory."""
    if source.is_dir():
        write(build(source, None), out)
        return
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    if sha != TARBALL_SHA256:
        raise BuildError(f"{source} has sha256 {sha}, expected {TARBALL_SHA256} ({PACKAGE} {VERSION})")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(source, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        write(build(Path(tmp) / "package", sha), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help=f"the {PACKAGE} {VERSION} tarball or unpacked directory")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "matcher" / "data"
                        / "territory", help="output folder (default: matcher/data/territory)")
    args = parser.parse_args(argv)
    try:
        run(args.source, args.out)
    except (BuildError, OSError, KeyError, ValueError) as exc:
        print(f"build_territory_data: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
