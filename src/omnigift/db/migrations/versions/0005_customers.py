"""customers and their store credit wallets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import omnigift.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE_EMAIL = sa.text("merged_into IS NULL AND email IS NOT NULL")
LIVE_PHONE = sa.text("merged_into IS NULL AND phone IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("external_ids", sa.JSON(), nullable=False),
        sa.Column("consents", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_merged_into", ["merged_into"], unique=False)
        batch_op.create_index(
            "uq_customers_live_email",
            ["email"],
            unique=True,
            sqlite_where=LIVE_EMAIL,
            postgresql_where=LIVE_EMAIL,
        )
        batch_op.create_index(
            "uq_customers_live_phone",
            ["phone"],
            unique=True,
            sqlite_where=LIVE_PHONE,
            postgresql_where=LIVE_PHONE,
        )
    op.create_table(
        "store_credit_wallets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=4), nullable=False),
        sa.Column("created_at", omnigift.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"],
            ["accounts.id"],
            name=op.f("fk_store_credit_wallets_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_store_credit_wallets_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_wallets")),
        sa.UniqueConstraint(
            "customer_id", "currency", name="uq_store_credit_wallets_customer_currency"
        ),
    )


def downgrade() -> None:
    op.drop_table("store_credit_wallets")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("uq_customers_live_phone")
        batch_op.drop_index("uq_customers_live_email")
        batch_op.drop_index("ix_customers_merged_into")
    op.drop_table("customers")
