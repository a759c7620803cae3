"""Analytics: closed weeks' member activity kept for the retention page.

The retention page read every cohort member's days since the first cohort's week (186,000
rows for 12 weeks at the issue's full size) and made their distinct member-weeks per request.
Days before today no longer change but by rare events, so each week's activity on them is
kept (``analytics_weeks``): per community and week, the members active on its kept days as a
bit set, the last day kept (the week's Sunday; yesterday for the current week, extended the
next day) and the community's day totals over the kept days as they were then, made by the
first request that needs the week. A week is used while its day totals still add up to those
kept (a late message or reaction on one of its days changes them in its own transaction). A
merge, an erasure or a rebuild moves or deletes member-day rows without changing the day
totals: triggers on ``analytics_member_days`` (``UPDATE OF community_id, member_id, day`` and
``DELETE``, never fired by the message path, which only adds to counts and inserts) drop the
row's week, and the next request makes it again. The table is a cache: it starts empty.

Revision ID: 0030_analytics_weeks
Revises: 0029_analytics_steady_totals
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0030_analytics_weeks"
down_revision = "0029_analytics_steady_totals"
branch_labels = None
depends_on = None

# A date column as a day number (``date.toordinal``: 0001-01-01, a Monday, is 1).
_SQLITE_ORDINAL = "CAST(julianday({day}) - 1721424.5 AS INTEGER)"
_PG_ORDINAL = "(({day}) - DATE '1970-01-01' + 719163)"


def _monday(ordinal: str) -> str:
    return f"({ordinal} - ({ordinal} - 1) % 7)"


def _drop_week(row: str, ordinal: str) -> str:
    monday = _monday(ordinal.format(day=f"{row}.day"))
    return (
        f"DELETE FROM analytics_weeks WHERE community_id = {row}.community_id "
        f"AND week_ordinal = {monday};"
    )


# (trigger, event, the rows whose weeks go)
TRIGGERS = (
    ("aw_member_days_update", "UPDATE OF community_id, member_id, day", ("OLD", "NEW")),
    ("aw_member_days_delete", "DELETE", ("OLD",)),
)
_PG_DROP = f"""
CREATE OR REPLACE FUNCTION cohort_drop_analytics_weeks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_drop_week("OLD", _PG_ORDINAL)}
    IF TG_OP = 'UPDATE' THEN
        {_drop_week("NEW", _PG_ORDINAL)}
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    """Make the kept weeks' table (empty) and the triggers dropping a week."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "analytics_weeks",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("week_ordinal", sa.Integer(), nullable=False),
        sa.Column("last_ordinal", sa.Integer(), nullable=False),
        *(
            sa.Column(c, sa.BigInteger(), nullable=False)
            for c in ("messages", "thread_messages", "reactions", "active")
        ),
        sa.Column("members", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_analytics_weeks_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "week_ordinal", name=op.f("pk_analytics_weeks")),
    )
    if not sqlite:
        op.execute(_PG_DROP)
    for name, when, rows in TRIGGERS:
        if sqlite:
            body = " ".join(_drop_week(row, _SQLITE_ORDINAL) for row in rows)
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_days FOR EACH ROW "
                f"BEGIN {body} END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_days FOR EACH ROW "
                "EXECUTE FUNCTION cohort_drop_analytics_weeks()"
            )


def downgrade() -> None:
    """Drop the triggers and the kept weeks."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _when, _rows in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}"
            if sqlite
            else f"DROP TRIGGER {name} ON analytics_member_days"
        )
    if not sqlite:
        op.execute("DROP FUNCTION cohort_drop_analytics_weeks()")
    op.drop_table("analytics_weeks")
