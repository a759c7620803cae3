"""Add points seasons, each member's level, and the outbox of level changes to announce.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "points_seasons",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_points_seasons_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["members.id"],
            name=op.f("fk_points_seasons_started_by_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("community_id", "number", name=op.f("pk_points_seasons")),
    )
    with op.batch_alter_table("points_balances") as batch:
        batch.add_column(sa.Column("level", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "points_level_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("level_from", sa.Integer(), nullable=False),
        sa.Column("level_to", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_points_level_changes_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_points_level_changes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_level_changes")),
    )
    op.create_index("ix_points_level_changes_pending", "points_level_changes", ["handled_at", "id"])
    op.create_table(
        "points_invites",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("space_id", sa.String(length=64), nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_points_invites_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_points_invites_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_invites")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "link",
            name=op.f("uq_points_invites_community_id_platform_link"),
        ),
    )
    op.create_index("ix_points_invites_member", "points_invites", ["member_id", "platform"])
    op.create_table(
        "points_referrals",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("referred_id", ID, nullable=False),
        sa.Column("inviter_id", ID, nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_points_referrals_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referred_id"],
            ["members.id"],
            name=op.f("fk_points_referrals_referred_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["members.id"],
            name=op.f("fk_points_referrals_inviter_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "referred_id", name=op.f("pk_points_referrals")),
    )
    op.create_index("ix_points_referrals_inviter", "points_referrals", ["inviter_id"])


def downgrade() -> None:
    op.drop_table("points_referrals")
    op.drop_table("points_invites")
    op.drop_table("points_level_changes")
    with op.batch_alter_table("points_balances") as batch:
        batch.drop_column("level")
    op.drop_table("points_seasons")
