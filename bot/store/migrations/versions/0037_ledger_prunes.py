"""Revenue ledger: the deletion log is pruned, and the highest mark pruned is kept.

Migration ``0036_ledger_deletions`` logs each row deleted from ``access_sources``,
``stripe_payments`` and ``purchases`` so that a kept ledger drops it without a whole read; the
log was never pruned. Now the analytics keeper's supervised pass (``analytics.ledgers``,
``bot/cogs/analytics/_prune.py``) notes when it first saw each logged row (``noted_at``: the
process's clock, so a test moves it) and deletes the rows noted longer ago than ``[work]
ledger_deletions_kept``, one process at a time.

``ledger_pruned`` keeps, per community and table, the highest mark of a logged row pruned: a kept
ledger whose next read starts at or below it (a process asleep for longer than the horizon) may
have missed a deletion, and reads its whole ledger again instead of applying the log. On SQLite
a table's rows and its deletions share one numbering (0036), so each community's and table's
newest logged row is never pruned: the next mark stays above every mark handed out.

Revision ID: 0037_ledger_prunes
Revises: 0036_ledger_deletions
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037_ledger_prunes"
down_revision = "0036_ledger_deletions"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "ledger_deletions", sa.Column("noted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "ledger_pruned",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("tbl", sa.String(16), nullable=False),
        sa.Column("ledger_mark", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "tbl"),
    )


def downgrade() -> None:
    op.drop_table("ledger_pruned")
    op.drop_column("ledger_deletions", "noted_at")
