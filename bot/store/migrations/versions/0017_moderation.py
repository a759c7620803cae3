"""Moderation: numbered cases (with leased expiry) and the slowmode the bot enforces.

Revision ID: 0017_moderation
Revises: 0016_dashboard
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0017_moderation"
down_revision = "0016_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_cases",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("member_id", ID, nullable=True),
        sa.Column("moderator_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("until", WHEN, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("edited_at", WHEN, nullable=True),
        sa.Column("expiry", sa.String(length=16), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("appealed_at", WHEN, nullable=True),
        sa.Column("appeal_thread", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_moderation_cases_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_moderation_cases_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["members.id"],
            name=op.f("fk_moderation_cases_moderator_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_cases")),
        sa.UniqueConstraint(
            "community_id", "number", name=op.f("uq_moderation_cases_community_id_number")
        ),
    )
    op.create_index(
        "ix_moderation_cases_member",
        "moderation_cases",
        ["community_id", "member_id", "created_at"],
    )
    op.create_index("ix_moderation_cases_expiry", "moderation_cases", ["expiry", "until"])
    op.create_table(
        "moderation_slowmode",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_moderation_slowmode_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "platform", "channel_id", name=op.f("pk_moderation_slowmode")
        ),
    )


def downgrade() -> None:
    op.drop_table("moderation_slowmode")
    op.drop_index("ix_moderation_cases_expiry", table_name="moderation_cases")
    op.drop_index("ix_moderation_cases_member", table_name="moderation_cases")
    op.drop_table("moderation_cases")
