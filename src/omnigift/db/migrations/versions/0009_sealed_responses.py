"""idempotency_keys.response_sealed: the responses kept for replay are sealed at rest

The answer that issues a card carries its code, and a retry must get that answer again; kept in
plain text it put codes in the database. Rows from before stay readable (false) until the
retention purge takes them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("response_sealed", sa.Boolean(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.drop_column("response_sealed")
