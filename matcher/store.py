"""The catalogue store: providers, resources, initiatives and the append-only outcome log.

One code path for SQLite (the default, in WAL mode, under ``MAILLAGE_HOME``) and PostgreSQL (by URL).
The schema is created and upgraded by the Alembic migrations shipped in ``matcher/migrations``.
Writes are upserts by id; resources are soft-deleted; outcomes are only ever appended. Every write
method runs in one transaction: a batch lands whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from pydantic import BaseModel
from sqlalchemy import Engine, Table, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

from matcher import tables
from matcher.schemas import Decision, Initiative, Outcome, Provider, Resource, utcnow

__all__ = ["Catalogue", "NotFoundError", "StoreError", "content_hash", "sqlite_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"
M = TypeVar("M", bound=BaseModel)


class StoreError(RuntimeError):
    """The catalogue database cannot be opened or written (message says which and why)."""


class NotFoundError(KeyError):
    """An id that the catalogue does not hold."""

    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"unknown {what} id {item_id!r}")
        self.what = what
        self.item_id = item_id

    def __str__(self) -> str:
        return str(self.args[0])


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


_OPTIONAL_SINCE_0002 = ("contact_email",)


def _content_hash(record: BaseModel) -> str:
    # Timestamps are excluded so that re-importing identical content is recognised as unchanged.
    data = record.model_dump(mode="json", exclude={"created_at", "updated_at", "recorded_at"})
    for added in _OPTIONAL_SINCE_0002:  # fields added later hash as before while unset
        if data.get(added) is None:
            data.pop(added, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def content_hash(record: BaseModel) -> str:
    """The hash the store keeps for a record (also the service's ETag)."""
    return _content_hash(record)


def _aware(stamp: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the service) run while a writer (an import) commits; NORMAL is durable in WAL
    # mode across process crashes, and busy_timeout makes concurrent writers wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Catalogue:
    """Access to the catalogue database. Create with :meth:`open`; safe to share across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        """Apply pending Alembic migrations up to ``revision`` (idempotent)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except Exception as exc:
            shown = self.engine.url.render_as_string(hide_password=True)
            raise StoreError(f"cannot migrate catalogue database {shown!r}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # --- generic helpers -----------------------------------------------------------------------

    def _insert(self, table: Table) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert or update ``rows`` by id; unchanged rows (same content hash) are left alone.

        Returns ``(inserted, updated)``.
        """
        if not rows:
            return 0, 0
        ids = [r["id"] for r in rows]
        existing = dict(
            conn.execute(select(table.c.id, table.c.content_hash).where(table.c.id.in_(ids))).all()
        )
        changed = [r for r in rows if existing.get(r["id"]) != r["content_hash"]]
        if not changed:
            return 0, 0
        stmt = self._insert(table)
        cols = {c: getattr(stmt.excluded, c) for c in changed[0] if c != "id"}
        conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.id], set_=cols), changed)
        inserted = sum(1 for r in changed if r["id"] not in existing)
        return inserted, len(changed) - inserted

    @staticmethod
    def _load(model: type[M], rows: Iterable[Any]) -> list[M]:
        return [model.model_validate(r.data) for r in rows]

    # --- providers -----------------------------------------------------------------------------

    def upsert_providers(self, items: Sequence[Provider]) -> tuple[int, int]:
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind.value,
                "source": p.source,
                "data": p.model_dump(mode="json"),
                "content_hash": _content_hash(p),
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
                "content_hash": _content_hash(r),
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
                stamp = _aware(row.changed_at)
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

    # --- initiatives ---------------------------------------------------------------------------

    def upsert_initiatives(self, items: Sequence[Initiative]) -> tuple[int, int]:
        rows = [
            {
                "id": i.id,
                "title": i.title,
                "territory": i.territory,
                "source": i.source,
                "data": i.model_dump(mode="json"),
                "content_hash": _content_hash(i),
                "updated_at": i.updated_at,
            }
            for i in items
        ]
        with self.engine.begin() as conn:
            return self._upsert(conn, tables.initiatives, rows)

    def initiatives(self, *, source: str | None = None, limit: int | None = None) -> list[Initiative]:
        t = tables.initiatives
        q = select(t.c.data).order_by(t.c.id)
        if source is not None:
            q = q.where(t.c.source == source)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return self._load(Initiative, conn.execute(q))

    def get_initiative(self, initiative_id: str) -> Initiative:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tables.initiatives.c.data).where(tables.initiatives.c.id == initiative_id)
            ).first()
        if row is None:
            raise NotFoundError("initiative", initiative_id)
        return Initiative.model_validate(row.data)

    def delete_initiative(self, initiative_id: str) -> None:
        """Erase an initiative (its personal data goes with it); outcomes keep only its id as a label."""
        t = tables.initiatives
        with self.engine.begin() as conn:
            if conn.execute(t.delete().where(t.c.id == initiative_id)).rowcount == 0:
                raise NotFoundError("initiative", initiative_id)

    def get_initiatives(self, ids: Sequence[str]) -> dict[str, Initiative]:
        """The initiatives among ``ids`` that exist (unknown ids are absent from the result)."""
        t = tables.initiatives
        out: dict[str, Initiative] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 900):
                chunk = list(ids[start : start + 900])
                for row in conn.execute(select(t.c.data).where(t.c.id.in_(chunk))):
                    ini = Initiative.model_validate(row.data)
                    out[ini.id] = ini
        return out

    # --- outcomes (append-only) ----------------------------------------------------------------

    def append_outcomes(self, items: Sequence[Outcome]) -> int:
        """Append outcomes; an id already in the log is skipped (so re-imports add nothing).

        Returns the number of outcomes actually appended. Outcomes without an id get one derived
        from their content and time, so a retried identical request is not counted twice.
        """
        rows = []
        for o in items:
            oid = o.id or "o-" + hashlib.sha256(
                o.model_dump_json(exclude={"id"}).encode()
            ).hexdigest()[:24]
            rows.append(
                {
                    "id": oid,
                    "initiative_id": o.initiative_id,
                    "resource_id": o.resource_id,
                    "decision": o.decision.value,
                    "amount": o.amount,
                    "source": o.source,
                    "occurred_at": o.occurred_at,
                    "recorded_at": o.recorded_at,
                    "data": o.model_copy(update={"id": oid}).model_dump(mode="json"),
                }
            )
        if not rows:
            return 0
        stmt = self._insert(tables.outcomes).on_conflict_do_nothing(index_elements=["id"])
        with self.engine.begin() as conn:
            before = conn.execute(select(func.count()).select_from(tables.outcomes)).scalar_one()
            conn.execute(stmt, rows)
            after = conn.execute(select(func.count()).select_from(tables.outcomes)).scalar_one()
        return int(after - before)

    def outcomes(
        self, *, initiative_id: str | None = None, resource_id: str | None = None
    ) -> list[Outcome]:
        t = tables.outcomes
        q = select(t.c.data).order_by(t.c.seq)
        if initiative_id is not None:
            q = q.where(t.c.initiative_id == initiative_id)
        if resource_id is not None:
            q = q.where(t.c.resource_id == resource_id)
        with self.engine.connect() as conn:
            return self._load(Outcome, conn.execute(q))

    def overrides_for(self, initiative_id: str) -> dict[str, Outcome]:
        """Staff pins and exclusions for an initiative: the latest pin/exclude decision per resource
        (a later pin cancels an exclusion and the reverse)."""
        out: dict[str, Outcome] = {}
        for o in self.outcomes(initiative_id=initiative_id):
            if o.decision in (Decision.pinned, Decision.excluded):
                out[o.resource_id] = o
        return out

    def iter_outcomes(self, batch: int = 5000) -> Iterator[Outcome]:
        t = tables.outcomes
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(select(t.c.data).order_by(t.c.seq))
            for row in result:
                yield Outcome.model_validate(row.data)

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

    def outcomes_signature(self) -> str:
        """Changes whenever an outcome other than a staff pin or exclusion is appended.

        Pins and exclusions act at once through :meth:`overrides_for`; they reach the learned history
        at the next snapshot build, so recording one does not make the published snapshot stale.
        """
        t = tables.outcomes
        overrides = (Decision.pinned.value, Decision.excluded.value)
        with self.engine.connect() as conn:
            n, last = conn.execute(select(func.count(), func.max(t.c.seq)).where(t.c.decision.not_in(overrides))).one()
        return f"{n}:{last}"

    def last_change(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(tables.resources.c.updated_at))).scalar_one()
