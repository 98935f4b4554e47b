"""Freshness and contact on every face: the API's matches, the widget's answer and script, the staff
console's cards and the CLI's table all say « vérifiée le JJ/MM/AAAA », warn when that is more than
six months old, and name the provider's address when a resource has no page of its own."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.cli._common import out
from tests.service.conftest import Api
from tests.service.test_web import _sign_in

WARNING = "plus de 6 mois"
PROVIDER = {"id": "prov-ville", "name": "Ville de Saint-Denis", "kind": "commune", "territory": "93",
            "url": "https://ville-saint-denis.fr"}
WORDS = "jardin partagé compost quartier potager association"


def _resources(today: date) -> list[dict[str, Any]]:
    return [
        {"id": "res-old", "kind": "financement", "provider_id": "prov-ville", "title": "Aide aux jardins de quartier",
         "description": WORDS, "coverage": ["93"], "recurrence": "permanent",
         "url": "https://ville-saint-denis.fr/jardins", "last_verified": (today - timedelta(days=243)).isoformat()},
        {"id": "res-fresh", "kind": "accompagnement", "provider_id": "prov-ville",
         "title": "Accompagnement des jardins partagés", "description": WORDS, "coverage": ["93"],
         "recurrence": "permanent", "last_verified": (today - timedelta(days=7)).isoformat()},
    ]


def _verified(day: date) -> str:
    return f"vérifiée le {day:%d/%m/%Y}"


@pytest.fixture
def fresh_api(api: Api) -> Api:
    assert api.client.post("/v1/providers", json=PROVIDER, headers=api.h("staff")).status_code == 201
    for res in _resources(date.today()):
        r = api.client.post("/v1/resources", json=res, headers=api.h("staff"))
        assert r.status_code == 201, r.text
    return api


def _by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["resource_id"]: m for m in answer["matches"]}


def _check_answer(matches: dict[str, dict[str, Any]], today: date) -> None:
    old, fresh = matches["res-old"], matches["res-fresh"]
    assert old["last_verified"] == (today - timedelta(days=243)).isoformat()
    assert old["verified"] == _verified(today - timedelta(days=243))
    assert old["stale"] is True and WARNING in old["stale_warning"]
    assert old["contact"] is None and old["url"] == "https://ville-saint-denis.fr/jardins"
    assert fresh["verified"] == _verified(today - timedelta(days=7))
    assert fresh["stale"] is False and fresh["stale_warning"] is None
    assert fresh["url"] is None and fresh["contact"] == "https://ville-saint-denis.fr"  # the provider's address


def test_the_api_says_when_each_match_was_verified(fresh_api: Api) -> None:
    today = date.today()
    body = {"text": "jardin partagé et compost pour le quartier", "territory": "93066", "k": 10}
    r = fresh_api.client.post("/v1/match", json=body | {"on": today.isoformat()}, headers=fresh_api.h("staff"))
    assert r.status_code == 200, r.text
    _check_answer(_by_id(r.json()), today)
    later = (today + timedelta(days=200)).isoformat()  # the answer is dated by ``on``
    r = fresh_api.client.post("/v1/match", json=body | {"on": later}, headers=fresh_api.h("staff"))
    assert _by_id(r.json())["res-fresh"]["stale"] is True


def test_the_widget_gets_the_same_words_and_shows_them(fresh_api: Api) -> None:
    body = {"text": "jardin partagé et compost pour le quartier", "territory": "93066", "k": 10}
    r = fresh_api.client.post("/v1/match", json=body, headers=fresh_api.h("partner"))
    assert r.status_code == 200, r.text
    _check_answer(_by_id(r.json()), date.today())
    script = fresh_api.client.get("/widget.js").text
    for shown in ("m.verified", "m.stale_warning", "m.contact", "mw-stale"):
        assert shown in script


def test_the_console_card_shows_the_date_the_warning_and_the_contact(fresh_api: Api) -> None:
    today = date.today()
    _sign_in(fresh_api.client, fresh_api.tokens["staff"])
    page = fresh_api.client.get("/console/initiatives/ini-jardin").text
    old = page[page.index('id="r-res-old"'):]
    old = old[: old.index("</li>\n")] if "</li>\n" in old else old
    assert _verified(today - timedelta(days=243)) in old and WARNING in old
    fresh = page[page.index('id="r-res-fresh"'):]
    assert _verified(today - timedelta(days=7)) in fresh
    assert 'Contact :</strong> <a href="https://ville-saint-denis.fr"' in fresh
    assert WARNING not in fresh[: fresh.index('class="reasons"')]
    resource_page = fresh_api.client.get("/console/ressources/res-old").text
    assert f"<dt>Vérification</dt><dd>{_verified(today - timedelta(days=243))}</dd>" in resource_page


runner = CliRunner()


def test_the_cli_table_and_json_say_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:128")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    monkeypatch.setattr(out, "_width", 400)  # one line per table row, whatever the terminal
    on = date(2026, 12, 2)
    for what, records in (("providers", [PROVIDER]), ("resources", _resources(on))):
        path = tmp_path / f"{what}.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
        assert runner.invoke(app, ["import", what, str(path)]).exit_code == 0
    args = ["match", "--text", "jardin partagé et compost", "--territory", "93066", "--on", on.isoformat()]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert _verified(on - timedelta(days=243)) in table.output and WARNING in table.output
    assert _verified(on - timedelta(days=7)) in table.output
    assert "Contact : https://ville-saint-denis.fr" in table.output
    as_json = runner.invoke(app, [*args, "--json"])
    _check_answer({m["resource_id"]: m for m in json.loads(as_json.stdout)}, on)
