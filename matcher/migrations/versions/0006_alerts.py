"""Alerts: subscriptions, what each was told of, the outbox of messages, the detection watermark.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(10), nullable=False),
        sa.Column("initiative_id", sa.String(128), nullable=True),
        sa.Column("query", sa.JSON, nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_alert_subscriptions_initiative", "alert_subscriptions", ["initiative_id"])
    op.create_table(
        "alert_items",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_id", sa.String(64), nullable=True),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_alert_items_subscription", "alert_items", ["subscription_id", "dedupe_key"], unique=True)
    op.create_index("ix_alert_items_outbox", "alert_items", ["outbox_id"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(500), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_index("ix_alert_outbox_period", "alert_outbox", ["subscription_id", "channel", "kind", "period"],
                    unique=True)
    op.create_index("ix_alert_outbox_sent", "alert_outbox", ["sent_at"])
    op.create_table(
        "alert_state",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
    op.drop_table("alert_outbox")
    op.drop_table("alert_items")
    op.drop_table("alert_subscriptions")
