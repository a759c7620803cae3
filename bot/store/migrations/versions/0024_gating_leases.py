"""Gating access calls are claimed under a lease: one process makes each platform call.

Revision ID: 0024_gating_leases
Revises: 0023_analytics_totals
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_gating_leases"
down_revision = "0023_analytics_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added columns, not a rebuild: on SQLite a rebuilt table loses its triggers.
    op.add_column("gating_access", sa.Column("claimed_by", sa.String(length=100), nullable=True))
    op.add_column(
        "gating_access", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("gating_access") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
