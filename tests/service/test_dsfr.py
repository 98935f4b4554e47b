"""The DSFR as vendored and served: the files match their manifest, the composed stylesheets point only at
served files, a State site gets the Marianne font and the State's marks, and a neutral one gets neither."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.web.dsfr import DSFR_DIR, load_manifest
from tests.service.conftest import make_settings, seed

FOOTER_LINKS = (("/accessibilite", "Accessibilité : non conforme"), ("/mentions-legales", "Mentions légales"),
                ("/donnees-personnelles", "Données personnelles"))
PAGES = ("/accessibilite", "/mentions-legales", "/donnees-personnelles", "/console/connexion", "/widget/demo")


@pytest.fixture(scope="module", params=[False, True], ids=["neutral", "state"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("dsfr") / "home", state_site=request.param)
    seed(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_the_vendored_files_are_the_pinned_package_s() -> None:
    manifest = load_manifest()
    assert manifest["package"] == "@gouvfr/dsfr" and manifest["version"] == "1.15.3"
    on_disk = {p.relative_to(DSFR_DIR).as_posix() for p in DSFR_DIR.rglob("*") if p.is_file()}
    assert on_disk - {"MANIFEST.json"} == set(manifest["files"]), "files not in the manifest, or missing"
    changed = [n for n, h in manifest["files"].items() if hashlib.sha256((DSFR_DIR / n).read_bytes()).hexdigest() != h]
    assert not changed, f"vendored files differ from the manifest: {changed} (run scripts/vendor_dsfr.py)"
    assert all(s in manifest["files"] for s in [*manifest["stylesheets"], *manifest["scripts"]])
    size = sum((DSFR_DIR / n).stat().st_size for n in manifest["files"])
    assert size < 1_000_000, f"{size} bytes vendored: vendor only what the pages use"


def _urls(css: str) -> set[str]:
    return {u for _, u in re.findall(r"url\((['\"]?)([^'\")]+)\1\)", css) if not u.startswith("data:")}


def test_every_url_of_the_stylesheets_is_served(client: TestClient) -> None:
    state = client.app.state.settings.state_site  # type: ignore[attr-defined]
    for sheet in ("/static/dsfr.css", "/widget.css"):
        r = client.get(sheet)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
        urls = _urls(r.text)
        assert urls and all(u.startswith("/static/dsfr/") for u in urls), sorted(urls)[:5]
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["access-control-allow-origin"] == "*"  # CSS masks are fetched in CORS mode
        fonts = {u for u in urls if "/fonts/" in u}
        assert bool(fonts) is (state and sheet == "/static/dsfr.css"), fonts


def test_the_widget_stylesheet_is_scoped_to_its_shadow_root(client: TestClient) -> None:
    css = client.get("/widget.css").text
    assert ":root" not in css and "@font-face" not in css
    assert ":host{" in css and ":host([data-fr-theme=dark])" in css
    assert not re.search(r"[{}]body\{", css)  # nothing for the partner's <body>
    assert ".fr-btn{" in css and ".fr-badge--success" in css


def test_a_neutral_site_serves_no_marianne_and_no_state_marks(client: TestClient) -> None:
    state = client.app.state.settings.state_site  # type: ignore[attr-defined]
    font = client.get("/static/dsfr/fonts/Marianne-Regular.woff2")
    assert font.status_code == (200 if state else 404)
    css = client.get("/static/dsfr.css").text
    assert ("font-family:Marianne;" in css) is state and ("@font-face" in css) is state
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert ('<p class="fr-logo">République<br>Française</p>' in page.text) is state, path
        assert 'class="fr-header"' in page.text and 'class="fr-footer"' in page.text


def test_every_page_links_the_standard_footer_pages(client: TestClient) -> None:
    for path in PAGES:
        page = client.get(path).text
        for link, text in FOOTER_LINKS:
            assert f'href="{link}">{text}</a>' in page, (path, link)
        assert "RGAA visé" not in page


def test_the_accessibility_statement_gives_a_legal_status(client: TestClient) -> None:
    page = client.get("/accessibilite").text
    assert "Déclaration d'accessibilité" in page and "<strong>non conforme</strong>" in page
    assert "aucun audit de conformité n'a encore été réalisé" in page and "Défenseur des droits" in page


def test_an_unknown_static_file_is_not_served(client: TestClient) -> None:
    assert client.get("/static/dsfr/../settings.py").status_code == 404
    assert client.get("/static/dsfr/MANIFEST.json").status_code == 404
    assert client.get("/static/dsfr/component/alert/alert.main.min.css").status_code == 404  # composed instead


def test_the_vendor_script_names_the_pinned_version() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts" / "vendor_dsfr.py").read_text()
    assert 'VERSION = "1.15.3"' in script and "npm" in script
