"""Analytics totals: the community's day totals and each member's active days and stay.

Revision ID: 0023_analytics_totals
Revises: 0022_telegram_updates
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0023_analytics_totals"
down_revision = "0022_telegram_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_days",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("thread_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "day", name=op.f("pk_analytics_days")),
    )
    op.create_table(
        "analytics_member_totals",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("joined_ordinal", sa.Integer(), nullable=True),
        sa.Column("left_ordinal", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_member_totals_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_analytics_member_totals_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", name=op.f("pk_analytics_member_totals")
        ),
    )
    op.create_index(
        "ix_analytics_member_totals_last",
        "analytics_member_totals",
        ["community_id", "last_day"],
    )
    op.create_index("ix_analytics_member_totals_member", "analytics_member_totals", ["member_id"])
    op.drop_index("ix_analytics_member_days_day", table_name="analytics_member_days")
    op.create_index(
        "ix_analytics_member_days_sums",
        "analytics_member_days",
        ["community_id", "day", "member_id", "messages", "thread_messages", "reactions"],
    )
    # The totals of the days already kept. Stays are left empty: their days are in each
    # community's zone, which only the config knows; ``cohort analytics rebuild`` fills them.
    op.execute(
        "INSERT INTO analytics_days"
        " (community_id, day, messages, thread_messages, reactions, active)"
        " SELECT community_id, day, SUM(messages), SUM(thread_messages), SUM(reactions),"
        " COUNT(*) FROM analytics_member_days GROUP BY community_id, day"
    )
    op.execute(
        "INSERT INTO analytics_member_totals"
        " (community_id, member_id, first_day, last_day)"
        " SELECT community_id, member_id, MIN(day), MAX(day)"
        " FROM analytics_member_days GROUP BY community_id, member_id"
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_member_days_sums", table_name="analytics_member_days")
    op.create_index(
        "ix_analytics_member_days_day",
        "analytics_member_days",
        ["community_id", "day", "member_id"],
    )
    op.drop_index("ix_analytics_member_totals_member", table_name="analytics_member_totals")
    op.drop_index("ix_analytics_member_totals_last", table_name="analytics_member_totals")
    op.drop_table("analytics_member_totals")
    op.drop_table("analytics_days")
