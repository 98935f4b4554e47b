"""Which revision of the catalogue schema a database holds, which ones this code knows, and the
upgrade between them (the Alembic migrations in ``matcher/migrations/versions``).

Upgrades only: a database whose revision this code does not know was written by a newer Maillage,
and it is refused (:class:`SchemaTooNewError`) rather than half-read or "downgraded" by guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from matcher._store_base import StoreError

__all__ = ["SchemaState", "SchemaTooNewError", "known_revisions", "schema_state", "stored_revision", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaTooNewError(StoreError):
    """The database is at a revision this code does not know: a newer Maillage migrated it."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision (``None``: no catalogue yet), the code's head, and the
    revisions an upgrade would apply, oldest first."""

    current: str | None
    head: str
    pending: tuple[str, ...]


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def known_revisions() -> list[str]:
    """Every revision this code ships, oldest first."""
    return [rev.revision for rev in reversed(list(_script().walk_revisions()))]


def _head(script: ScriptDirectory) -> str:
    heads = script.get_heads()
    if len(heads) != 1:  # a merge left two chains: a packaging mistake, not the operator's
        raise StoreError(f"les migrations livrées ont {len(heads)} têtes ({', '.join(heads)}) au lieu d'une")
    return heads[0]


def _state(conn: Connection, shown: str) -> SchemaState:
    script = _script()
    head = _head(script)
    currents = MigrationContext.configure(conn).get_current_heads()
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in currents if rev not in known]
    if unknown:
        raise SchemaTooNewError(
            f"la base {shown} est à la révision de schéma {', '.join(unknown)}, que cette version de Maillage "
            f"ne connaît pas (la plus récente qu'elle connaît : {head}) : une version plus récente de Maillage "
            "l'a migrée. Maillage ne rétrograde pas un schéma : installez la version qui l'a migrée, "
            "ou restaurez une sauvegarde faite avant la mise à jour (maillage restore)."
        )
    current = currents[0] if currents else None
    pending = [rev.revision for rev in script.iterate_revisions(head, current or "base")]
    return SchemaState(current=current, head=head, pending=tuple(reversed(pending)))


def stored_revision(engine: Engine) -> str | None:
    """The revision the database of ``engine`` holds (``None``: no catalogue yet), known or not."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def schema_state(engine: Engine) -> SchemaState:
    """Where the database of ``engine`` stands; raises :class:`SchemaTooNewError` for a newer one."""
    shown = repr(engine.url.render_as_string(hide_password=True))
    try:
        with engine.connect() as conn:
            return _state(conn, shown)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"impossible de lire la révision de schéma de la base {shown} : {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the pending migrations up to ``revision``, in one transaction (idempotent). Refuses a
    database at a revision this code does not know (:class:`SchemaTooNewError`) before touching it."""
    shown = repr(engine.url.render_as_string(hide_password=True))
    cfg = _config()
    try:
        with engine.begin() as conn:
            _state(conn, shown)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"impossible de migrer la base du catalogue {shown} : {exc}") from exc
