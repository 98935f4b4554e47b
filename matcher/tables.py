"""Relational layout of the catalogue (SQLAlchemy Core).

Each record is kept whole as JSON in ``data`` (the validated pydantic model, so new optional fields
need no migration), beside the columns that queries filter or sort on. The Alembic migrations in
``matcher/migrations`` create exactly these tables; a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

__all__ = ["alert_items", "alert_outbox", "alert_state", "alert_subscriptions", "api_keys", "audit_log",
           "ended_sessions", "initiatives", "metadata", "outcomes", "providers", "resources"]

metadata = MetaData()

providers = Table(
    "providers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("source", String(80), nullable=False),
    Column("data", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("provider_id", String(128), nullable=False),
    Column("title", String(300), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("closes_at", Date, nullable=True),
    Column("source", String(80), nullable=False),
    Column("data", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Soft deletion: a deleted resource keeps its row (outcomes still point at it) but is never served.
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # Set by the store on every write (upsert or delete): the service's workers poll it to follow the catalogue.
    Column("changed_at", DateTime(timezone=True), nullable=True),
    Index("ix_resources_provider", "provider_id"),
    Index("ix_resources_changed", "changed_at"),
    Index("ix_resources_active", "active", "deleted_at"),
)

initiatives = Table(
    "initiatives",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("territory", String(8), nullable=False),
    Column("source", String(80), nullable=False),
    Column("data", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_initiatives_source", "source"),
)

outcomes = Table(
    "outcomes",
    metadata,
    # Append-only log: ``seq`` orders it; ``id`` is unique so re-imported history is not duplicated.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("initiative_id", String(128), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("amount", Float, nullable=True),
    Column("source", String(80), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_outcomes_initiative", "initiative_id"),
    Index("ix_outcomes_resource", "resource_id"),
)


api_keys = Table(
    "api_keys",
    metadata,
    # Only a SHA-256 of the secret is kept: keys are 256-bit random, so a slow hash adds nothing.
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("origins", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Console sessions ended by their user before they expire (sign-out): a signed session cookie is
# otherwise valid until its expiry, in every worker. Rows past ``expires_at`` are useless and purged.
ended_sessions = Table(
    "ended_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the session's CSRF token, unique per session
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Staff actions (who pinned, excluded, exported, deleted, imported, ran retention): ids, roles and
# counts only, never a text. The target of an erased initiative is replaced by its pseudonym.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(40), nullable=False),
    Column("principal", String(200), nullable=False),  # "key:<id> <name>", "cli", "citizen", "system"
    Column("role", String(20), nullable=True),
    Column("target_kind", String(20), nullable=True),
    Column("target_id", String(128), nullable=True),
    Column("detail", JSON, nullable=False),  # counts and machine codes, never free text
    Index("ix_audit_target", "target_id"),
    Index("ix_audit_action", "action"),
)

# Alerts (issue 20; the service's ``service.alerts`` owns them). A subscription follows an initiative or
# a saved search (``query``, a MatchQuery's fields); ``status`` is ``pending`` until a citizen confirms by
# e-mail (double opt-in), ``active`` after. Deleting one deletes its items and unsent outbox rows.
alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(10), nullable=False),  # staff | citizen
    Column("initiative_id", String(128), nullable=True),
    Column("query", JSON, nullable=True),  # a saved search; null when following an initiative
    Column("email", String(254), nullable=True),
    Column("webhook_url", String(500), nullable=True),
    Column("frequency", String(10), nullable=False),  # immediate | weekly | monthly
    Column("status", String(10), nullable=False),  # pending | active
    Column("label", String(200), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Index("ix_alert_subscriptions_initiative", "initiative_id"),
)

# What a subscription was told of (or is about to be): one row per (subscription, resource session), so
# nothing is announced twice; ``outbox_id`` is null while the item waits for its digest.
alert_items = Table(
    "alert_items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscription_id", String(40), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("data", JSON, nullable=False),  # title, provider, reasons, deadline, score, relevance
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("outbox_id", String(64), nullable=True),
    Column("dismissed_at", DateTime(timezone=True), nullable=True),
    Index("ix_alert_items_subscription", "subscription_id", "dedupe_key", unique=True),
    Index("ix_alert_items_outbox", "outbox_id"),
)

# Messages to send (digests, confirmation requests, webhooks), written in the transaction that assigns
# their items; ``sent_at`` is committed right after the receiving server accepted the message.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", String(64), primary_key=True),  # also the Message-ID / webhook id: the idempotency key
    Column("subscription_id", String(40), nullable=False),
    Column("channel", String(10), nullable=False),  # email | webhook
    Column("kind", String(10), nullable=False),  # digest | confirm
    Column("period", String(40), nullable=False),  # 2026-W49, 2026-12, or the immediate batch's stamp
    Column("recipient", String(500), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500), nullable=True),
    Index("ix_alert_outbox_period", "subscription_id", "channel", "kind", "period", unique=True),
    Index("ix_alert_outbox_sent", "sent_at"),
)

# Small named values of the alert runs (the watermark of resource changes already detected).
alert_state = Table(
    "alert_state",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)
