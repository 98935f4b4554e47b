"""Signed session cookies and CSRF tokens for the staff console.

A session cookie holds ``{key id, CSRF token, expiry}`` as base64url JSON followed by its HMAC-SHA256
under the server secret; nothing secret is in it, and a changed byte invalidates it. The key it names
is looked up on every request, so revoking a key ends its sessions at once. Forms carry the session's
CSRF token; the cookie is HttpOnly and SameSite=Strict, so another site can neither read nor send it.
The signing is :class:`service.signing.Signer`'s, shared with the alerts' links. Signing out ends
the session on the server too (``KeyStore.end_session``): the cookie, even kept, no longer signs
anyone in, in any worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from service.signing import Signer, b64, server_secret, unb64

__all__ = ["COOKIE", "SIGNIN_COOKIE", "Session", "Sessions", "same_token", "server_secret"]

COOKIE = "maillage_session"
SIGNIN_COOKIE = "maillage_signin"  # a pre-session CSRF token for the sign-in form itself


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
        self._signer = Signer(secret, "console-session")
        self.max_age_s = max_age_s

    def _sign(self, payload: str) -> str:
        return self._signer.sign(payload)

    def issue(self, key_id: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session for ``key_id``: the cookie value and what it holds."""
        session = Session(key_id, secrets.token_urlsafe(24), int((now or time.time()) + self.max_age_s))
        payload = b64(json.dumps({"k": session.key_id, "c": session.csrf, "e": session.expires}).encode())
        return f"{payload}.{self._sign(payload)}", session

    def read(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or ``None`` if it is absent, tampered with or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not self._signer.valid(payload, signature):
            return None
        try:
            data = json.loads(unb64(payload))
            session = Session(str(data["k"]), str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()):
            return None
        return session
