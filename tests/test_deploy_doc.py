"""docs/deploy.md cannot drift from the code: its settings table lists every field of
:class:`service.settings.Settings` (and nothing else) with the default the code has, every ``maillage``
command it shows exists, every repository file it names exists, and the README links it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from service.cli import app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "deploy.md"
ROW = re.compile(r"^\| `(MAILLAGE_[A-Z0-9_]+)` \| ([^|]+) \| (.+) \|$")


def shown(default: Any) -> str:
    """A default as the table writes it: in backticks, ``(unset)`` for none."""
    if default is None:
        return "(unset)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    return f"`{default}`"


def table() -> dict[str, tuple[str, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    start, end = text.index("<!-- settings:begin"), text.index("<!-- settings:end -->")
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:end].splitlines():
        match = ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} twice"
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
    return rows


def test_the_settings_table_lists_every_setting_and_nothing_else() -> None:
    documented = set(table())
    code = {f"MAILLAGE_{name.upper()}" for name in Settings.model_fields}
    assert not code - documented, f"add to docs/deploy.md's settings table: {sorted(code - documented)}"
    assert not documented - code, f"no such setting in service/settings.py: {sorted(documented - code)}"


def test_the_settings_table_gives_each_default_the_code_has() -> None:
    rows = table()
    wrong = {}
    for name, info in Settings.model_fields.items():
        default, what = rows[f"MAILLAGE_{name.upper()}"]
        if default != shown(info.default):
            wrong[name] = f"{default} instead of {shown(info.default)}"
        assert len(what) > 20, f"MAILLAGE_{name.upper()}: say what it does"
    assert not wrong, wrong


def _commands(group: Any, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, command in group.commands.items():
        names.add(prefix + name)
        if hasattr(command, "commands"):  # a command group (typer ships its own click)
            names |= _commands(command, f"{prefix}{name} ")
    return names


def test_every_maillage_command_the_guide_shows_exists() -> None:
    known = _commands(typer.main.get_group(app))
    text = re.sub(r"-[ug] maillage", "", GUIDE.read_text(encoding="utf-8"))  # the service's user and group
    # "maillage WORD" after a space, a backtick or a slash (…/bin/maillage serve), overlapping matches
    # so that "exec maillage maillage keys create" is read too; the service's user is "maillage" alone.
    used = set(re.findall(r"(?=(?:^|[\s`/])maillage ((?:keys|index) [a-z-]+|[a-z][a-z-]+))", text, re.MULTILINE))
    unknown = sorted(used - known - {"maillage"})
    assert not unknown, unknown
    for needed in ("backup", "restore", "migrate", "serve", "keys create", "index verify"):
        assert f"maillage {needed}" in text and needed in known, needed


def test_every_repository_file_the_guide_names_exists() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:deploy|docs|tests|service|matcher|indexes)/[\w./-]+\.\w+)`", text))
    named |= {name for name in ("Dockerfile", "compose.yaml") if f"`{name}`" in text}
    assert len(named) >= 8
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, missing


def test_the_readme_links_the_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Déploiement / Deployment" in readme and "](docs/deploy.md)" in readme
