"""The catalogue store: providers, resources, initiatives and the append-only outcome log.

One code path for SQLite (the default, in WAL mode, under ``MAILLAGE_HOME``) and PostgreSQL (by URL).
The schema is created and upgraded by the Alembic migrations shipped in ``matcher/migrations``.
Writes are upserts by id; resources are soft-deleted; outcomes are only ever appended (an erased
initiative's outcomes excepted: anonymised in place, :mod:`matcher.erasure`). Every write
method runs in one transaction: a batch lands whole or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, create_engine, event, func, select, update
from sqlalchemy.engine import make_url

from matcher import tables
from matcher._store_audit import AuditEntry, AuditLog
from matcher._store_base import NotFoundError, StoreError, aware, content_hash, sqlite_url
from matcher._store_initiatives import InitiativeRecords
from matcher._store_outcomes import OutcomeLog
from matcher.schemas import Initiative, Provider, Resource, utcnow

__all__ = ["AuditEntry", "Catalogue", "NotFoundError", "StoreError", "content_hash", "sqlite_url"]

def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the service) run while a writer (an import) commits; NORMAL is durable in WAL
    # mode across process crashes, and busy_timeout makes concurrent writers wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # A deleted row's bytes are overwritten with zeros, not left in a free page (erasure, issue 19).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class Catalogue(InitiativeRecords, OutcomeLog, AuditLog):
    """Access to the catalogue database. Create with :meth:`open`; safe to share across threads.

    Providers, resources, listing and summaries are here; initiatives in
    :mod:`matcher._store_initiatives`, the outcome log in :mod:`matcher._store_outcomes`, the audit log
    in :mod:`matcher._store_audit`, the engine
    and the upsert by id in :mod:`matcher._store_base`.
    """

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Catalogue:
        """Connect to ``url`` and bring its schema to the latest migration."""
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
            raise StoreError(
                f"unsupported database {parsed.get_backend_name()!r} in {shown!r}: expected sqlite "
                "(sqlite:///path) or postgresql (postgresql+psycopg://user:pass@host/db)"
            )
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except Exception as exc:  # missing driver
            raise StoreError(f"cannot open catalogue database {shown!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _on_sqlite_connect)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self, revision: str = "head") -> None:
        """Apply pending Alembic migrations up to ``revision`` (idempotent); a database migrated by a
        newer Maillage is refused (:class:`matcher.schema_version.SchemaTooNewError`), never downgraded."""
        from matcher.schema_version import upgrade

        upgrade(self.engine, revision)

    def close(self) -> None:
        self.engine.dispose()

    # --- providers -----------------------------------------------------------------------------

    def upsert_providers(self, items: Sequence[Provider]) -> tuple[int, int]:
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind.value,
                "source": p.source,
                "data": p.model_dump(mode="json"),
                "content_hash": content_hash(p),
                "updated_at": utcnow(),
            }
            for p in items
        ]
        with self.engine.begin() as conn:
            return self._upsert(conn, tables.providers, rows)

    def providers(self) -> list[Provider]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tables.providers.c.data).order_by(tables.providers.c.id))
            return self._load(Provider, rows)

    def get_provider(self, provider_id: str) -> Provider:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tables.providers.c.data).where(tables.providers.c.id == provider_id)
            ).first()
        if row is None:
            raise NotFoundError("provider", provider_id)
        return Provider.model_validate(row.data)

    # --- resources -----------------------------------------------------------------------------

    def upsert_resources(self, items: Sequence[Resource]) -> tuple[int, int]:
        """Insert or update resources by id. Upserting a soft-deleted id restores it."""
        rows = [
            {
                "id": r.id,
                "kind": r.kind.value,
                "provider_id": r.provider_id,
                "title": r.title,
                "active": r.active,
                "closes_at": r.closes_at,
                "source": r.source,
                "data": r.model_dump(mode="json"),
                "content_hash": content_hash(r),
                "updated_at": r.updated_at,
                "deleted_at": None,
                "changed_at": utcnow(),
            }
            for r in items
        ]
        with self.engine.begin() as conn:
            return self._upsert(conn, tables.resources, rows)

    def resources(self, *, include_deleted: bool = False, source: str | None = None) -> list[Resource]:
        t = tables.resources
        q = select(t.c.data).order_by(t.c.id)
        if not include_deleted:
            q = q.where(t.c.deleted_at.is_(None))
        if source is not None:
            q = q.where(t.c.source == source)
        with self.engine.connect() as conn:
            return self._load(Resource, conn.execute(q))

    def get_resource(self, resource_id: str, *, include_deleted: bool = False) -> Resource:
        t = tables.resources
        q = select(t.c.data).where(t.c.id == resource_id)
        if not include_deleted:
            q = q.where(t.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError("resource", resource_id)
        return Resource.model_validate(row.data)

    def delete_resource(self, resource_id: str) -> None:
        """Soft-delete: the resource leaves every listing and index but its outcomes keep their target."""
        t = tables.resources
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t)
                .where(t.c.id == resource_id, t.c.deleted_at.is_(None))
                .values(deleted_at=utcnow(), changed_at=utcnow(), active=False, content_hash="deleted")
            )
            if done.rowcount == 0:
                raise NotFoundError("resource", resource_id)

    def resources_changed_since(
        self, since: datetime | None, *, known: Mapping[str, str] | None = None
    ) -> tuple[list[Resource], list[str], datetime | None]:
        """Resources written at or after ``since`` (all live ones when ``None``): ``(live, deleted_ids,
        newest change)``. Callers keep the newest change and ask again from it (ties are re-sent,
        so a caller compares content before re-indexing).

        ``known`` maps ids to the :func:`content_hash` the caller already holds: live rows with that
        hash are left out without being read, so asking again over a window already seen is cheap.
        """
        t = tables.resources
        q = select(t.c.id, t.c.content_hash, t.c.deleted_at, t.c.changed_at)
        q = q.where(t.c.changed_at >= since) if since is not None else q.where(t.c.deleted_at.is_(None))
        wanted: list[str] = []
        deleted: list[str] = []
        newest: datetime | None = since
        live: list[Resource] = []
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                if row.deleted_at is not None:
                    deleted.append(row.id)
                elif known is None or known.get(row.id) != row.content_hash:
                    wanted.append(row.id)
                stamp = aware(row.changed_at)
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            for start in range(0, len(wanted), 900):
                chunk = wanted[start : start + 900]
                rows = conn.execute(select(t.c.data).where(t.c.id.in_(chunk), t.c.deleted_at.is_(None)))
                live.extend(self._load(Resource, rows))
        return live, deleted, newest

    def page(
        self, what: str, /, *, offset: int = 0, limit: int = 50, text: str | None = None, **filters: Any
    ) -> tuple[list[Any], int]:
        """One page of providers, resources or initiatives ordered by id, and the total matching.

        ``filters`` are equality filters on the table's columns (``kind``, ``provider_id``,
        ``territory``, ``source``, ``active``); ``text`` matches the title (or name) case-insensitively.
        Deleted resources are never listed.
        """
        table, model, title = {
            "providers": (tables.providers, Provider, tables.providers.c.name),
            "resources": (tables.resources, Resource, tables.resources.c.title),
            "initiatives": (tables.initiatives, Initiative, tables.initiatives.c.title),
        }[what]
        where: list[Any] = []
        if table is tables.resources:
            where.append(table.c.deleted_at.is_(None))
        for column, value in filters.items():
            if value is not None:
                if column not in table.c:
                    raise ValueError(f"{what} cannot be filtered on {column!r}")
                where.append(table.c[column] == value)
        if text:
            where.append(func.lower(title).contains(text.lower(), autoescape=True))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            rows = conn.execute(select(table.c.data).where(*where).order_by(table.c.id).offset(offset).limit(limit))
            return self._load(model, rows), int(total)

    # --- summaries -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of providers, live resources, initiatives and outcomes."""
        with self.engine.connect() as conn:
            def n(table: Table, *where: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

            return {
                "providers": n(tables.providers),
                "resources": n(tables.resources, tables.resources.c.deleted_at.is_(None)),
                "initiatives": n(tables.initiatives),
                "outcomes": n(tables.outcomes),
            }

    def resources_hash(self) -> str:
        """Hash of the live resources' content: an index built from another hash is stale."""
        t = tables.resources
        h = hashlib.sha256()
        with self.engine.connect() as conn:
            for rid, chash in conn.execute(
                select(t.c.id, t.c.content_hash).where(t.c.deleted_at.is_(None)).order_by(t.c.id)
            ):
                h.update(f"{rid}\0{chash}\n".encode())
        return h.hexdigest()
