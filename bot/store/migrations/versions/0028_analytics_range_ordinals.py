"""Analytics pages: kept ranges keyed by day ordinals, holding every member's stay.

The engagement page and the members list joined every member's stay
(``analytics_member_totals``) with the member sums kept for a range of closed days
(``analytics_range_members``, keyed by two dates: each look-up compared text, then read the
row apart from its key). A kept range now holds a row for every member with a totals row, with
their stay beside the sums, so a page reads the range's rows in key order and joins nothing per
member. The range's days are local day ordinals (``date.toordinal``, like the stays), and on
SQLite the member rows are ``WITHOUT ROWID`` (stored in key order).

Triggers keep the stays current: a member's stay changed, a member's totals row made (a new
member) or gone (a merge, an erasure) is written to the community's kept ranges in the same
transaction; a totals row moved to another member drops the community's ranges. Both tables
are caches: they are made again, empty (the next page request keeps its range again).

``analytics_member_totals`` gets an index on the last leave (with the first join): the overview
of a range reaching now counts members present and their joins and leaves per day from the
kept stays, by index, instead of folding every account's presence.

Revision ID: 0028_analytics_range_ordinals
Revises: 0027_analytics_page_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTS = ("messages", "thread_messages", "reactions")

revision = "0028_analytics_range_ordinals"
down_revision = "0027_analytics_page_indexes"
branch_labels = None
depends_on = None

_STAY = (
    "UPDATE analytics_range_members SET joined_ordinal = NEW.joined_ordinal, "
    "left_ordinal = NEW.left_ordinal "
    "WHERE community_id = NEW.community_id AND member_id = NEW.member_id;"
)
_NEW = (
    "INSERT INTO analytics_range_members (community_id, first_ordinal, last_ordinal, member_id, "
    "messages, thread_messages, reactions, joined_ordinal, left_ordinal) "
    "SELECT r.community_id, r.first_ordinal, r.last_ordinal, NEW.member_id, 0, 0, 0, "
    "NEW.joined_ordinal, NEW.left_ordinal FROM analytics_ranges r "
    "WHERE r.community_id = NEW.community_id AND NOT EXISTS (SELECT 1 FROM "
    "analytics_range_members m WHERE m.community_id = r.community_id "
    "AND m.first_ordinal = r.first_ordinal AND m.last_ordinal = r.last_ordinal "
    "AND m.member_id = NEW.member_id);"
)
_GONE = (
    "DELETE FROM analytics_range_members "
    "WHERE community_id = OLD.community_id AND member_id = OLD.member_id;"
)
_FORGET = (
    "DELETE FROM analytics_range_members WHERE community_id = {row}.community_id; "
    "DELETE FROM analytics_ranges WHERE community_id = {row}.community_id;"
)
_CHANGED = (
    "OLD.joined_ordinal IS NOT NEW.joined_ordinal OR OLD.left_ordinal IS NOT NEW.left_ordinal"
)
# (trigger, event, the SQLite condition or "", the SQLite body)
TRIGGERS = (
    ("ar_member_totals_stay", "UPDATE OF joined_ordinal, left_ordinal", _CHANGED, _STAY),
    ("ar_member_totals_insert", "INSERT", "", _NEW),
    ("ar_member_totals_delete", "DELETE", "", _GONE),
    (
        "ar_member_totals_move",
        "UPDATE OF community_id, member_id",
        "OLD.community_id IS NOT NEW.community_id OR OLD.member_id IS NOT NEW.member_id",
        _FORGET.format(row="OLD") + " " + _FORGET.format(row="NEW"),
    ),
)
_PG_KEEP = f"""
CREATE OR REPLACE FUNCTION cohort_keep_range_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_GONE}
    ELSIF TG_OP = 'INSERT' THEN
        {_NEW}
    ELSIF OLD.community_id IS DISTINCT FROM NEW.community_id
        OR OLD.member_id IS DISTINCT FROM NEW.member_id THEN
        {_FORGET.format(row="OLD")}
        {_FORGET.format(row="NEW")}
    ELSE
        {_STAY}
    END IF;
    RETURN NULL;
END
$$
"""


def _tables(first: str, last: str, kind: sa.types.TypeEngine[Any], stays: bool) -> None:
    for name, member in (("analytics_ranges", None), ("analytics_range_members", "member_id")):
        keys = ["community_id", first, last, *([member] if member else [])]
        counts = [*COUNTS, *([] if member else ["active"])]
        op.create_table(
            name,
            sa.Column("community_id", ID, nullable=False),
            sa.Column(first, kind, nullable=False),
            sa.Column(last, kind, nullable=False),
            *([sa.Column(member, ID, nullable=False)] if member else []),
            *(
                sa.Column(c, sa.Integer() if member else sa.BigInteger(), nullable=False)
                for c in counts
            ),
            *(
                [sa.Column("joined_ordinal", sa.Integer()), sa.Column("left_ordinal", sa.Integer())]
                if member and stays
                else []
            ),
            sa.ForeignKeyConstraint(
                ["community_id"],
                ["communities.id"],
                name=op.f(f"fk_{name}_community_id_communities"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{name}")),
            **({"sqlite_with_rowid": False} if member and stays else {}),
        )


def upgrade() -> None:
    """Make the kept ranges again keyed by ordinals, with stays, and the triggers keeping them."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_table("analytics_range_members")
    op.drop_table("analytics_ranges")
    _tables("first_ordinal", "last_ordinal", sa.Integer(), stays=True)
    op.create_index(
        "ix_analytics_range_members_member",
        "analytics_range_members",
        ["community_id", "member_id"],
    )
    op.create_index(
        "ix_analytics_member_totals_left",
        "analytics_member_totals",
        ["community_id", "left_ordinal", "joined_ordinal"],
    )
    if not sqlite:
        op.execute(_PG_KEEP)
    for name, when, condition, body in TRIGGERS:
        if sqlite:
            where = f" WHEN {condition}" if condition else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_totals FOR EACH ROW"
                f"{where} BEGIN {body} END"
            )
        else:
            pg = condition.replace("IS NOT", "IS DISTINCT FROM")
            where = f" WHEN ({pg})" if pg else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_totals FOR EACH ROW"
                f"{where} EXECUTE FUNCTION cohort_keep_range_stays()"
            )


def downgrade() -> None:
    """Drop the triggers; make the kept ranges keyed by dates again (empty)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, *_rest in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}"
            if sqlite
            else f"DROP TRIGGER {name} ON analytics_member_totals"
        )
    if not sqlite:
        op.execute("DROP FUNCTION cohort_keep_range_stays()")
    op.drop_index("ix_analytics_member_totals_left", table_name="analytics_member_totals")
    op.drop_table("analytics_range_members")
    op.drop_table("analytics_ranges")
    _tables("first_day", "last_day", sa.Date(), stays=False)
