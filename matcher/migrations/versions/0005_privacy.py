"""The audit log of staff actions (issue 19): ids, roles and counts, never a text.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("target_kind", sa.String(20), nullable=True),
        sa.Column("target_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_target", "audit_log", ["target_id"])
    op.create_index("ix_audit_action", "audit_log", ["action"])


def downgrade() -> None:
    op.drop_index("ix_audit_action", "audit_log")
    op.drop_index("ix_audit_target", "audit_log")
    op.drop_table("audit_log")
