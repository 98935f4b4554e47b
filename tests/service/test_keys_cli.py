"""``maillage keys create|list|revoke``: the token shown once, never a secret in a listing, revocation
effective at once, partner keys bound to origins."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.store import Catalogue
from service.cli import app
from service.keys import KeyStore, Role
from service.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    return tmp_path / "home"


def keystore() -> tuple[KeyStore, Catalogue]:
    store = Catalogue.open(Settings().db_url)
    return KeyStore(store), store


def create(*args: str) -> str:
    """Runs ``maillage keys create`` and returns the token it printed."""
    result = runner.invoke(app, ["keys", "create", *args])
    assert result.exit_code == 0, result.output
    tokens = [line for line in result.stdout.splitlines() if line.startswith("mk_")]
    assert len(tokens) == 1, result.stdout
    return tokens[0]


def test_create_prints_the_token_once_and_it_authenticates(home: Path) -> None:
    result = runner.invoke(app, ["keys", "create", "--name", "Équipe Creuse", "--role", "staff"])
    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("mk_"))
    assert result.output.count(token) == 1 and result.output.count(token.split("_", 3)[3]) == 1
    assert "ne sera plus affichée" in result.output
    keys, store = keystore()
    try:
        key = keys.authenticate(token)
        assert key is not None and key.role is Role.staff and key.name == "Équipe Creuse"
        assert key.id in result.stdout
    finally:
        store.close()


def test_list_shows_every_key_but_never_a_secret(home: Path) -> None:
    tokens = [create("--name", "Admin", "--role", "admin"),
              create("--name", "Lecture", "--role", "read-only"),
              create("--name", "Portail", "--role", "partner", "--origin", "https://portail.example.fr")]
    result = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})  # a row per key, unwrapped
    assert result.exit_code == 0, result.output
    for token in tokens:
        secret = token.split("_", 3)[3]
        assert secret not in result.output and secret[:12] not in result.output and token not in result.output
    for name in ("Admin", "Lecture", "Portail", "admin", "read-only", "partner", "https://portail.example.fr"):
        assert name in result.output, name
    keys, store = keystore()
    try:
        listed = keys.list()
        assert {k.name for k in listed} == {"Admin", "Lecture", "Portail"}
        assert all(k.id in result.output for k in listed)
    finally:
        store.close()


def test_revoke_makes_the_key_fail_at_once(home: Path) -> None:
    token, other = create("--name", "Ancien", "--role", "staff"), create("--name", "Actuel", "--role", "staff")
    key_id = token.split("_", 3)[2]
    result = runner.invoke(app, ["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert key_id in result.output
    keys, store = keystore()
    try:
        assert keys.authenticate(token) is None
        assert keys.authenticate(other) is not None
        assert next(k for k in keys.list() if k.id == key_id).revoked_at is not None
    finally:
        store.close()
    again = runner.invoke(app, ["keys", "revoke", key_id])
    assert again.exit_code == 2 and key_id in again.output  # already revoked: said, not silently accepted
    unknown = runner.invoke(app, ["keys", "revoke", "000000000000"])
    assert unknown.exit_code == 2 and "000000000000" in unknown.output


def test_a_partner_key_needs_an_origin(home: Path) -> None:
    result = runner.invoke(app, ["keys", "create", "--name", "Portail", "--role", "partner"])
    assert result.exit_code == 2
    assert "--origin" in result.output and "partner" in result.output
    assert not any(line.startswith("mk_") for line in result.output.splitlines())
    bad = runner.invoke(app, ["keys", "create", "--name", "Portail", "--role", "partner",
                              "--origin", "https://portail.example.fr/widget?x=1"])
    assert bad.exit_code == 2 and "scheme and host only" in bad.output
    token = create("--name", "Portail", "--role", "partner", "--origin", "HTTPS://Portail.Example.fr/")
    keys, store = keystore()
    try:
        key = keys.authenticate(token)
        assert key is not None and key.origins == ("https://portail.example.fr",)
    finally:
        store.close()


def test_an_unknown_role_or_an_origin_on_a_staff_key_is_refused(home: Path) -> None:
    unknown = runner.invoke(app, ["keys", "create", "--name", "X", "--role", "superuser"])
    assert unknown.exit_code == 2 and "superuser" in unknown.output and "read-only" in unknown.output
    staff = runner.invoke(app, ["keys", "create", "--name", "X", "--role", "staff",
                                "--origin", "https://portail.example.fr"])
    assert staff.exit_code == 2 and "only partner keys" in staff.output
    keys, store = keystore()
    try:
        assert keys.list() == []
    finally:
        store.close()
