"""Refresh the vendored Système de design de l'État (DSFR) under ``service/web/static/dsfr/``.

    python scripts/vendor_dsfr.py            # the pinned version, 1.15.3
    python scripts/vendor_dsfr.py --check    # compare the vendored files with the package, change nothing

It runs ``npm pack @gouvfr/dsfr@VERSION`` in a temporary folder, unpacks the tarball, and copies the
built files the pages use, keeping the package's ``dist/`` layout (so that the relative ``url()`` of
each stylesheet still points at its icons): the core stylesheet, the stylesheets of the components
listed below (``*.main.min.css``: modern browsers, no legacy fallbacks), the scripts of the header's
menu on small screens, every icon those stylesheets name, and the Marianne fonts in WOFF2 only (every
browser the console supports reads WOFF2; the WOFF fallbacks and the Spectral serif face are left
out). It writes ``MANIFEST.json``: the version, the tarball's integrity, and each file's SHA-256, which
``tests/service/test_dsfr.py`` checks. Nothing is downloaded at run time: the service reads only these
files.

The Marianne font and the State's marks are reserved to State sites by the DSFR's terms of use: the
service serves the font, the "République française" block and its motto only when
``MAILLAGE_STATE_SITE=true`` (see ``service/web/dsfr.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.15.3"
PACKAGE = "@gouvfr/dsfr"
DEST = Path(__file__).resolve().parents[1] / "service" / "web" / "static" / "dsfr"

# Components whose classes the console's templates and the widget use (fr-<name>…).
COMPONENTS = ("alert", "badge", "button", "callout", "checkbox", "footer", "form", "header", "input", "link", "logo",
              "modal", "navigation", "notice", "pagination", "select", "skiplink", "table", "tag")
# The header's menu on small screens is a DSFR modal opened by the DSFR's scripts.
SCRIPTS = ("core/core.module.min.js", "component/modal/modal.module.min.js",
           "component/navigation/navigation.module.min.js", "component/header/header.module.min.js")
FONTS = ("Marianne-Regular", "Marianne-Regular_Italic", "Marianne-Medium", "Marianne-Bold", "Marianne-Light")
EXTRA = ("LICENSE.md",)  # outside dist/: the licence and terms of use travel with the files

_URL = re.compile(r"url\((['\"]?)([^'\")]+)\1\)")


def stylesheets() -> list[str]:
    """The vendored stylesheets, in the order the service concatenates them (core first)."""
    return ["core/core.main.min.css", *(f"component/{c}/{c}.main.min.css" for c in COMPONENTS)]


def _assets(dist: Path, sheets: list[str]) -> list[str]:
    """Every icon the stylesheets name (relative to dist/), fonts aside."""
    found: set[str] = set()
    for sheet in sheets:
        text = (dist / sheet).read_text(encoding="utf-8")
        for _, url in _URL.findall(text):
            if url.startswith("data:") or "/fonts/" in url:
                continue
            target = (Path(sheet).parent / url).as_posix()
            parts: list[str] = []
            for part in target.split("/"):
                if part == "..":
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            found.add("/".join(parts))
    return sorted(found)


def _pack(workdir: Path, version: str) -> tuple[Path, str]:
    out = subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--json", "--pack-destination", str(workdir)],
                         cwd=workdir, check=True, capture_output=True, text=True).stdout
    info = json.loads(out)[0]
    with tarfile.open(workdir / info["filename"]) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package", str(info["integrity"])


def _files(package: Path) -> dict[str, Path]:
    dist = package / "dist"
    sheets = stylesheets()
    names = [*sheets, *SCRIPTS, *_assets(dist, sheets), *(f"fonts/{f}.woff2" for f in FONTS)]
    files = {name: dist / name for name in names}
    files.update({name: package / name for name in EXTRA})
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--check", action="store_true", help="compare with the package; write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dsfr-") as tmp:
        package, integrity = _pack(Path(tmp), args.version)
        found = json.loads((package / "package.json").read_text())["version"]
        if found != args.version:
            print(f"npm gave {PACKAGE}@{found}, not {args.version}", file=sys.stderr)
            return 2
        files = _files(package)
        manifest = {"package": PACKAGE, "version": args.version, "integrity": integrity,
                    "stylesheets": stylesheets(), "scripts": list(SCRIPTS),
                    "files": {name: _sha256(path) for name, path in sorted(files.items())}}
        if args.check:
            current = json.loads((DEST / "MANIFEST.json").read_text())
            same = current == manifest and all(_sha256(DEST / n) == h for n, h in manifest["files"].items())
            print("vendored DSFR matches the package" if same else "vendored DSFR differs: run without --check")
            return 0 if same else 1
        if DEST.exists():
            shutil.rmtree(DEST)
        for name, path in files.items():
            (DEST / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DEST / name)
        (DEST / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())
    print(f"{PACKAGE}@{args.version}: {len(files)} files, {size / 1024:.0f} KiB in {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
