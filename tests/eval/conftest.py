"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from service.cli.evaluate import register_eval


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """A bare application with the ``eval`` command, on a fresh home and the hashing encoder."""
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MAILLAGE_MODEL", "hashing:64")
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """maillage"""

    register_eval(app)
    return app
