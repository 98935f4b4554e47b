"""Delivery of the outbox: e-mails through SMTP (the standard library's ``smtplib`` and ``email``),
webhooks through HTTP.

**What is guaranteed, honestly.** A message is written to the outbox in the transaction that takes its
items off the waiting list, so a crash loses nothing: a rerun finds it unsent and sends it. Its
``sent_at`` is committed right after the receiving server accepted it (SMTP: the reply to the end of
DATA; HTTP: a 2xx). A crash in between — after acceptance, before that commit — sends it again on the
next run: delivery is **at least once**, and a duplicate can only come from that window. Every copy
carries the same idempotency key, the ``Message-ID`` (``<outbox id@sender domain>``) or the
``Maillage-Webhook-Id``, so a receiver that deduplicates on it (mail clients and most servers do on
``Message-ID``) sees each message **exactly once**. Nothing cheaper is possible over SMTP: the protocol
cannot say whether a message that was accepted before a crash was the one we sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from types import TracebackType

from service.alerts import webhooks
from service.alerts.links import Links
from service.alerts.store import AlertStore, OutboxRow
from service.settings import Settings

__all__ = ["Delivery", "Mailer", "deliver", "email_message", "message_id"]

log = logging.getLogger("maillage.alerts")


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "maillage.invalid"


def message_id(row: OutboxRow, sender: str) -> str:
    return f"<{row.id}@{_domain(sender)}>"


def email_message(row: OutboxRow, sender: str) -> EmailMessage:
    """The e-mail of an outbox row: plain text and HTML alternatives, the list headers, its Message-ID."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = row.recipient
    msg["Subject"] = row.payload["subject"]
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = message_id(row, sender)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a digest
    for name, value in row.payload.get("headers", {}).items():
        msg[name] = value
    msg.set_content(row.payload["text"])
    msg.add_alternative(row.payload["html"], subtype="html")
    return msg


class Mailer:
    """One SMTP session to the configured server (``MAILLAGE_SMTP_*``): implicit TLS, STARTTLS (the
    certificate checked against the system's authorities) or, for a relay on loopback, neither."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise RuntimeError("aucun serveur SMTP configuré (MAILLAGE_SMTP_HOST) : les messages restent dans la file")
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        s = self.settings
        host = s.smtp_host or ""
        context = ssl.create_default_context()
        if s.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, s.smtp_port, timeout=s.smtp_timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout_s)
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password.get_secret_value() if s.smtp_password else "")
        self._smtp = smtp
        return self

    def send(self, msg: EmailMessage) -> None:
        """Returns once the server accepted the message for every recipient (raises otherwise)."""
        assert self._smtp is not None, "use Mailer as a context manager"
        refused = self._smtp.send_message(msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except smtplib.SMTPException:
                self._smtp.close()


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # e-mails left in the outbox because no SMTP server is configured


def _send_webhook(row: OutboxRow, links: Links, settings: Settings) -> None:
    status = webhooks.post(row.recipient, row.payload["json"].encode(), key_hex=links.webhook_key(row.subscription_id),
                           webhook_id=row.id, timeout_s=settings.smtp_timeout_s)
    if not 200 <= status < 300:
        raise OSError(f"webhook answered HTTP {status}")


def deliver(alerts: AlertStore, settings: Settings, links: Links, *, limit: int | None = None) -> Delivery:
    """Send every unsent message of the outbox, oldest first, each marked sent as soon as it was accepted.
    A message that fails is counted, its error kept, and retried at the next run."""
    report = Delivery()
    rows = alerts.unsent(limit=limit)
    mails = [r for r in rows if r.channel == "email"]
    for row in (r for r in rows if r.channel == "webhook"):
        try:
            _send_webhook(row, links, settings)
        except OSError as exc:
            alerts.mark_failed(row.id, f"webhook: {exc}")
            report.failed += 1
            continue
        alerts.mark_sent(row.id)
        report.sent += 1
    if not mails:
        return report
    if not settings.smtp_host:
        report.waiting = len(mails)
        return report
    mailed = 0
    try:
        with Mailer(settings) as mailer:
            for row in mails:
                try:
                    mailer.send(email_message(row, settings.smtp_sender))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    alerts.mark_failed(row.id, f"smtp: {exc}")
                    report.failed += 1
                    continue
                alerts.mark_sent(row.id)  # right after acceptance: see the module docstring
                report.sent += 1
                mailed += 1
    except (OSError, smtplib.SMTPException) as exc:  # the server is unreachable or hung up: retry next run
        log.warning("SMTP delivery interrupted: %s", exc)
        report.failed += len(mails) - mailed
    return report
