"""Sign-in links and sessions of the organizers' web dashboard (only token hashes are kept).

Revision ID: 0016_dashboard
Revises: 0015_analytics
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0016_dashboard"
down_revision = "0015_analytics"
branch_labels = None
depends_on = None


def _owner_columns(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f(f"fk_{table}_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f(f"fk_{table}_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("token_hash", name=op.f(f"uq_{table}_token_hash")),
    ]


def upgrade() -> None:
    op.create_table(
        "dashboard_links",
        *_owner_columns("dashboard_links"),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
    )
    op.create_index("ix_dashboard_links_expires", "dashboard_links", ["expires_at"])
    op.create_table(
        "dashboard_sessions",
        *_owner_columns("dashboard_sessions"),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )
    op.create_index("ix_dashboard_sessions_expires", "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_expires", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_index("ix_dashboard_links_expires", table_name="dashboard_links")
    op.drop_table("dashboard_links")
