"""Data rights: money rows no longer cascade from members; requests, download links, erasures,
message-day counts, the retention job's lease, and indexes for finding a member's rows.

Revision ID: 0018_privacy
Revises: 0017_moderation
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0018_privacy"
down_revision = "0017_moderation"
branch_labels = None
depends_on = None

# The money tables whose member_id cascaded a member's delete.
MONEY = ("purchases", "stripe_customers", "access_sources", "gating_audit")


def _member_fk(ondelete: str | None) -> None:
    """Recreate the money tables' member_id foreign key with ``ondelete``."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # Rebuilding access_sources drops the old table, and with foreign keys on SQLite deletes
        # its rows first, cascading to stripe_payments: keep those aside and put them back.
        op.execute("CREATE TEMP TABLE privacy_kept_payments AS SELECT * FROM stripe_payments")
    for table in MONEY:
        name = f"fk_{table}_member_id_members"
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(name, "members", ["member_id"], ["id"], ondelete=ondelete)
    if sqlite:
        op.execute(
            "INSERT INTO stripe_payments SELECT * FROM privacy_kept_payments"
            " WHERE id NOT IN (SELECT id FROM stripe_payments)"
        )
        op.execute("DROP TABLE privacy_kept_payments")


def upgrade() -> None:
    _member_fk(None)
    op.create_index("ix_points_ledger_actor", "points_ledger", ["actor_id"])
    op.create_index("ix_points_period_totals_member", "points_period_totals", ["member_id"])
    op.create_table(
        "privacy_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("requester", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("done_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_privacy_requests_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index("ix_privacy_requests_expires", "privacy_requests", ["expires_at"])
    op.create_table(
        "privacy_downloads",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_privacy_downloads_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_privacy_downloads_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_downloads")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_downloads_token_hash")),
    )
    op.create_index("ix_privacy_downloads_member", "privacy_downloads", ["member_id"])
    op.create_table(
        "privacy_erasures",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("anonymous_id", sa.BigInteger(), nullable=True),
        sa.Column("requester", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("erased_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_privacy_erasures_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_erasures")),
    )
    op.create_table(
        "message_days",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_message_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "platform", "channel_id", "day", name=op.f("pk_message_days")
        ),
    )
    op.create_table(
        "privacy_jobs",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("last_done_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_privacy_jobs_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "job", name=op.f("pk_privacy_jobs")),
    )


def downgrade() -> None:
    op.drop_table("privacy_jobs")
    op.drop_table("message_days")
    op.drop_table("privacy_erasures")
    op.drop_index("ix_privacy_downloads_member", table_name="privacy_downloads")
    op.drop_table("privacy_downloads")
    op.drop_index("ix_privacy_requests_expires", table_name="privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_index("ix_points_period_totals_member", table_name="points_period_totals")
    op.drop_index("ix_points_ledger_actor", table_name="points_ledger")
    _member_fk("CASCADE")
