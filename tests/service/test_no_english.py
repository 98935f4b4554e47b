"""No English sentence in what citizens and staff read: every console page, the legal pages, the widget's
demo page, the error pages (404, 422, 403, 503, 504, …) and every text the widget can show.

The check is :func:`tests.english.english_words` (English-only words, no language model) on the visible
text of each page: text nodes and the ``title`` / ``aria-label`` / ``placeholder`` attributes, without
``<script>``, ``<style>``, ``<code>`` and ``<pre>`` (commands and identifiers, not prose)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from service.web.render import ERROR_HEADINGS, HERE, error_page
from tests.english import english_words
from tests.service.conftest import Api
from tests.service.test_web import _csrf, _sign_in

HTML = {"Accept": "text/html"}
_READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "pre"):
            self.skip += 1
        self.parts += [v for k, v in attrs if k in _READ_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "pre"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _assert_french(where: str, html: str) -> None:
    text = visible_text(html)
    assert len(text) > 100, (where, text)
    found = english_words(text)
    assert not found, f"{where}: English words {found} in « {text[:300]}… »"


def test_the_check_finds_the_english_it_is_meant_to_find() -> None:
    for leak in ("erreur : unknown initiative id 'x'", "String should have at least 3 characters",
                 "Field required", "Extra inputs are not permitted", "the request timed out",
                 "Input should be a valid integer"):
        assert english_words(leak), leak
    assert not english_words("Aucune initiative n'a l'identifiant « x » : vérifiez-le, ou créez-la.")


def test_every_console_page_is_french(api: Api) -> None:
    c = api.client
    _assert_french("sign-in", c.get("/console/connexion").text)
    _sign_in(c, api.tokens["staff"])
    listing = c.get("/console/ressources").text
    resource = re.search(r'href="(/console/ressources/[^"?#]+)"', listing)
    assert resource
    pages = {
        "initiatives": "/console/initiatives", "initiatives filtered": "/console/initiatives?q=jardin",
        "initiative": "/console/initiatives/ini-jardin", "plan": "/console/initiatives/ini-jardin/plan",
        "resources": "/console/ressources",
        "resource": resource.group(1), "status": "/console/etat", "alerts": "/console/alertes", "demo": "/widget/demo",
        "alert link (400)": "/alertes/confirmer?t=faux",
        "accessibility": "/accessibilite", "legal": "/mentions-legales", "data": "/donnees-personnelles",
        "bad territory (422)": "/console/initiatives?territoire=ZZZ", "bad kind (422)": "/console/ressources?type=zz",
        "unknown initiative (404)": "/console/initiatives/ini-absente", "unknown page (404)": "/nulle-part",
        "unknown console page (404)": "/console/nulle-part", "bad query (422)": "/console/initiatives?page=abc",
    }
    for where, path in pages.items():
        r = c.get(path, headers=HTML)
        assert r.headers["content-type"].startswith("text/html"), (where, r.text[:200])
        _assert_french(where, r.text)
    page = c.get("/console/initiatives/ini-jardin").text
    refused = c.post("/console/initiatives/ini-jardin/decisions", headers=HTML,
                     data={"csrf": "faux", "resource_id": "x", "decision": "pinned", "reason": "r"})
    assert refused.status_code == 403
    _assert_french("refused form (403)", refused.text)
    bad = c.post("/console/initiatives/ini-jardin/decisions", headers=HTML,
                 data={"csrf": _csrf(page), "resource_id": "res-absente", "decision": "pinned", "reason": "r"})
    assert bad.status_code == 422
    _assert_french("unknown resource in a decision (422)", bad.text)


@pytest.mark.parametrize("status", sorted(ERROR_HEADINGS))
def test_every_error_page_is_french(api: Api, status: int) -> None:
    message = {504: "la requête a duré plus de 15 s et a été abandonnée",
               503: "le service est surchargé : réessayez dans quelques secondes"}.get(status, "message de l'API")
    html, headers = error_page(api.client.app.state.dsfr, status, message)  # type: ignore[attr-defined]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    _assert_french(f"error page {status}", html.decode())


def _widget_strings() -> list[str]:
    """Every string literal of widget.js that reads as prose (it holds a space and a letter)."""
    source = (HERE / "static" / "widget.js").read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    source = re.sub(r"(?m)^\s*//.*$|\s//\s.*$", " ", source)
    literals = re.findall(r'"((?:[^"\\\n]|\\.)*)"', source)
    css = re.compile(r"[{};]|^[.:#\[@]|^\w+\(|var\(--")
    return [s for s in literals if " " in s and re.search(r"[A-Za-zÀ-ÿ]", s) and not css.search(s)]


def test_every_text_the_widget_can_show_is_french() -> None:
    strings = _widget_strings()
    assert len(strings) >= 40  # the states: form, hints, errors, results, nothing fits, refusals…
    assert any("n'a pas pu être joint" in s for s in strings) and any("Rien ne correspond" in s for s in strings)
    leaks = {s: english_words(s) for s in strings if english_words(s)}
    assert not leaks, leaks
