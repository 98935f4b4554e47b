"""The ``maillage`` command line: a thin face over the matcher, one module per command group.

Each command parses its options, calls the core, and turns domain errors into one line on stderr
and an exit code (2: bad input or unknown id; 1: a store or index that cannot be used). This package
is the only part of :mod:`service` that calls ``eval`` and ``training``; it imports them when a
command that needs them runs.

Commands are registered lazily: a command's module is imported when that command runs (or when
``--help`` lists them all), so a one-off ``maillage match`` does not import the server, the alert
mailer or the training code (:data:`COMMANDS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["COMMANDS", "app", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("evaluate", "eval_command"),
    "export-set": ("evaluate", "export_set"),
    "import": ("catalogue", "import_"),
    "import-source": ("sources", "import_source"),
    "match": ("match", "match"),
    "plan": ("match", "plan"),
    "override": ("match", "override"),
    "batch": ("batch", "batch"),
    "observatory": ("observatory", "observatory"),
    "demo": ("demo", "demo"),
    "status": ("catalogue", "status"),
    "train": ("models", "train"),
    "promote": ("models", "promote"),
    "models": ("models", "models"),
    "bench": ("evaluate", "bench"),
    "forget": ("privacy", "forget"),
    "audit": ("privacy", "audit"),
    "serve": ("serve", "serve"),
    "migrate": ("upkeep", "migrate"),
    "backup": ("upkeep", "backup"),
    "restore": ("upkeep", "restore"),
    # Groups of commands, listed after the commands.
    "index": ("index", "index_app"),
    "keys": ("keys", "keys_app"),
    "retention": ("privacy", "retention_app"),
    "alerts": ("alerts", "alerts_app"),
}
"""Command name → (module of :mod:`service.cli`, the function or Typer group), in the order of
``maillage --help``."""


def _load(name: str) -> Any:
    """The click command of ``name``, built by Typer from its module's function or group."""
    module, attr = COMMANDS[name]
    target = getattr(importlib.import_module(f"service.cli.{module}"), attr)
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.callback()(lambda: None)  # a group, so that the command keeps its name
    if isinstance(target, typer.Typer):
        single.add_typer(target, name=name)
    else:
        single.command(name)(target)
    return typer.main.get_group(single).commands[name]


class _Commands(MutableMapping[str, Any]):
    """The group's commands: every name of :data:`COMMANDS` listed, each built on first access."""

    def __init__(self, given: MutableMapping[str, Any]) -> None:
        self._built: dict[str, Any] = dict(given)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._built if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(n not in COMMANDS for n in self._built)


class _LazyGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)


app = typer.Typer(
    name="maillage",
    help="Maillage: matches citizen initiatives with State resources, explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)


@app.callback()
def _root() -> None:
    """Maillage: matches citizen initiatives with State resources, explained."""


def main() -> None:
    app()
