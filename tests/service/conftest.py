"""A running API on a small catalogue with the hashing encoder, and one key per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from matcher.store import Catalogue
from service.api import create_app
from service.keys import KeyStore
from service.settings import Settings
from tests.conftest import small_catalogue

PARTNER_ORIGIN = "https://portail.example.fr"


@dataclass
class Api:
    client: TestClient
    settings: Settings
    tokens: dict[str, str]

    def h(self, role: str, **extra: str) -> dict[str, str]:
        """Headers for a request made with the key of ``role`` (partner keys send their origin)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if role == "partner":
            headers["Origin"] = PARTNER_ORIGIN
        return headers | extra


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(home=home, model="hashing:64", demo_when_empty=False, sync_interval_s=0,
                                     rate_per_key=100_000, rate_per_ip=100_000)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def seed(settings: Settings) -> dict[str, str]:
    """Fill the catalogue with the small catalogue and create one key per role."""
    store = Catalogue.open(settings.db_url)
    providers, resources, initiatives = small_catalogue()
    store.upsert_providers(providers)
    store.upsert_resources(resources)
    store.upsert_initiatives(initiatives)
    keys = KeyStore(store)
    tokens = {role: keys.create(f"test {role}", role)[1] for role in ("admin", "staff", "read-only")}
    tokens["partner"] = keys.create("Portail test", "partner", [PARTNER_ORIGIN])[1]
    store.close()
    return tokens


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(tmp_path / "home")
    tokens = seed(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, settings, tokens)


from tests.service.alerts_kit import alert_app, smtp  # noqa: E402, F401 - the alert tests' fixtures (SMTP sink, app)
