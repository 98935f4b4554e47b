"""The signed links of alert messages and the keys of webhooks, all from the server secret through
:class:`service.signing.Signer` (the helper the console's session cookies use).

A link carries ``{action, subscription, item}`` and its issue time, signed with HMAC-SHA256: it needs no
session and no password, and cannot be forged or turned into another action. A confirmation link is
valid for :data:`MAX_AGE_S` ``["confirm"]`` (7 days); the others for a year, the feed for as long as its
subscription lives.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from service.settings import Settings
from service.signing import Signer, server_secret

__all__ = ["MAX_AGE_S", "PATHS", "Action", "Links", "links_for"]

Action = Literal["confirm", "unsubscribe", "dismiss", "erase", "feed"]
PATHS: dict[str, str] = {"confirm": "/alertes/confirmer", "unsubscribe": "/alertes/desabonnement",
                         "dismiss": "/alertes/pas-pertinent", "erase": "/alertes/supprimer-mes-donnees",
                         "feed": "/alertes/flux.atom"}
_YEAR = 366 * 86400
MAX_AGE_S: dict[str, int | None] = {"confirm": 7 * 86400, "unsubscribe": _YEAR, "dismiss": _YEAR, "erase": _YEAR,
                                    "feed": None}


class Links:
    """Makes and reads the signed links of one service (``base_url``: its public address)."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        self._links = Signer(secret, "alert-links")
        self._webhooks = Signer(secret, "alert-webhooks")
        self.base_url = base_url.rstrip("/")

    def token(self, action: Action, subscription_id: str, item_id: str | None = None) -> str:
        data: dict[str, Any] = {"a": action, "s": subscription_id}
        if item_id is not None:
            data["i"] = item_id
        return self._links.token(data)

    def url(self, action: Action, subscription_id: str, item_id: str | None = None) -> str:
        return f"{self.base_url}{PATHS[action]}?{urlencode({'t': self.token(action, subscription_id, item_id)})}"

    def read(self, token: str | None, action: Action) -> tuple[str, str | None] | None:
        """``(subscription_id, item_id)`` of a valid link for ``action``; ``None`` otherwise."""
        data = self._links.read(token, max_age_s=MAX_AGE_S[action])
        if data is None or data.get("a") != action or not isinstance(data.get("s"), str):
            return None
        item = data.get("i")
        return data["s"], item if isinstance(item, str) else None

    def webhook_key(self, subscription_id: str) -> str:
        """The key a partner portal checks this subscription's webhooks with (hex, 64 characters): derived
        from the server secret, so it is never stored, and says nothing of the secret."""
        return self._webhooks.mac(subscription_id.encode()).hex()


def links_for(settings: Settings) -> Links:
    """The links of this service: signed with its secret, under ``MAILLAGE_PUBLIC_URL`` (or the local
    address ``maillage serve`` listens on by default, for a developer's machine)."""
    return Links(server_secret(settings), settings.public_url or "http://127.0.0.1:8000")
