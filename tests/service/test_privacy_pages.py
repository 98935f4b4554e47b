"""The citizen's side (issue 19): the privacy notice the widget's consent box links to, configured by
settings, and the signed deletion link a mail carries (a confirmation page, then the erasure)."""

from __future__ import annotations

import time
from html import unescape
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from matcher.schemas import Initiative
from matcher.store import Catalogue
from service.api import create_app
from service.privacy import deletion_link, deletion_target
from tests.service.conftest import Api, make_settings, seed

SUBMISSION = Initiative(id="web-0badc0ffee", title="Atelier vélo solidaire",
                        description="Réparer les vélos du quartier", territory="93066",
                        source="widget:Portail test", consent=True, contact_email="camille@exemple.fr")


def _store(api: Api) -> None:
    assert api.client.post("/v1/initiatives", json=SUBMISSION.model_dump(mode="json"),
                           headers=api.h("staff")).status_code == 201


def test_the_notice_says_controller_purpose_retention_rights_and_contact_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", retention_months=9, privacy_controller="Accélérateur de Test",
                             privacy_contact="dpo@exemple.gouv.fr", privacy_purpose="tester la notice")
    seed(settings)
    with TestClient(create_app(settings)) as client:
        r = client.get("/confidentialite")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for said in ("Responsable du traitement", "Accélérateur de Test", "tester la notice", "9 mois",
                 "Vos droits", 'href="mailto:dpo@exemple.gouv.fr"', "CNIL", '<html lang="fr"'):
        assert said in page, said


def test_the_widgets_consent_box_links_to_the_notice(api: Api) -> None:
    script = api.client.get("/widget.js").text
    consent = script.index('id("consent")')
    link = script.index('"confidentialite"')
    assert 0 < link - consent < 600  # beside the consent box


def test_a_deletion_link_confirms_then_erases(api: Api) -> None:
    _store(api)
    link = deletion_link(api.settings, SUBMISSION.id)
    assert link.startswith("/suppression/")  # no MAILLAGE_PUBLIC_URL: a path from the root
    page = api.client.get(link)
    assert page.status_code == 200 and "Atelier vélo solidaire" in page.text and "Effacer définitivement" in page.text
    kept = api.client.get(f"/v1/initiatives/{SUBMISSION.id}", headers=api.h("staff"))
    assert kept.status_code == 200  # opening the link erased nothing
    done = api.client.post(link)
    assert done.status_code == 200 and "a été effacé" in unescape(done.text)
    assert api.client.get(f"/v1/initiatives/{SUBMISSION.id}", headers=api.h("staff")).status_code == 404
    again = api.client.get(link)
    assert again.status_code == 200 and "déjà été effacé" in unescape(again.text)
    audit = api.client.get("/v1/audit?action=initiative.erase", headers=api.h("admin")).json()["items"]
    assert audit[0]["principal"] == "citizen" and audit[0]["target_id"].startswith("anonyme-")


def test_a_forged_altered_or_expired_link_erases_nothing(api: Api) -> None:
    _store(api)
    good = deletion_link(api.settings, SUBMISSION.id)
    token = good.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    forged = deletion_link(api.settings.model_copy(update={"secret_key": SecretStr("x" * 40)}), SUBMISSION.id)
    expired = deletion_link(api.settings, SUBMISSION.id, days=1, now=time.time() - 2 * 86400)
    for bad in (forged, f"/suppression/{payload}.{signature[:-2]}AA", expired, "/suppression/nimportequoi"):
        assert api.client.get(bad).status_code == 404
        r = api.client.post(bad)
        assert r.status_code == 403 and "rien n'a été effacé" in unescape(r.text)
    assert api.client.post(good, headers={"Origin": "https://ailleurs.example"}).status_code == 403
    assert api.client.get(f"/v1/initiatives/{SUBMISSION.id}", headers=api.h("staff")).status_code == 200
    assert deletion_target(api.settings, token) == SUBMISSION.id


def test_a_link_carries_the_public_url(api: Api) -> None:
    settings = api.settings.model_copy(update={"public_url": "https://maillage.exemple.gouv.fr/"})
    link = deletion_link(settings, "web-1")
    assert link.startswith("https://maillage.exemple.gouv.fr/suppression/")
    assert deletion_target(settings, link.rsplit("/", 1)[1]) == "web-1"
    store = Catalogue.open(api.settings.db_url)
    assert store.erasure_mark() == 0
