"""Analytics: messages logged and not yet folded into the rollups.

The message log's batch no longer adds its messages to the rollups in its own transaction: it
writes a row per run of consecutive message ids it wrote (``analytics_pending``), visible
exactly when its messages are, and a supervised fold adds the messages to the rollups in bulk
and deletes the row in one transaction (``bot/cogs/analytics/_fold.py``). Message ids commit in
any order on PostgreSQL, so a watermark of ids would skip a late one; a pending row cannot be
missed.

Revision ID: 0035_rollup_fold
Revises: 0034_ledger_marks
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035_rollup_fold"
down_revision = "0034_ledger_marks"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_pending",
        sa.Column("id", ID, primary_key=True),
        sa.Column("first_id", ID, nullable=False),
        sa.Column("last_id", ID, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analytics_pending")
