"""Add votes on Q&A answers (emoji reactions), which pick where an unawarded bounty goes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_votes",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("answer_id", ID, nullable=False),
        sa.Column("voter_id", ID, nullable=False),
        sa.Column("emoji", sa.String(length=64), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["qa_answers.id"],
            name=op.f("fk_qa_votes_answer_id_qa_answers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_qa_votes_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["voter_id"],
            ["members.id"],
            name=op.f("fk_qa_votes_voter_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("answer_id", "voter_id", "emoji", name=op.f("pk_qa_votes")),
    )


def downgrade() -> None:
    op.drop_table("qa_votes")
