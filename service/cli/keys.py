"""``maillage keys create|list|revoke``: API keys (stored hashed; a secret is printed once)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from service.cli._common import err, errors, fail, load_settings, open_store, out

__all__ = ["keys_app"]


keys_app = typer.Typer(help="API keys: create, list, revoke (stored hashed).", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who holds it (a partner, a person, a job)")],
    role: Annotated[str, typer.Option(help="admin, staff, read-only, or partner (publishable, for the widget)")],
    origin: Annotated[list[str] | None, typer.Option(help="allowed origin of a partner key (repeat)")] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from service.keys import KeySpecError, KeyStore

    settings = load_settings()
    with errors():
        try:
            key, token = KeyStore(open_store(settings)).create(name, role, origin or [])
        except KeySpecError as exc:
            fail(str(exc))
        out.print(f"Clé {key.id} ({key.role.value}) créée pour {key.name}"
                  + (f", origines : {', '.join(key.origins)}" if key.origins else "") + ".", highlight=False)
        err.print("Notez-la maintenant, elle ne sera plus affichée :", highlight=False)
        sys.stdout.write(token + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from service.keys import KeyStore

    settings = load_settings()
    with errors():
        keys = KeyStore(open_store(settings)).list()
        table = Table(title="Clés d'API", title_justify="left")
        for col in ("id", "nom", "rôle", "origines", "créée", "révoquée"):
            table.add_column(col)
        for k in keys:
            table.add_row(k.id, k.name, k.role.value, "\n".join(k.origins), f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
        out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (maillage keys list)")]) -> None:
    """Revoke a key: it stops working at once, in every worker."""
    from service.keys import KeyStore

    settings = load_settings()
    with errors():
        KeyStore(open_store(settings)).revoke(key_id)
        out.print(f"Clé {key_id} révoquée.")
