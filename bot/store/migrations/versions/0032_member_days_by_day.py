"""Analytics: member days keyed by day first, and no index holding the counts.

Every message adds to its member-day row's ``messages``. The covering index
``ix_analytics_member_days_sums`` (community, day, member and the three counts) held that
column, so each message moved the row's entry in it: one more B-tree changed per message and
one more page written by each commit (docs/design-notes.md, Analytics). The member days are
now keyed by (community, day, member), so the rows of a range of days are the key's own range,
read in order with their counts as the covering index read them, and the only other index,
(community, member, day) for a member's days, holds no count: a message's update changes one
row and no index. On SQLite the table is ``WITHOUT ROWID`` (stored in key order, no separate
key index); it is made again and filled, and the triggers on it (``0025_analytics_pages``,
``0030_analytics_weeks``) are made again as they were. On PostgreSQL the primary key is made
again in the new order.

Revision ID: 0032_member_days_by_day
Revises: 0031_member_search
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0032_member_days_by_day"
down_revision = "0031_member_search"
branch_labels = None
depends_on = None

TABLE = "analytics_member_days"
COLUMNS = "community_id, member_id, day, messages, thread_messages, reactions"
BY_DAY = ("community_id", "day", "member_id")
BY_MEMBER = ("community_id", "member_id", "day")
SUMS = ("community_id", "day", "member_id", "messages", "thread_messages", "reactions")


def _remake_on_sqlite(keys: tuple[str, ...], *, with_rowid: bool) -> None:
    """Make the SQLite table again with primary key ``keys``, its rows and its triggers."""
    op.create_table(
        f"{TABLE}_new",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("thread_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f(f"fk_{TABLE}_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f(f"fk_{TABLE}_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{TABLE}")),
        sqlite_with_rowid=with_rowid,
    )
    # SQLite drops a table's triggers with it: those of earlier migrations (0025's and 0030's:
    # rows that move to another member or day, or go, drop the kept ranges and weeks) are read
    # here and made again on the new table as they were.
    triggers = (
        op.get_bind()
        .execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": TABLE},
        )
        .scalars()
        .all()
    )
    op.execute(
        f"INSERT INTO {TABLE}_new ({COLUMNS}) SELECT {COLUMNS} FROM {TABLE}"
        f" ORDER BY {', '.join(keys)}"
    )
    op.drop_table(TABLE)  # its indexes and triggers with it
    op.rename_table(f"{TABLE}_new", TABLE)
    for sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    """Key the member days by day first; index them by member without their counts."""
    if op.get_bind().dialect.name == "sqlite":
        _remake_on_sqlite(BY_DAY, with_rowid=False)
    else:
        op.drop_index("ix_analytics_member_days_sums", table_name=TABLE)
        op.drop_constraint(f"pk_{TABLE}", TABLE, type_="primary")
        op.create_primary_key(f"pk_{TABLE}", TABLE, list(BY_DAY))
    op.create_index("ix_analytics_member_days_member", TABLE, list(BY_MEMBER))


def downgrade() -> None:
    """Key the member days by member again, with the covering index of their sums."""
    op.drop_index("ix_analytics_member_days_member", table_name=TABLE)
    if op.get_bind().dialect.name == "sqlite":
        _remake_on_sqlite(BY_MEMBER, with_rowid=True)
    else:
        op.drop_constraint(f"pk_{TABLE}", TABLE, type_="primary")
        op.create_primary_key(f"pk_{TABLE}", TABLE, list(BY_MEMBER))
    op.create_index("ix_analytics_member_days_sums", TABLE, list(SUMS))
