"""One signing helper for everything the service hands out and reads back: console session cookies,
the links of alert e-mails (confirm, unsubscribe, « pas pertinent », « supprimer mes données », feeds)
and the signatures of webhooks.

Each use derives its own key from the server secret (:func:`server_secret`) with a
purpose string, so a value signed for one use is worthless for another (a session cookie is no
unsubscribe token). Signatures are HMAC-SHA256, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from service.settings import Settings

__all__ = ["Signer", "b64", "server_secret", "unb64"]


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


def b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 under a key derived from ``secret`` for one ``purpose``.

    :meth:`token` / :meth:`read` sign a small JSON payload stamped with its issue time (Unix seconds,
    ``"t"``): ``base64url(json).base64url(mac)``; :meth:`read` refuses a tampered, malformed or
    expired token by returning ``None``."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        if len(secret) < 32:
            raise ValueError(f"the server secret must be at least 32 bytes, got {len(secret)}")
        self.key = hashlib.sha256(f"maillage-{purpose}\0".encode() + secret).digest()

    def mac(self, data: bytes) -> bytes:
        return hmac.new(self.key, data, hashlib.sha256).digest()

    def sign(self, payload: str) -> str:
        """The signature of ``payload`` as base64url."""
        return b64(self.mac(payload.encode()))

    def valid(self, payload: str, signature: str) -> bool:
        return hmac.compare_digest(signature, self.sign(payload))

    def token(self, data: dict[str, Any], *, now: float | None = None) -> str:
        """A signed, timestamped token holding ``data`` (JSON-serialisable, no key ``"t"``)."""
        payload = b64(json.dumps({**data, "t": int(now if now is not None else time.time())},
                                 separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self.sign(payload)}"

    def read(self, token: str | None, *, max_age_s: float | None, now: float | None = None) -> dict[str, Any] | None:
        """The data of a token signed by :meth:`token`, or ``None`` (absent, tampered, malformed, or older
        than ``max_age_s``; ``None`` for no expiry)."""
        if not token or token.count(".") != 1 or len(token) > 2000:
            return None
        payload, signature = token.split(".")
        if not self.valid(payload, signature):
            return None
        try:
            data = json.loads(unb64(payload))
            issued = int(data["t"])
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(data, dict):
            return None
        if max_age_s is not None and issued + max_age_s < (now if now is not None else time.time()):
            return None
        return data
