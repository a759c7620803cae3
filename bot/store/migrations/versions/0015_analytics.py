"""Analytics rollups: hourly messages, member days, presence, weekly reports, suggestions.

Revision ID: 0015_analytics
Revises: 0014_lecture_leases
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0015_analytics"
down_revision = "0014_lecture_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_hours",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("hour", WHEN, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_hours_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "hour", "platform", "channel_id", name=op.f("pk_analytics_hours")
        ),
    )
    op.create_table(
        "analytics_member_days",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("thread_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_member_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_analytics_member_days_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", "day", name=op.f("pk_analytics_member_days")
        ),
    )
    op.create_index(
        "ix_analytics_member_days_day",
        "analytics_member_days",
        ["community_id", "day", "member_id"],
    )
    op.create_table(
        "analytics_presence",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("joined_at", WHEN, nullable=False),
        sa.Column("left_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_analytics_presence_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_presence_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_analytics_presence_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_analytics_presence")),
    )
    op.create_index(
        "ix_analytics_presence_joined",
        "analytics_presence",
        ["community_id", "joined_at", "left_at", "member_id", "platform"],
    )
    op.create_index("ix_analytics_presence_member", "analytics_presence", ["member_id"])
    op.create_table(
        "analytics_reports",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_reports_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "week", name=op.f("pk_analytics_reports")),
    )
    op.create_table(
        "analytics_suggestions",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("course_id", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("shown_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_suggestions_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_analytics_suggestions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", "course_id", name=op.f("pk_analytics_suggestions")
        ),
    )
    op.create_index(
        "ix_analytics_suggestions_shown", "analytics_suggestions", ["community_id", "shown_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_suggestions_shown", table_name="analytics_suggestions")
    op.drop_table("analytics_suggestions")
    op.drop_table("analytics_reports")
    op.drop_index("ix_analytics_presence_member", table_name="analytics_presence")
    op.drop_index("ix_analytics_presence_joined", table_name="analytics_presence")
    op.drop_table("analytics_presence")
    op.drop_index("ix_analytics_member_days_day", table_name="analytics_member_days")
    op.drop_table("analytics_member_days")
    op.drop_table("analytics_hours")
