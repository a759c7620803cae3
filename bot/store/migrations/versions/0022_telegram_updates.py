"""Telegram webhook claims: an update is handled by one process, however often it arrives.

Revision ID: 0022_telegram_updates
Revises: 0020_cache_versions
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

WHEN = sa.DateTime(timezone=True)

revision = "0022_telegram_updates"
down_revision = "0021_recommend_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telegram_updates",
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("lease_until", WHEN, nullable=False),
        sa.Column("handled_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_telegram_updates")),
    )
    op.create_index("ix_telegram_updates_received", "telegram_updates", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_telegram_updates_received", table_name="telegram_updates")
    op.drop_table("telegram_updates")
