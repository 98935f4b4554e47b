"""Signed session cookies and CSRF tokens for the staff console.

A session cookie holds ``{key id, CSRF token, expiry}`` as base64url JSON followed by its HMAC-SHA256
under the server secret; nothing secret is in it, and a changed byte invalidates it. The key it names
is looked up on every request, so revoking a key ends its sessions at once. Forms carry the session's
CSRF token; the cookie is HttpOnly and SameSite=Strict, so another site can neither read nor send it.
Signing out ends the session on the server too (``KeyStore.end_session``): the cookie, even kept,
no longer signs anyone in, in any worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from service.settings import Settings

__all__ = ["COOKIE", "SIGNIN_COOKIE", "Session", "Sessions", "same_token", "server_secret"]

COOKIE = "maillage_session"
SIGNIN_COOKIE = "maillage_signin"  # a pre-session CSRF token for the sign-in form itself


def server_secret(settings: Settings) -> bytes:
    """``MAILLAGE_SECRET_KEY`` when set; else a random secret generated once under the home folder
    (mode 600) and shared by every worker. Never logged."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.home) / "secret_key"
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another worker got there first: then everyone uses its secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    value = path.read_text().strip()
    if len(value) < 32:
        raise ValueError(f"{path} holds a secret shorter than 32 characters: delete it to generate a new one")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens; ``False`` when either is missing or empty."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass(frozen=True)
class Session:
    key_id: str
    csrf: str
    expires: int  # Unix time, seconds

    @property
    def id(self) -> str:
        """A stable id of this session (its CSRF token is random and unique to it), for ending it."""
        return hashlib.sha256(b"maillage-session-id\0" + self.csrf.encode()).hexdigest()


class Sessions:
    """Issues and reads signed session cookies (see the module docstring)."""

    def __init__(self, secret: bytes, *, max_age_s: int = 8 * 3600) -> None:
        if len(secret) < 32:
            raise ValueError(f"the session secret must be at least 32 bytes, got {len(secret)}")
        self._secret = hashlib.sha256(b"maillage-console-session\0" + secret).digest()
        self.max_age_s = max_age_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, key_id: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session for ``key_id``: the cookie value and what it holds."""
        session = Session(key_id, secrets.token_urlsafe(24), int((now or time.time()) + self.max_age_s))
        payload = _b64(json.dumps({"k": session.key_id, "c": session.csrf, "e": session.expires}).encode())
        return f"{payload}.{self._sign(payload)}", session

    def read(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or ``None`` if it is absent, tampered with or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["k"]), str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()):
            return None
        return session
