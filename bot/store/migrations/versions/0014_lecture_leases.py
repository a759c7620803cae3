"""Lease lecture deliveries and native event updates to the process working on them.

Revision ID: 0014_lecture_leases
Revises: 0013
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0014_lecture_leases"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("lecture_deliveries", "lecture_native_events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
            batch.add_column(sa.Column("lease_until", WHEN, nullable=True))
    # Deliveries claimed before leases existed and never confirmed: their lease has run out,
    # so the next sweep takes them over (and skips those that are too late by then).
    op.execute("UPDATE lecture_deliveries SET lease_until = claimed_at WHERE status = 'sending'")
    op.create_index("ix_lecture_deliveries_lease", "lecture_deliveries", ["status", "lease_until"])
    op.create_table(
        "lecture_delivery_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("sent_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_delivery_messages_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["lecture_deliveries.id"],
            name=op.f("fk_lecture_delivery_messages_delivery_id_lecture_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecture_delivery_messages")),
        sa.UniqueConstraint(
            "delivery_id",
            "target",
            name=op.f("uq_lecture_delivery_messages_delivery_id_target"),
        ),
    )


def downgrade() -> None:
    op.drop_table("lecture_delivery_messages")
    op.drop_index("ix_lecture_deliveries_lease", table_name="lecture_deliveries")
    for table in ("lecture_native_events", "lecture_deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_until")
            batch.drop_column("claimed_by")
