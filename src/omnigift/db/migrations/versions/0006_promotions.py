"""promotions and their applications; refunds from returns

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import omnigift.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=4), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("reward", sa.JSON(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("spent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "budget IS NULL OR spent <= budget", name=op.f("ck_promotions_within_budget")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index("ix_promotions_trigger", ["trigger", "active"], unique=False)
    op.create_table(
        "promotion_applications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("promotion_id", sa.String(length=40), nullable=False),
        sa.Column("trigger_reference", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_applications_promotion_id_promotions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_applications")),
        sa.UniqueConstraint(
            "promotion_id", "trigger_reference", name="uq_promotion_applications_once"
        ),
    )
    with op.batch_alter_table("promotion_applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promotion_applications_customer", ["promotion_id", "customer_id"], unique=False
        )

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("return_id", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=4), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("return_id", name=op.f("uq_refunds_return_id")),
    )


def downgrade() -> None:
    op.drop_table("refunds")
    with op.batch_alter_table("promotion_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_promotion_applications_customer")
    op.drop_table("promotion_applications")
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_index("ix_promotions_trigger")
    op.drop_table("promotions")
