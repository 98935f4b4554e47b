"""The outbox survives a kill: ``maillage alerts run`` killed with SIGKILL while the SMTP server holds a
message, then run again, delivers every due message, each under its own Message-ID, and the only copy
sent twice is the one in flight at the kill (the documented at-least-once window). Also the CLI's
``alerts run`` (idempotent) and ``alerts preview``."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from matcher import tables
from matcher.store import Catalogue, sqlite_url
from service.alerts import AlertStore
from service.alerts.subscriptions import Subscription
from service.cli import app
from tests.conftest import small_catalogue
from tests.service.alerts_kit import free_port
from tests.service.test_alerts import new_garden

ROOT = Path(__file__).resolve().parents[2]


class HoldingSink:
    """Accepts messages, but holds the second one until released (the moment the sender is killed)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.ids.append(str(email.message_from_bytes(envelope.original_content, policy=default)["Message-ID"]))
        if len(self.ids) == 2 and not self.release.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return "250 OK"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, dict[str, str], HoldingSink]]:
    sink, port = HoldingSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {"MAILLAGE_HOME": str(tmp_path / "home"), "MAILLAGE_MODEL": "hashing:64", "MAILLAGE_SMTP_HOST": "127.0.0.1",
           "MAILLAGE_SMTP_PORT": str(port), "MAILLAGE_SMTP_SECURITY": "none", "MAILLAGE_SECRET_KEY": "k" * 40,
           "MAILLAGE_SMTP_SENDER": "Maillage <alertes@maillage.example.fr>", "MAILLAGE_DEMO_WHEN_EMPTY": "false"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    store = Catalogue.open(sqlite_url(tmp_path / "home" / "maillage.db"))
    providers, resources, initiatives = small_catalogue()
    store.upsert_providers(providers)
    store.upsert_resources(resources)
    store.upsert_initiatives(initiatives)
    subs = [Subscription(id=f"sub-{k:016x}", query={"text": "jardin partagé compost quartier", "territory": "93066"},
                         email=f"equipe{k}@example.fr", frequency="immediate", label=f"Veille {k}",
                         created_at=datetime(2026, 1, 1, tzinfo=UTC)) for k in range(4)]
    with store.engine.begin() as conn:
        conn.execute(tables.alert_subscriptions.insert(), [AlertStore._row(s) for s in subs])
    store.upsert_resources([new_garden()])
    store.close()
    try:
        yield tmp_path / "home", {**os.environ, **env}, sink
    finally:
        sink.release.set()
        controller.stop()


def test_the_outbox_survives_a_kill_during_sending(home: tuple[Path, dict[str, str], HoldingSink]) -> None:
    path, env, sink = home
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "alerts", "run", "--on", "2026-12-01"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert sink.holding.wait(timeout=240), "the run never reached the second message"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    sink.release.set()
    time.sleep(0.2)
    result = CliRunner().invoke(app, ["alerts", "run", "--on", "2026-12-01"])
    assert result.exit_code == 0, result.output
    alerts = AlertStore(Catalogue.open(sqlite_url(path / "maillage.db")).engine)
    due = {f"<{r.id}@maillage.example.fr>" for r in alerts.recent(limit=100)}
    assert len(due) == 4 and not alerts.unsent()
    got = Counter(sink.ids)
    assert set(got) == due  # none lost, none unknown
    assert [mid for mid, n in got.items() if n > 1] in ([], [sink.ids[1]])  # at most the one in flight, same id


def test_alerts_run_is_idempotent_and_preview_shows_what_waits(home: tuple[Path, dict[str, str], HoldingSink]) -> None:
    _, _, sink = home
    sink.release.set()
    runner = CliRunner()

    def said(*argv: str) -> str:
        result = runner.invoke(app, list(argv))
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    # The first run sees every open, eligible resource as new (5 of them, for each of the 4 searches).
    first = said("alerts", "run", "--on", "2026-12-01", "--no-send")
    assert "20 nouvelle(s) alerte(s)" in first and "4 message(s) mis en file, 0 envoyé(s)" in first, first
    preview = said("alerts", "preview", "--subscription", f"sub-{0:016x}", "--on", "2026-12-01")
    assert "Aucune alerte n'attend d'envoi." in preview, preview
    second = said("alerts", "run", "--on", "2026-12-01")
    assert "0 nouvelle(s) alerte(s)" in second and "0 message(s) mis en file, 4 envoyé(s)" in second, second
    third = said("alerts", "run", "--on", "2026-12-01")
    assert "0 message(s) mis en file, 0 envoyé(s)" in third and len(sink.ids) == 4
    unknown = runner.invoke(app, ["alerts", "preview", "--subscription", "sub-ffffffffffffffff"])
    assert unknown.exit_code == 2 and "sub-ffffffffffffffff" in unknown.output
