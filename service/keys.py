"""API keys: stored hashed, each with a role; partner keys are publishable and bound to origins.

A key reads ``mk_<role>_<id>_<secret>``: the id finds the row, the secret is checked against its
SHA-256 in constant time. The secret is shown once, at creation. Keys are 256-bit random strings, so
a plain SHA-256 is enough (a slow password hash protects guessable secrets, which these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from matcher import tables
from matcher.schemas import utcnow
from matcher.store import Catalogue, NotFoundError

__all__ = ["ApiKey", "KeySpecError", "KeyStore", "Role", "normalise_origin"]


class Role(StrEnum):
    admin = "admin"          # everything, including index swaps and model promotion
    staff = "staff"          # the catalogue, outcomes, matches with personal data
    read_only = "read-only"  # reads and matches, no writes
    partner = "partner"      # publishable: the widget's endpoints only, from its allowed origins


class KeySpecError(ValueError):
    """A key that cannot be created as asked (bad role, bad origin)."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    origins: tuple[str, ...] = field(default_factory=tuple)
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def normalise_origin(origin: str) -> str:
    """``https://Example.org/`` → ``https://example.org``; raises :class:`KeySpecError` for anything but
    an http(s) origin (scheme, host and optional port, no path)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise KeySpecError(f"origin must look like https://portail.example.fr (scheme and host only), got {origin!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """API keys in the catalogue's database (table ``api_keys``)."""

    def __init__(self, store: Catalogue) -> None:
        self.engine = store.engine

    def create(self, name: str, role: Role | str, origins: list[str] | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns it and the full token (shown once, never stored)."""
        try:
            role = Role(role)
        except ValueError:
            raise KeySpecError(f"unknown role {role!r}: expected one of {', '.join(r.value for r in Role)}") from None
        clean = sorted({normalise_origin(o) for o in origins or []})
        if role is Role.partner and not clean:
            raise KeySpecError("a partner key needs at least one allowed origin (--origin https://…)")
        if role is not Role.partner and clean:
            raise KeySpecError("only partner keys are bound to origins")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = f"mk_{role.value.replace('-', '')}_{key_id}_{secret}"
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(tables.api_keys.insert().values(
                id=key_id, name=name[:200], role=role.value, secret_hash=_hash(secret), origins=clean, created_at=now,
            ))
        return ApiKey(key_id, name[:200], role, tuple(clean), now, None), token

    def list(self) -> list[ApiKey]:
        t = tables.api_keys
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at)).all()
        return [self._key(r) for r in rows]

    def revoke(self, key_id: str) -> None:
        t = tables.api_keys
        with self.engine.begin() as conn:
            done = conn.execute(update(t).where(t.c.id == key_id, t.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
        if done.rowcount == 0:
            raise NotFoundError("active API key", key_id)

    def active_origins(self) -> set[str]:
        """The origins of every active partner key: what CORS may answer, read afresh (the table is tiny),
        so a revoked key's origin is dropped at once in every worker."""
        t = tables.api_keys
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.origins).where(t.c.revoked_at.is_(None))).all()
        return {str(o) for (origins,) in rows for o in (origins or [])}

    def end_session(self, session_id: str, expires_at: datetime) -> None:
        """Record that the console session ``session_id`` was ended (signed out) before ``expires_at``;
        sessions ended and expired since are forgotten. Idempotent."""
        t = tables.ended_sessions
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.expires_at < utcnow()))
            if conn.execute(select(t.c.id).where(t.c.id == session_id)).first() is None:
                conn.execute(insert(t).values(id=session_id, expires_at=expires_at))

    def session_ended(self, session_id: str) -> bool:
        t = tables.ended_sessions
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.id).where(t.c.id == session_id)).first() is not None

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key this token names, or ``None`` (malformed, unknown, wrong secret, revoked)."""
        parts = token.strip().split("_", 3)
        if len(parts) != 4 or parts[0] != "mk":
            return None
        _, _, key_id, secret = parts
        t = tables.api_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == key_id)).first()
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)) or row.revoked_at is not None:
            return None
        return self._key(row)

    @staticmethod
    def _key(row: object) -> ApiKey:
        return ApiKey(row.id, row.name, Role(row.role), tuple(row.origins or ()),  # type: ignore[attr-defined]
                      row.created_at, row.revoked_at)  # type: ignore[attr-defined]
