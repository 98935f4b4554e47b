"""The messages of alerts, in French: a digest of new resources (plain text and HTML, each item with
its reasons, its deadline and its « pas pertinent » link), the confirmation request of a citizen's
subscription, and the JSON body of a webhook. Pure rendering: what is sent comes from the outbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from matcher.labels import KIND, french_date
from matcher.schemas import ResourceKind
from service.alerts.links import Links
from service.alerts.store import AlertItem
from service.alerts.subscriptions import FREQUENCY_LABEL, Subscription

__all__ = ["confirm_message", "deadline_text", "digest_message", "outbox_id", "webhook_body"]

_HERE = Path(__file__).parent / "templates"


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(_HERE), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["kind"] = lambda v: KIND.get(ResourceKind(v), v) if v in ResourceKind.__members__ else (v or "")
    return env


def outbox_id(subscription_id: str, channel: str, kind: str, period: str) -> str:
    """The id of a message: one per (subscription, channel, kind, period), the same if made again."""
    return hashlib.sha256(f"{subscription_id}\0{channel}\0{kind}\0{period}".encode()).hexdigest()[:32]


def deadline_text(closes_at: str | None, today: date) -> str:
    """« Clôture le 31 mars 2027 (dans 120 jours) », or that there is no closing date."""
    if not closes_at:
        return "Pas de date de clôture connue."
    day = date.fromisoformat(closes_at)
    left = (day - today).days
    when = "aujourd'hui" if left == 0 else (f"dans {left} jour{'s' if left > 1 else ''}" if left > 0 else "passée")
    return f"Clôture le {french_date(day)} ({when})."


def _unsubscribe_headers(links: Links, sub: Subscription) -> dict[str, str]:
    # RFC 8058: a one-click POST of "List-Unsubscribe=One-Click" to the https link unsubscribes.
    return {"List-Unsubscribe": f"<{links.url('unsubscribe', sub.id)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def digest_message(sub: Subscription, items: Sequence[AlertItem], links: Links, today: date) -> dict[str, Any]:
    """The outbox payload of an e-mail digest: subject, both parts, list headers."""
    shown = [{**i.data, "deadline": deadline_text(i.data.get("closes_at"), today),
              "dismiss_url": links.url("dismiss", sub.id, i.id)} for i in items]
    n = len(shown)
    context = {"sub": sub, "items": shown, "n": n, "frequency": FREQUENCY_LABEL[sub.frequency],
               "unsubscribe_url": links.url("unsubscribe", sub.id), "feed_url": links.url("feed", sub.id),
               "erase_url": links.url("erase", sub.id) if sub.owner == "citizen" else None}
    subject = (f"{n} nouvelle{'s' if n > 1 else ''} ressource{'s' if n > 1 else ''} pour « {sub.label} »")
    return {"subject": subject[:200], "text": _env().get_template("digest.txt").render(**context),
            "html": _env().get_template("digest.html").render(**context),
            "headers": _unsubscribe_headers(links, sub)}


def confirm_message(sub: Subscription, links: Links) -> dict[str, Any]:
    """The double opt-in request: nothing else is sent to a citizen before they follow its link."""
    context = {"sub": sub, "frequency": FREQUENCY_LABEL[sub.frequency], "confirm_url": links.url("confirm", sub.id),
               "erase_url": links.url("erase", sub.id)}
    return {"subject": f"Confirmez vos alertes Maillage pour « {sub.label} »"[:200],
            "text": _env().get_template("confirm.txt").render(**context),
            "html": _env().get_template("confirm.html").render(**context), "headers": {}}


def webhook_body(sub: Subscription, items: Sequence[AlertItem], message_id: str) -> dict[str, Any]:
    """The JSON a partner portal receives (its ``id`` is also the ``Maillage-Webhook-Id`` header)."""
    return {"json": json.dumps({"id": message_id, "subscription_id": sub.id, "label": sub.label,
                                "items": [{"id": i.id, **i.data} for i in items]}, ensure_ascii=False)}
