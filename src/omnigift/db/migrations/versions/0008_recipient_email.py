"""gift_cards.recipient_email: find a person's cards by e-mail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gift_cards", sa.Column("recipient_email", sa.String(length=320), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE gift_cards SET recipient_email = lower(recipient::json->>'email') "
            "WHERE recipient IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE gift_cards SET recipient_email = lower(json_extract(recipient, '$.email')) "
            "WHERE recipient IS NOT NULL"
        )
    op.create_index(
        "ix_gift_cards_recipient_email", "gift_cards", ["recipient_email"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gift_cards_recipient_email", table_name="gift_cards")
    op.drop_column("gift_cards", "recipient_email")
