"""An Atom feed (RFC 4287) per subscription: what it was told of, newest first.

Written with the standard library's ``xml.etree.ElementTree`` rather than a feed package: an Atom feed
is a dozen elements, ElementTree escapes every text node, and one dependency fewer is one less thing
to pin and audit. The feed's address is a signed link (:mod:`service.alerts.links`): a feed reader
sends no API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from xml.etree import ElementTree as ET

from service.alerts.digest import deadline_text
from service.alerts.store import AlertItem
from service.alerts.subscriptions import Subscription

__all__ = ["ATOM", "atom_feed"]

ATOM = "http://www.w3.org/2005/Atom"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(sub: Subscription, items: Sequence[AlertItem], *, self_url: str, today: date) -> bytes:
    """The feed as UTF-8 XML. Items marked « pas pertinent » are left out."""
    ET.register_namespace("", ATOM)

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    shown = [i for i in items if i.dismissed_at is None]
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "fr"})
    add(feed, "id", f"urn:maillage:alertes:{sub.id}")
    add(feed, "title", f"Maillage — nouvelles ressources pour « {sub.label} »")
    add(feed, "updated", _stamp(max((i.detected_at for i in shown), default=sub.created_at)))
    add(feed, "link", rel="self", href=self_url)
    add(add(feed, "author"), "name", "Maillage")
    for item in shown:
        entry = add(feed, "entry")
        add(entry, "id", f"urn:maillage:alerte:{item.id}")
        add(entry, "title", item.data.get("title", item.resource_id))
        add(entry, "updated", _stamp(item.detected_at))
        if item.data.get("url"):
            add(entry, "link", href=item.data["url"])
        lines = [*item.data.get("reasons", []), deadline_text(item.data.get("closes_at"), today)]
        if item.data.get("provider"):
            lines.insert(0, item.data["provider"])
        add(entry, "summary", "\n".join(lines), type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")
