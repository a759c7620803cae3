"""Analytics pages: each kept member's total over the closed days, when present all the range.

A member present every day of a range reaching today (joined by its first day, not gone)
scores their I + D + C over it divided by the range's days; for most members that sum is the
kept range's messages and reactions alone (no days today, no Q&A answers, lectures nor kudos
in the range). ``analytics_range_members.steady_total`` keeps it (messages + reactions) for
those members, -1 for members never present in the range (gone before its first day, or no
stay) and NULL for members present part of it, with an index ordering it: the engagement page
and the members list count, bucket and rank the steady members by index ranges and compute
per request only the members with days today, extras, or a partial stay.

The triggers on ``analytics_member_totals`` that write a stay to the kept ranges now write the
class too (``_STAY``, ``_NEW``). The kept ranges are caches: they are emptied, and made again
by the next sweep or page.

Revision ID: 0029_analytics_steady_totals
Revises: 0028_analytics_range_ordinals
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_analytics_steady_totals"
down_revision = "0028_analytics_range_ordinals"
branch_labels = None
depends_on = None


def steady(joined: str, left: str, first: str, total: str) -> str:
    """Return the SQL of the class of a stay in a range whose first day is ``first``."""
    return (
        f"CASE WHEN {joined} IS NULL OR ({left} IS NOT NULL AND {left} < {first}) THEN -1 "
        f"WHEN {joined} <= {first} AND {left} IS NULL THEN {total} END"
    )


_STAY_OLD = (
    "UPDATE analytics_range_members SET joined_ordinal = NEW.joined_ordinal, "
    "left_ordinal = NEW.left_ordinal "
    "WHERE community_id = NEW.community_id AND member_id = NEW.member_id;"
)
_STAY = (
    "UPDATE analytics_range_members SET joined_ordinal = NEW.joined_ordinal, "
    "left_ordinal = NEW.left_ordinal, steady_total = "
    + steady("NEW.joined_ordinal", "NEW.left_ordinal", "first_ordinal", "messages + reactions")
    + " WHERE community_id = NEW.community_id AND member_id = NEW.member_id;"
)
_NEW_HEAD = (
    "INSERT INTO analytics_range_members (community_id, first_ordinal, last_ordinal, member_id, "
    "messages, thread_messages, reactions, joined_ordinal, left_ordinal{extra}) "
    "SELECT r.community_id, r.first_ordinal, r.last_ordinal, NEW.member_id, 0, 0, 0, "
    "NEW.joined_ordinal, NEW.left_ordinal{value} FROM analytics_ranges r "
    "WHERE r.community_id = NEW.community_id AND NOT EXISTS (SELECT 1 FROM "
    "analytics_range_members m WHERE m.community_id = r.community_id "
    "AND m.first_ordinal = r.first_ordinal AND m.last_ordinal = r.last_ordinal "
    "AND m.member_id = NEW.member_id);"
)
_NEW_OLD = _NEW_HEAD.format(extra="", value="")
_NEW = _NEW_HEAD.format(
    extra=", steady_total",
    value=", " + steady("NEW.joined_ordinal", "NEW.left_ordinal", "r.first_ordinal", "0"),
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
# The triggers of 0028 whose bodies change: (trigger, event, the SQLite condition or "").
CHANGED = (
    ("ar_member_totals_stay", "UPDATE OF joined_ordinal, left_ordinal", _CHANGED),
    ("ar_member_totals_insert", "INSERT", ""),
)
INDEX = "ix_analytics_range_members_steady"


def _pg_function(stay: str, new: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION cohort_keep_range_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_GONE}
    ELSIF TG_OP = 'INSERT' THEN
        {new}
    ELSIF OLD.community_id IS DISTINCT FROM NEW.community_id
        OR OLD.member_id IS DISTINCT FROM NEW.member_id THEN
        {_FORGET.format(row="OLD")}
        {_FORGET.format(row="NEW")}
    ELSE
        {stay}
    END IF;
    RETURN NULL;
END
$$
"""


def _triggers(stay: str, new: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(_pg_function(stay, new))  # the triggers call it by name
        return
    for (name, when, condition), body in zip(CHANGED, (stay, new), strict=True):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        where = f" WHEN {condition}" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_totals FOR EACH ROW"
            f"{where} BEGIN {body} END"
        )


def _empty() -> None:
    op.execute("DELETE FROM analytics_range_members")
    op.execute("DELETE FROM analytics_ranges")


def upgrade() -> None:
    """Add the steady totals and their index; let the triggers write them."""
    _empty()
    op.add_column("analytics_range_members", sa.Column("steady_total", sa.Integer()))
    op.create_index(
        INDEX,
        "analytics_range_members",
        [
            "community_id",
            "first_ordinal",
            "last_ordinal",
            "steady_total",
            "member_id",
            # It covers the rows of members present part of the range, read per request.
            "joined_ordinal",
            "left_ordinal",
            "messages",
            "thread_messages",
            "reactions",
        ],
    )
    _triggers(_STAY, _NEW)


def downgrade() -> None:
    """Drop the steady totals; the triggers write the stays alone again."""
    _empty()
    _triggers(_STAY_OLD, _NEW_OLD)
    op.drop_index(INDEX, table_name="analytics_range_members")
    op.drop_column("analytics_range_members", "steady_total")
