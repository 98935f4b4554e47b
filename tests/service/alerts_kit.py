"""What the alert tests share: a real SMTP server (aiosmtpd) on loopback that keeps every message it
accepted, the running app on the small catalogue with that server configured, and mail helpers."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from matcher.schemas import Resource
from service.alerts import links_for, run
from service.alerts.runner import RunReport
from service.api import create_app
from service.engine import Engine
from tests.conftest import TODAY
from tests.service.conftest import Api, make_settings, seed

BASE = "http://testserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    """The messages the SMTP server accepted, in order, parsed back."""

    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.original_content or envelope.content)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(r, policy=default) for r in self.raw]  # type: ignore[misc]


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@dataclass
class AlertApp(Api):
    sink: Sink

    @property
    def engine(self) -> Engine:
        engine: Engine = self.client.app.state.engine  # type: ignore[attr-defined]
        return engine

    def run(self, **kw: Any) -> RunReport:
        engine = self.engine
        engine.sync()
        today = kw.pop("today", TODAY)
        return run(engine.rec, engine.store, self.settings, links_for(self.settings), today=today, **kw)

    def add(self, *resources: Resource) -> None:
        self.engine.upsert_resources(list(resources))


@pytest.fixture
def alert_app(tmp_path: Path, smtp: tuple[Sink, int]) -> Iterator[AlertApp]:
    sink, port = smtp
    settings = make_settings(tmp_path / "home", smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                             smtp_sender="Maillage <alertes@maillage.example.fr>", public_url=BASE,
                             secret_key="s" * 40)
    tokens = seed(settings)
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield AlertApp(client, settings, tokens, sink)


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a message."""
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def links(text: str, path: str) -> list[str]:
    return re.findall(rf"{re.escape(BASE)}{re.escape(path)}\?t=[A-Za-z0-9_.%=-]+", text)


def relative(url: str) -> str:
    return url.removeprefix(BASE)
