"""Add points seasons: when each season after the first began, and who began it.

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


def downgrade() -> None:
    op.drop_table("points_seasons")
