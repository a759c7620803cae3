"""Add the points ledger, balances and per-period totals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "points_ledger",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("points_ledger", "community_id", "communities"),
        _fk("points_ledger", "member_id", "members"),
        _fk("points_ledger", "actor_id", "members", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint(
            "community_id",
            "reason",
            "source_ref",
            name=op.f("uq_points_ledger_community_id_reason_source_ref"),
        ),
    )
    op.create_index("ix_points_ledger_member_time", "points_ledger", ["member_id", "created_at"])
    op.create_table(
        "points_balances",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("last_message_award_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_digest", sa.String(length=64), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        _fk("points_balances", "community_id", "communities"),
        _fk("points_balances", "member_id", "members"),
        sa.PrimaryKeyConstraint("community_id", "member_id", name=op.f("pk_points_balances")),
    )
    op.create_index("ix_points_balances_rank", "points_balances", ["community_id", "balance"])
    op.create_table(
        "points_period_totals",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        _fk("points_period_totals", "community_id", "communities"),
        _fk("points_period_totals", "member_id", "members"),
        sa.PrimaryKeyConstraint(
            "community_id", "period", "member_id", name=op.f("pk_points_period_totals")
        ),
    )
    op.create_index(
        "ix_points_period_rank", "points_period_totals", ["community_id", "period", "total"]
    )


def downgrade() -> None:
    op.drop_table("points_period_totals")
    op.drop_table("points_balances")
    op.drop_table("points_ledger")
