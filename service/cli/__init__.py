"""The ``maillage`` command line: a thin face over the matcher, one module per command group.

Each command parses its options, calls the core, and turns domain errors into one line on stderr
and an exit code (2: bad input or unknown id; 1: a store or index that cannot be used). This package
is the only part of :mod:`service` that calls ``eval`` and ``training``; it imports them when a
command that needs them runs.
"""

from __future__ import annotations

import typer

from service.cli import (
    alerts,
    batch,
    catalogue,
    demo,
    evaluate,
    index,
    keys,
    match,
    models,
    observatory,
    privacy,
    serve,
    sources,
    upkeep,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="maillage",
    help="Maillage: matches citizen initiatives with State resources, explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# In the order of ``maillage --help``.
app.add_typer(index.index_app, name="index")
evaluate.register_eval(app)
app.command("import")(catalogue.import_)
app.command("import-source")(sources.import_source)
app.command()(match.match)
app.command()(match.plan)
app.command()(match.override)
app.command()(batch.batch)
app.command()(observatory.observatory)
app.command()(demo.demo)
app.command()(catalogue.status)
app.command()(models.train)
app.command()(models.promote)
app.command()(models.models)
app.command()(evaluate.bench)
app.add_typer(keys.keys_app, name="keys")
app.command()(privacy.forget)
app.add_typer(privacy.retention_app, name="retention")
app.command()(privacy.audit)
app.add_typer(alerts.alerts_app, name="alerts")
app.command()(serve.serve)
app.command()(upkeep.migrate)
app.command()(upkeep.backup)
app.command()(upkeep.restore)


def main() -> None:
    app()
