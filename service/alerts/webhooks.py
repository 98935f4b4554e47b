"""Webhooks for partner portals: a digest as JSON, POSTed and signed.

Headers: ``Maillage-Webhook-Id`` (the outbox id: the idempotency key, the same on every retry),
``Maillage-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under the subscription's
webhook key (:meth:`service.alerts.links.Links.webhook_key`, shown once to staff when the subscription is
made). A receiver recomputes the HMAC, compares in constant time, and refuses a ``t`` older than a few
minutes (:func:`verify`, what a receiver does, is the reference). Any 2xx answer counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.request

__all__ = ["TOLERANCE_S", "post", "signature", "verify"]

TOLERANCE_S = 300


def signature(key_hex: str, body: bytes, *, now: float | None = None) -> str:
    t = int(now if now is not None else time.time())
    mac = hmac.new(bytes.fromhex(key_hex), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(key_hex: str, body: bytes, header: str, *, now: float | None = None, tolerance_s: int = TOLERANCE_S) -> bool:
    """Whether ``header`` signs ``body`` under ``key_hex`` and is recent enough."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - t) > tolerance_s:
        return False
    expected = hmac.new(bytes.fromhex(key_hex), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def post(url: str, body: bytes, *, key_hex: str, webhook_id: str, timeout_s: float) -> int:
    """POST ``body`` (JSON) to ``url``; the HTTP status (raises ``OSError`` when unreachable)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "Maillage-alertes/1",
        "Maillage-Webhook-Id": webhook_id, "Maillage-Signature": signature(key_hex, body)})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return int(response.status)
