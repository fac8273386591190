"""emails: the queue and delivery log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import omnigift.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emails",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("send_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", omnigift.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
        sa.UniqueConstraint("kind", "reference", name="uq_emails_kind_reference"),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_emails_account", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index("ix_emails_account")
        batch_op.drop_index("ix_emails_due")
    op.drop_table("emails")
