"""The widget and the console in headless Chromium, against real servers on loopback ports.

The API (demo catalogue, hashing encoder) runs under uvicorn in a thread; partner pages are served by
two plain HTTP servers on other ports, so they are other origins: one is on the partner key's
allow-list, the other is not. Screenshots go to ``artifacts/screenshots/``
(``docs/screenshots/`` with ``MAILLAGE_UPDATE_SCREENSHOTS=1``; the README shows those).
Chromium is the system one (Debian's ``chromium``); these tests are skipped only when it is absent,
and ``MAILLAGE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that skip into a failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from matcher.schemas import Decision
from matcher.store import Catalogue
from service.api import create_app
from service.keys import KeyStore
from service.settings import Settings
from tests.service.conftest import make_settings

pytestmark = pytest.mark.browser

# Artifacts of every run go to artifacts/screenshots/ (git-ignored); MAILLAGE_UPDATE_SCREENSHOTS=1 writes
# them to docs/screenshots/ instead, the copies the README shows (dates in them change from run to run).
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = _ROOT / ("docs" if os.environ.get("MAILLAGE_UPDATE_SCREENSHOTS") == "1" else "artifacts") / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
PRESET_KINDS = ["financement", "appel_a_projets", "accompagnement", "lieu"]
PROJECT = ("Nous voulons créer un jardin partagé avec un composteur collectif au pied des immeubles du quartier, "
           "avec les habitants et l'école.")


def _chromium() -> str | None:
    for candidate in (os.environ.get("MAILLAGE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _need_browser() -> str:
    path = _chromium()
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        missing = f"the Python package {exc.name} (pip install -e '.[dev]')"
    else:
        missing = "" if path else "Chromium (apt-get install chromium)"
    if missing:
        if os.environ.get("MAILLAGE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {missing} is missing")
        pytest.skip(f"{missing} is not installed")
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Uvicorn:
    """The API app served by uvicorn in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="maillage-test-api", daemon=True)

    def __enter__(self) -> _Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


class _Pages:
    """A partner's site: a plain HTTP server answering fixed HTML pages, on its own port (origin)."""

    def __init__(self, pages: dict[str, str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                page = pages.get(self.path.split("?")[0])  # read at request time: pages name this origin
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode() if page else b"not found")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="maillage-test-host", daemon=True)

    def __enter__(self) -> _Pages:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# The partner's own styles try hard to reach into the widget: the Shadow DOM must keep them out.
HOSTILE_CSS = """
* { font-family: 'Comic Sans MS', cursive !important; }
body { color: rgb(255, 0, 0); font-size: 11px; background: #fffbe6; }
button { display: none !important; }
label { visibility: hidden; }
h2 { text-transform: uppercase; }
"""


def _host_page(api: str, key: str, title: str) -> str:
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{HOSTILE_CSS} main {{ max-width: 1100px; margin: 0 auto; padding: 16px; }}</style></head>
<body><header><p>Portail des initiatives du territoire</p></header>
<main><h1>{title}</h1><p>Page d'un site partenaire, servie depuis une autre origine que le service.</p>
<script src="{api}/widget.js" data-key="{key}" data-results="4" data-kinds="{','.join(PRESET_KINDS)}"
        data-themes="agriculture urbaine,alimentation" data-color="#6a6af4"
        data-title="Votre projet peut être soutenu" async></script>
</main></body></html>"""


@dataclass
class Stack:
    api: str
    settings: Settings
    partner_site: str
    other_site: str
    staff_token: str
    staff_name: str
    browser: Any

    def store(self) -> Catalogue:
        return Catalogue.open(self.settings.db_url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium = _need_browser()
    from playwright.sync_api import sync_playwright

    settings = make_settings(tmp_path_factory.mktemp("browser") / "home", demo_when_empty=True)
    with _Uvicorn(settings) as api:
        keys = KeyStore(api.server.config.app.state.engine.store)
        partner_pages: dict[str, str] = {}
        other_pages: dict[str, str] = {}
        with _Pages(partner_pages) as partner, _Pages(other_pages) as other:
            partner_token = keys.create("Portail du 93", "partner", [partner.origin])[1]
            staff_token = keys.create("Camille Martin", "staff")[1]
            partner_pages["/projet.html"] = _host_page(api.url, partner_token, "Aides aux projets citoyens")
            # The same key from a site it is not bound to.
            other_pages["/projet.html"] = _host_page(api.url, partner_token, "Un site non autorisé")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                try:
                    yield Stack(api.url, settings, partner.origin, other.origin, staff_token, "Camille Martin",
                                browser)
                finally:
                    browser.close()


def _axe(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA rules on the page (or on ``context``); returns the violations."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
               "resultTypes": ["violations"]}
    results = Axe().run(page, context=context, options=options)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def _assert_accessible(page: Any, where: str, context: str | None = None) -> None:
    """No violation at all, whatever its impact: the accessibility statement says so of these pages."""
    violations = _axe(page, context)
    found = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}" for v in violations]
    assert not found, f"{where}: " + "; ".join(found)
    print(f"axe {where}: no violation")


def _shot(page: Any, name: str, start: Any = None, end: Any = None, pad: int = 16) -> None:
    """Save a screenshot of the page from the top of ``start`` (or the page's) to the bottom of ``end``."""
    top = start.evaluate("e => e.getBoundingClientRect().top + window.scrollY") - pad if start is not None else 0
    bottom = end.evaluate("e => e.getBoundingClientRect().bottom + window.scrollY") + pad if end is not None \
        else top + page.viewport_size["height"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    top = max(0, top)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True, animations="disabled",
                    clip={"x": 0, "y": top, "width": page.viewport_size["width"], "height": bottom - top})
    assert (SCREENSHOTS / name).stat().st_size > 10_000, f"{name} looks empty"


SAINT_DENIS = "Saint-Denis (93200, Seine-Saint-Denis)"  # the widget's label: postcode and département


def _fill_project(page: Any, *, place: str = "Saint-Den", choose: str = SAINT_DENIS) -> None:
    widget = page.locator("maillage-widget")
    widget.get_by_label("Décrivez votre projet").fill(PROJECT)
    combo = widget.get_by_role("combobox", name="Commune ou code postal")
    combo.press_sequentially(place, delay=20)
    places = widget.get_by_role("listbox", name="Communes proposées")
    option = places.get_by_role("option", name=choose)
    option.wait_for()
    # Keyboard only: down to the wanted commune, Enter to choose it.
    for _ in range(places.get_by_role("option").all_inner_texts().index(choose) + 1):
        combo.press("ArrowDown")
    assert option.get_attribute("aria-selected") == "true"
    combo.press("Enter")
    assert combo.input_value() == choose and combo.get_attribute("aria-expanded") == "false"
    widget.get_by_label("Type de structure").select_option("association")
    widget.get_by_label("Stade du projet").select_option("experimentation")
    # A DSFR checkbox is drawn by its label, over the input: the label takes the click, as for a person.
    widget.get_by_label("Lieu").check(force=True)


def _decide(page: Any, card: Any, decision: str, reason: str) -> str:
    """Record a decision from a match card; returns the confirmation shown once the new page is loaded."""
    card.get_by_label("Décision").select_option(decision)
    card.get_by_label("Motif").fill(reason)
    with page.expect_navigation():
        card.get_by_role("button", name="Enregistrer").click()
    return str(page.locator(".alert-ok").inner_text())


def _initiative_count(stack: Stack) -> int:
    store = stack.store()
    try:
        return store.counts()["initiatives"]
    finally:
        store.close()


# --- the widget ----------------------------------------------------------------------------------


def _assert_freshness_shown(card: Any) -> None:
    """A card says when its record was verified, and warns exactly when that is over 183 days ago."""
    verified = re.fullmatch(r"Vérifiée le (\d\d)/(\d\d)/(20\d\d)", card.locator(".mw-verified").inner_text())
    assert verified, card.locator(".mw-verified").inner_text()
    day = date(int(verified[3]), int(verified[2]), int(verified[1]))
    stale = card.locator(".mw-stale")
    assert stale.count() == int((date.today() - day).days > 183)
    if stale.count():
        assert "plus de 6 mois" in stale.inner_text() and "financeur" in stale.inner_text()


def test_widget_on_a_partner_site_gives_explained_suggestions_and_keeps_nothing(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r) if r.url.startswith(stack.api + "/v1/") else None)
    page.goto(f"{stack.partner_site}/projet.html")
    widget = page.locator("maillage-widget")
    widget.get_by_role("heading", name="Votre projet peut être soutenu").wait_for()
    # The host page hides every button and label and paints text red: none of it reaches the widget.
    submit = widget.get_by_role("button", name="Voir les ressources adaptées")
    assert submit.is_visible() and widget.get_by_text("Type de structure").is_visible()
    assert widget.locator("h2").evaluate("e => getComputedStyle(e).color") == "rgb(22, 22, 22)"
    assert "Comic" not in widget.locator("textarea").evaluate("e => getComputedStyle(e).fontFamily")
    before = _initiative_count(stack)

    _fill_project(page)
    submit.click()
    cards = widget.locator("li.mw-card")
    cards.first.wait_for()
    assert 1 <= cards.count() <= 4
    assert "ressources peuvent correspondre" in widget.get_by_role("status").first.inner_text() or cards.count() == 1
    kind_labels = {"financement", "appel à projets", "accompagnement", "lieu"}
    for i in range(cards.count()):
        card = cards.nth(i)
        assert card.locator("h4").inner_text().strip()
        assert card.locator(".mw-tag").inner_text() in kind_labels  # the partner's preset kinds only
        assert card.locator("ul.mw-reasons li").count() >= 1
        checks = card.locator("ul.mw-crit li").all_inner_texts()
        assert len(checks) == 7  # one line per criterion
        failed = [c for c in checks if c.startswith("Non respecté")]
        assert all("Besoins :" in c for c in failed), failed  # only the soft criterion may fail in a suggestion
        assert card.get_by_text("Territoire :").count() == 1
        _assert_freshness_shown(card)
    deadlines = widget.locator(".mw-deadline").all_inner_texts()
    assert deadlines and all(re.fullmatch(r"Date de clôture : (1er|\d{1,2}) \w+ 20\d\d", d) for d in deadlines)

    match = next(r for r in sent if r.url.endswith("/v1/match") and r.method == "POST")
    headers = match.all_headers()
    assert headers["origin"] == stack.partner_site and headers["x-maillage-widget"] == "1"
    body = json.loads(match.post_data)
    assert body["territory"] == "93066" and body["legal_form"] == "association" and body["stage"] == "experimentation"
    assert body["needs"] == ["lieu"] and body["kinds"] == PRESET_KINDS and body["k"] == 4
    assert any("/v1/territories?" in r.url for r in sent)
    assert not any("/widget/initiatives" in r.url for r in sent)
    assert _initiative_count(stack) == before  # no consent, nothing stored
    assert page.context.cookies() == [] and page.evaluate("localStorage.length + sessionStorage.length") == 0

    _assert_accessible(page, "widget with results (desktop)", "maillage-widget")
    _shot(page, "widget-desktop.png", widget, cards.nth(min(2, cards.count() - 1)), pad=0)
    page.close()


def test_widget_with_consent_creates_the_initiative_for_staff(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=MOBILE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page.goto(f"{stack.partner_site}/projet.html")
    widget = page.locator("maillage-widget")
    widget.get_by_role("heading", name="Votre projet peut être soutenu").wait_for()
    assert widget.get_attribute("data-size") == "narrow"  # it follows its own width, not the page's
    _fill_project(page, place="93200", choose=SAINT_DENIS)
    widget.get_by_label("J'accepte que ma description").check(force=True)
    widget.get_by_label("Adresse électronique").fill("porteuse@example.org")
    widget.get_by_role("button", name="Voir les ressources adaptées").click()
    widget.locator("li.mw-card").first.wait_for()
    widget.get_by_text("Votre projet a bien été transmis").wait_for()
    store = stack.store()
    try:
        mine = [i for i in store.initiatives(source="widget:Portail du 93")]
    finally:
        store.close()
    assert len(mine) == 1
    ini = mine[0]
    assert ini.consent and ini.contact_email == "porteuse@example.org" and ini.territory == "93066"
    assert ini.description == PROJECT and ini.title.startswith("Nous voulons créer un jardin partagé")
    _assert_accessible(page, "widget with results (mobile)", "maillage-widget")
    _shot(page, "widget-mobile.png", widget, widget.locator("li.mw-card").first, pad=0)
    page.close()


def test_widget_on_a_site_not_bound_to_the_key_is_refused(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto(f"{stack.other_site}/projet.html")
    widget = page.locator("maillage-widget")
    widget.get_by_label("Décrivez votre projet").fill(PROJECT)
    widget.get_by_role("button", name="Voir les ressources adaptées").click()
    status = widget.locator(".mw-status.mw-bad")
    status.wait_for()
    assert "n'a pas pu être joint depuis ce site" in status.inner_text()
    assert widget.locator("li.mw-card").count() == 0
    assert any("CORS" in m and stack.other_site in m for m in messages), messages  # the browser refused it
    page.close()


def test_demo_page_shows_the_snippet_and_a_live_widget(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.api}/widget/demo")
    snippet = page.locator("pre code").first.inner_text()
    assert f'src="{stack.api}/widget.js"' in snippet and 'data-key="mk_partner_' in snippet
    assert stack.staff_token not in page.content()
    widget = page.locator("maillage-widget")
    # Same origin as the service, under its strict CSP: commune search (a GET without Origin) included.
    widget.get_by_label("Décrivez votre projet").fill(PROJECT)
    combo = widget.get_by_role("combobox", name="Commune ou code postal")
    combo.press_sequentially("Montreuil", delay=20)
    widget.get_by_role("listbox", name="Communes proposées").get_by_role("option").first.click()
    assert "Montreuil" in combo.input_value()
    widget.get_by_role("button", name="Voir les ressources adaptées").click()
    widget.locator("li.mw-card").first.wait_for()
    assert widget.locator("li.mw-card").count() == 5 and not errors
    _assert_accessible(page, "widget demo page")
    page.close()


# --- the console ---------------------------------------------------------------------------------


def test_console_from_sign_in_to_outcome_and_csv_export(stack: Stack, tmp_path: Path) -> None:
    context = stack.browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{stack.api}/console")
    assert page.url.endswith("/console/connexion")
    _assert_accessible(page, "console sign-in")
    page.get_by_label("Clé d'accès").fill("mk_staff_000000000000_wrong")
    page.get_by_role("button", name="Se connecter").click()
    assert "Clé inconnue ou révoquée" in page.get_by_role("alert").inner_text()
    page.get_by_label("Clé d'accès").fill(stack.staff_token)
    page.get_by_label("Clé d'accès").press("Enter")
    page.get_by_role("heading", name="Initiatives", exact=True).wait_for()
    session = next(c for c in context.cookies() if c["name"] == "maillage_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert f"Connecté : {stack.staff_name}" in page.inner_text("header")

    _assert_accessible(page, "console initiatives list")
    _shot(page, "console-list-desktop.png")
    page.get_by_label("Rechercher").fill("jardin partagé")
    page.get_by_role("button", name="Filtrer").click()
    titles = page.locator("tbody tr td:first-child a").all_inner_texts()
    assert len(titles) >= 2 and all("jardin partagé" in t.lower() for t in titles)
    assert page.get_by_role("status").inner_text() == f"{len(titles)} initiatives trouvées."
    page.get_by_role("link", name="Jardin partagé du Franc-Moisin").click()
    page.get_by_role("heading", name="Ressources suggérées").wait_for()
    cards = page.locator("ol.cards").first.locator("> li.card")
    assert cards.count() == 10
    first = cards.first
    assert first.locator("ul.reasons li").count() >= 1 and first.locator("ul.checks li").count() >= 5
    page.get_by_text("Écartées :").click()
    excluded = page.locator("details ol.cards > li.card")
    assert excluded.count() >= 1 and page.locator("details .st-failed").count() >= 1
    _assert_accessible(page, "console initiative page")
    page.get_by_text("Écartées :").click()

    # Shortlist the top suggestion, with a reason.
    title = first.locator("h3 a").inner_text()
    resource_id = first.get_attribute("id").removeprefix("r-")
    done = _decide(page, first, "shortlisted", "Projet solide, dossier à compléter")
    assert f"Décision « présélectionné » enregistrée pour « {title} »" in done
    _shot(page, "console-initiative-desktop.png", None, page.locator(f"li#r-{resource_id}"))

    # Exclude the second one: it leaves the suggestions and says why among the set-aside.
    second = cards.nth(1)
    excluded_id = second.get_attribute("id").removeprefix("r-")
    assert "« exclu »" in _decide(page, second, "excluded", "Déjà financé l'an dernier")
    assert page.locator(f"ol.cards > li#r-{excluded_id}").count() == 1  # only in the excluded list now
    assert page.locator(f"details li#r-{excluded_id}").count() == 1
    assert "Déjà financé l'an dernier" in page.locator(f"details li#r-{excluded_id}").inner_text()

    # Record the outcome on the shortlisted one.
    assert "« obtenu »" in _decide(page, page.locator(f"li#r-{resource_id}"), "obtained",
                                   "Subvention accordée en commission")
    history = page.locator("table[aria-labelledby=historique] tbody tr")
    assert history.first.locator("td").nth(2).inner_text() == "obtenu"
    store = stack.store()
    try:
        outcomes = store.outcomes(initiative_id="ini-0001", resource_id=resource_id)
    finally:
        store.close()
    assert [o.decision for o in outcomes if o.source == "console"] == [Decision.shortlisted, Decision.obtained]
    assert outcomes[-1].actor == stack.staff_name and outcomes[-1].reason == "Subvention accordée en commission"

    with page.expect_download() as info:
        page.get_by_role("link", name="Exporter la présélection (CSV)").click()
    download = info.value
    assert download.suggested_filename == "preselection-ini-0001.csv"
    path = tmp_path / "preselection.csv"
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
    mine = [r for r in rows if r["resource_id"] == resource_id]
    assert len(mine) == 1 and mine[0]["statut"] == "obtenu" and mine[0]["ressource"] == title
    assert mine[0]["motif"] == "Subvention accordée en commission" and mine[0]["par"] == stack.staff_name
    assert excluded_id not in {r["resource_id"] for r in rows}

    # The reverse view, then the index and model status.
    page.locator(f"li#r-{resource_id} h3 a").click()
    page.get_by_role("heading", name="Initiatives qui correspondent").wait_for()
    assert page.locator("ol.cards > li.card").count() >= 1
    assert "obtenu" in page.locator("table[aria-labelledby=decisions]").inner_text()
    _assert_accessible(page, "console resource page (reverse view)")
    page.get_by_role("link", name="État du service").click()
    assert re.search(r"Version\s+\d{8}T", page.locator("main").inner_text())
    _assert_accessible(page, "console status page")
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Données personnelles").click()
    page.get_by_role("heading", name="Conservation des projets déposés par le widget").wait_for()
    _assert_accessible(page, "console personal data page")
    page.get_by_role("link", name="Ressources", exact=True).click()
    page.get_by_label("Type").select_option("lieu")
    page.get_by_role("button", name="Filtrer").click()
    kinds = page.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds and set(kinds) == {"lieu"}
    _assert_accessible(page, "console resources list")

    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_text("Vous êtes déconnecté.").wait_for()
    page.goto(f"{stack.api}/console/initiatives")
    assert page.url.endswith("/console/connexion")
    context.close()


def test_privacy_notice_and_deletion_confirmation_are_accessible(stack: Stack) -> None:
    from service.privacy import deletion_link

    page = stack.browser.new_page()
    page.goto(f"{stack.api}/confidentialite")
    page.get_by_role("heading", name="Vos droits").wait_for()
    _assert_accessible(page, "privacy notice")
    page.goto(stack.api + deletion_link(stack.settings, "ini-0002"))  # opened, not confirmed: nothing erased
    page.get_by_role("button", name="Effacer définitivement mon projet").wait_for()
    _assert_accessible(page, "deletion confirmation")
    page.close()


def test_alert_pages_are_accessible(stack: Stack) -> None:
    """The console's alerts page with a subscription in its table, then the pages an alert message's
    links open: the question and its button, the answer, and an invalid link."""
    from service.alerts import AlertStore, links_for
    from service.alerts.links import PATHS

    context = stack.browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{stack.api}/console/connexion")
    page.get_by_label("Clé d'accès").fill(stack.staff_token)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Initiatives", exact=True).wait_for()
    page.get_by_role("link", name="Alertes", exact=True).click()
    page.get_by_label("Initiative").fill("ini-0003")
    page.get_by_label("Adresse électronique").fill("camille.martin@example.org")
    page.get_by_label("Fréquence", exact=True).select_option("monthly")
    page.get_by_role("button", name="Créer l'abonnement").click()
    assert "Abonnement créé" in page.get_by_role("status").first.inner_text()
    store = stack.store()
    try:
        sub = next(s for s in AlertStore(store.engine).subscriptions(initiative_id="ini-0003")[0]
                   if s.email == "camille.martin@example.org")
    finally:
        store.close()
    row = page.locator("tbody tr", has=page.get_by_text(sub.id))
    assert row.get_by_role("combobox").input_value() == "monthly"
    _assert_accessible(page, "console alerts page")
    _shot(page, "console-alerts-desktop.png", page.get_by_role("heading", name="Alertes", exact=True),
          page.get_by_role("button", name="Créer l'abonnement"))
    context.close()

    page = stack.browser.new_page()
    token = links_for(stack.settings).token("unsubscribe", sub.id)
    page.goto(f"{stack.api}{PATHS['unsubscribe']}?t={token}")  # opened: nothing done yet
    page.get_by_role("heading", name="Se désabonner").wait_for()
    _assert_accessible(page, "alert link: unsubscribe question")
    page.get_by_role("button", name="Me désabonner").click()
    page.get_by_role("heading", name="Désabonnement effectué").wait_for()
    _assert_accessible(page, "alert link: unsubscribed")
    page.goto(f"{stack.api}{PATHS['confirm']}?t=faux")
    assert "rien n'a été fait" in page.get_by_role("alert").inner_text()
    _assert_accessible(page, "alert link: invalid link")
    page.close()


def test_the_plan_page_opens_from_the_initiative_and_is_accessible(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    page.goto(f"{stack.api}/console/connexion")
    page.get_by_label("Clé d'accès").fill(stack.staff_token)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Initiatives", exact=True).wait_for()
    page.goto(f"{stack.api}/console/initiatives/ini-0001")
    page.get_by_role("link", name="Voir le plan").click()
    page.get_by_role("heading", name="Étapes").wait_for()
    assert page.url.endswith("/console/initiatives/ini-0001/plan")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Plan pour « ")
    _assert_accessible(page, "console plan page")
    page.close()


def test_console_on_a_phone(stack: Stack) -> None:
    context = stack.browser.new_context(viewport=MOBILE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{stack.api}/console/connexion")
    page.get_by_label("Clé d'accès").fill(stack.staff_token)
    page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{stack.api}/console/initiatives/ini-0002")
    page.get_by_role("heading", name="Ressources suggérées").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= MOBILE["width"], f"the page scrolls sideways on a phone ({width} px)"
    _assert_accessible(page, "console initiative page (mobile)")
    _shot(page, "console-initiative-mobile.png", page.get_by_role("heading", name="Ressources suggérées"),
          page.locator("ol.cards > li.card").first)
    context.close()


def test_widget_reads_the_amount_and_shows_what_it_understood(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    sent: list[Any] = []
    submitted: list[Any] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/v1/match") and r.method == "POST" else None)
    page.on("request", lambda r: submitted.append(r)
            if r.url.endswith("/v1/widget/initiatives") and r.method == "POST" else None)
    page.goto(f"{stack.partner_site}/projet.html")
    widget = page.locator("maillage-widget")
    widget.get_by_role("heading", name="Votre projet peut être soutenu").wait_for()
    widget.get_by_label("Décrivez votre projet").fill(
        "Notre association anime un jardin partagé avec les habitants ; nous cherchons un local pour les outils.")
    amount = widget.get_by_label("Montant recherché (€)")
    assert amount.get_attribute("inputmode") == "numeric"
    amount.fill("abc")
    submit = widget.get_by_role("button", name="Voir les ressources adaptées")
    submit.click()
    error = widget.get_by_text("Montant invalide")
    error.wait_for()
    assert amount.get_attribute("aria-invalid") == "true"
    assert amount.evaluate("e => e === e.getRootNode().activeElement")  # focus goes to the wrong field
    assert not sent  # nothing asked while the form is wrong

    amount.fill("18.000")  # dots group thousands too
    widget.get_by_label("J'accepte que ma description").check(force=True)
    widget.get_by_label("Adresse électronique").fill("porteuse@example.org")
    submit.click()
    box = widget.locator(".mw-understood")
    box.wait_for()
    assert json.loads(sent[-1].post_data)["amount_sought"] == 18000
    widget.get_by_text("Votre projet a bien été transmis").wait_for()
    lines = box.locator("li").all_inner_texts()
    assert any(line.startswith("type de structure : association (« Notre association »)") for line in lines), lines
    assert any(line.startswith("besoin : lieu") for line in lines), lines
    assert not any("montant" in line for line in lines)  # the amount was given in its own field: nothing read
    _assert_accessible(page, "widget with what it understood", "maillage-widget")

    # Each reading can be removed: the search runs again without it.
    widget.get_by_role("button", name="Retirer : type de structure : association (« Notre association »)").click()
    page.wait_for_function("n => document.querySelector('maillage-widget').shadowRoot"
                           ".querySelectorAll('.mw-understood li').length === n", arg=len(lines) - 1)
    assert json.loads(sent[-1].post_data)["ignore_understood"] == ["legal_form"]
    assert len(submitted) == 1  # searching again without a reading does not send the project twice
    page.close()


_MARIANNE_LOADED = "[...document.fonts].some(f => f.family.includes('Marianne') && f.status === 'loaded')"


def test_a_state_site_shows_the_state_marks_and_marianne(stack: Stack, tmp_path: Path) -> None:
    """With MAILLAGE_STATE_SITE=true the header carries the « République française » block with its motto,
    and the pages are set in Marianne, served by the service; the neutral stack above has neither."""
    settings = make_settings(tmp_path / "home", demo_when_empty=True, state_site=True)
    with _Uvicorn(settings) as api:
        page = stack.browser.new_page(viewport=DESKTOP)
        fonts: list[str] = []
        page.on("response", lambda r: fonts.append(r.url) if r.url.endswith(".woff2") and r.ok else None)
        page.goto(f"{api.url}/accessibilite")
        page.wait_for_load_state("networkidle")
        logo = page.locator("header .fr-logo")
        assert logo.inner_text().replace("\n", " ").strip().lower() == "république française"
        motto = logo.evaluate("e => getComputedStyle(e, '::after').backgroundImage")
        assert motto.startswith("url(\"data:image/svg+xml"), motto  # « Liberté Égalité Fraternité »
        family = page.locator("h1").evaluate("e => getComputedStyle(e).fontFamily")
        assert family.startswith("Marianne") and page.evaluate(_MARIANNE_LOADED)
        assert any("/static/dsfr/fonts/Marianne-" in url for url in fonts), fonts
        _assert_accessible(page, "accessibility statement (State site)")
        _shot(page, "state-site-accessibility.png")
        page.close()


def test_a_neutral_site_loads_no_marianne(stack: Stack) -> None:
    page = stack.browser.new_page(viewport=DESKTOP)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(f"{stack.api}/accessibilite")
    page.wait_for_load_state("networkidle")
    assert page.locator(".fr-logo").count() == 0 and not [u for u in asked if "font" in u or u.endswith(".woff2")]
    assert not page.evaluate(_MARIANNE_LOADED)
    _assert_accessible(page, "accessibility statement (neutral site)")
    for path in ("/mentions-legales", "/donnees-personnelles"):
        page.goto(f"{stack.api}{path}")
        _assert_accessible(page, f"{path} (neutral site)")
    page.close()
