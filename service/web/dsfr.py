"""The Système de design de l'État (DSFR) as this service serves it, from the files that
``scripts/vendor_dsfr.py`` vendors under ``static/dsfr/`` (``@gouvfr/dsfr``, pinned, with a manifest of
checksums).

Two stylesheets are composed once at start from the vendored ones, concatenated in the manifest's order
with every relative ``url()`` made absolute (``/static/dsfr/icons/…``):

- the console's (``/static/dsfr.css``): on a State site (``MAILLAGE_STATE_SITE=true``) with the Marianne
  faces that are vendored (WOFF2); otherwise with no ``@font-face`` at all, and no font file is served
  (the DSFR's terms of use reserve Marianne and the State's marks to State sites: a neutral deployment
  shows the same components in the system's sans-serif);
- the widget's (``/widget.css``), which the widget links inside its Shadow DOM so that a partner's page
  needs no DSFR of its own: ``:root`` becomes ``:host`` (the custom properties then reach the widget's
  elements and nothing of the page), ``body`` rules are left out (the widget's ``:host`` sets what they
  set), and no font is declared (the widget uses Marianne when the partner's page has it, Arial otherwise).

The icons those stylesheets name are served with ``Access-Control-Allow-Origin: *``: a CSS mask is
fetched in CORS mode, and the widget's masks come from the service's origin to the partner's page.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.settings import Settings
from service.web.render import HERE

__all__ = ["DSFR_DIR", "Theme", "load_manifest", "load_theme"]

DSFR_DIR = HERE / "static" / "dsfr"
PREFIX = "/static/dsfr/"

_URL = re.compile(r"url\((['\"]?)([^'\")]+)\1\)")
_FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
_WOFF2 = re.compile(r"url\(\.\./fonts/([A-Za-z_-]+)\.woff2\)")
# Rules that style the document's <body> (alone or under :root): no body inside a shadow root.
_BODY_RULE = re.compile(r"(?<=[{}])(?::root(?:\[[^\]]*\])*\s+)?body\{[^}]*\}")
_ROOT_WITH_ATTR = re.compile(r":root((?:\[[^\]]*\])+)")

_MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
          ".woff2": "font/woff2", ".md": "text/markdown; charset=utf-8", ".json": "application/json"}


def load_manifest(folder: Path = DSFR_DIR) -> dict[str, Any]:
    """``MANIFEST.json`` of the vendored files: package, version, integrity, stylesheets, scripts and
    the SHA-256 of every file."""
    manifest: dict[str, Any] = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    return manifest


def _absolute(sheet: str, css: str) -> str:
    def rebase(match: re.Match[str]) -> str:
        url = match.group(2)
        if url.startswith(("data:", "/", "http:", "https:")):
            return match.group(0)
        return f'url("{PREFIX}{posixpath.normpath(posixpath.join(posixpath.dirname(sheet), url))}")'

    return _URL.sub(rebase, css)


def _fonts(css: str, vendored: set[str], keep: bool) -> str:
    """Each ``@font-face`` reduced to its vendored WOFF2 file, or dropped (``keep`` false, or no file)."""

    def face(match: re.Match[str]) -> str:
        woff2 = _WOFF2.search(match.group(0))
        if not keep or woff2 is None or f"fonts/{woff2.group(1)}.woff2" not in vendored:
            return ""
        src = f'src:url("{PREFIX}fonts/{woff2.group(1)}.woff2") format("woff2")'
        return re.sub(r"src:[^;}]*", src, match.group(0))

    return _FONT_FACE.sub(face, css)


def _scoped(css: str) -> str:
    """The stylesheet for a shadow root: ``:root[x]`` → ``:host([x])``, ``:root`` → ``:host``, no body rules."""
    css = _BODY_RULE.sub("", css)
    css = _ROOT_WITH_ATTR.sub(lambda m: f":host({m.group(1)})", css)
    return css.replace(":root", ":host")


@dataclass(frozen=True)
class Theme:
    """What the pages need of the DSFR for one deployment: whether it is a State site, who runs it,
    the two composed stylesheets, and the vendored files served under ``/static/dsfr/``."""

    state: bool
    operator: str
    version: str
    accessibility_contact: str | None
    hosting_provider: str | None
    console_css: bytes
    widget_css: bytes
    files: dict[str, tuple[bytes, str]]
    scripts: tuple[str, ...]

    def file(self, name: str) -> tuple[bytes, str] | None:
        """Content and media type of ``/static/dsfr/<name>``; ``None`` for anything not served."""
        return self.files.get(name)


def _compose(folder: Path, manifest: dict[str, Any], *, fonts: bool, scope: bool) -> bytes:
    vendored = set(manifest["files"])
    parts = []
    for sheet in manifest["stylesheets"]:
        css = (folder / sheet).read_text(encoding="utf-8")
        css = _fonts(css, vendored, keep=fonts and not scope)
        css = _absolute(sheet, css)
        parts.append(_scoped(css) if scope else css)
    return "\n".join(parts).encode()


def load_theme(settings: Settings, folder: Path = DSFR_DIR) -> Theme:
    """Compose the stylesheets and read the files to serve; on a neutral site no font file is among them."""
    state_site = settings.state_site
    manifest = load_manifest(folder)
    files = {}
    for name in manifest["files"]:
        suffix = Path(name).suffix
        if name.startswith("fonts/") and not state_site:
            continue
        if suffix in (".svg", ".woff2", ".js"):
            files[name] = ((folder / name).read_bytes(), _MEDIA[suffix])
    return Theme(state=state_site, operator=settings.operator_name, version=str(manifest["version"]),
                 accessibility_contact=settings.accessibility_contact, hosting_provider=settings.hosting_provider,
                 console_css=_compose(folder, manifest, fonts=state_site, scope=False),
                 widget_css=_compose(folder, manifest, fonts=False, scope=True), files=files,
                 scripts=tuple(manifest["scripts"]))
