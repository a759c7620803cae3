"""Analytics: the rollups kept as events arrive, their totals and ranges, the dashboard."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# --- analytics: daily rollups kept as events arrive ----------------------------------------------

# Messages and reactions per UTC hour and channel: any zone's days, the weekday-by-hour heatmap
# and the top channels are sums of these rows.
analytics_hours = Table(
    "analytics_hours",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("messages", Integer(), nullable=False),
    Column("reactions", Integer(), nullable=False),
)

# What each member did on each day of the community's zone: active members, DAU/WAU/MAU,
# retention and the engagement score read these rows, never the message log. Keyed by day
# first (a range of days is a range of the key, read in order with its counts; on SQLite the
# table is stored in key order) and indexed by member without the counts, so a message's
# update changes one row and no index (migration 0032_member_days_by_day).
analytics_member_days = Table(
    "analytics_member_days",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date(), nullable=False),
    Column("messages", Integer(), nullable=False),
    Column("thread_messages", Integer(), nullable=False),
    Column("reactions", Integer(), nullable=False),
    PrimaryKeyConstraint("community_id", "day", "member_id"),
    Index("ix_analytics_member_days_member", "community_id", "member_id", "day"),
    sqlite_with_rowid=False,
)

# Messages logged and not yet added to the rollups: a row per run of consecutive message-log ids
# a batch of the message log wrote, in that batch's transaction (so it is seen exactly when its
# messages are). The fold (``bot/cogs/analytics/_fold.py``) adds the messages to the rollups and
# deletes the row in one transaction of its own.
analytics_pending = Table(
    "analytics_pending",
    metadata,
    Column("id", Id, primary_key=True),
    Column("first_id", Id, nullable=False),  # message_log ids, both included
    Column("last_id", Id, nullable=False),
)

# Each account's presence in the community: when it first joined (or was first seen) and when
# it last left (none while present), for growth and the member counts.
analytics_presence = Table(
    "analytics_presence",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=False),
    Column("left_at", UTCDateTime(), nullable=True),
    # Covers the growth queries (index only): who joined, left, on which platform.
    Index(
        "ix_analytics_presence_joined",
        "community_id",
        "joined_at",
        "left_at",
        "member_id",
        "platform",
    ),
    Index("ix_analytics_presence_member", "member_id"),
    # Who left in a range (growth), from the index alone (0027_analytics_page_indexes).
    Index("ix_analytics_presence_left", "community_id", "left_at", "member_id", "platform"),
    # A community's accounts in member order (growth, the recommender): present members are
    # grouped as the index is read, without sorting them.
    Index(
        "ix_analytics_presence_stay",
        "community_id",
        "member_id",
        "platform",
        "joined_at",
        "left_at",
    ),
)

# The weekly report, one row per community and week (its Monday in the community's zone): the
# process that claims it holds a lease until it is sent, so a week is reported exactly once.
analytics_reports = Table(
    "analytics_reports",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("week", Date(), primary_key=True),
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
)

# Course suggestions a member was shown (by /recommend or the digest), first time per course:
# the recommender page counts how many turned into a purchase of the course's offer after.
analytics_suggestions = Table(
    "analytics_suggestions",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("course_id", String(32), primary_key=True),
    Column("offer_id", String(64), nullable=False),
    Column("personal", Boolean(), nullable=False),
    Column("shown_at", UTCDateTime(), nullable=False),
    Index("ix_analytics_suggestions_shown", "community_id", "shown_at"),
)

# --- dashboard ---------------------------------------------------------------------------------
# A single-use sign-in link to the organizers' dashboard: only the SHA-256 of its token is kept.
dashboard_links = Table(
    "dashboard_links",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index("ix_dashboard_links_expires", "expires_at"),
)

# A signed-in browser: the SHA-256 of its cookie, whose member, until when, in which language.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("locale", String(16), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_dashboard_sessions_expires", "expires_at"),
)

# --- analytics totals: what the dashboard pages read instead of every member's days ----------

# The community's totals per day of its zone: messages, thread messages and reactions, and how
# many members were active that day (distinct, kept exact as a member's first row of a day goes
# in). The overview's and the activity page's days read these rows: O(days), not O(members).
analytics_days = Table(
    "analytics_days",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date(), primary_key=True),
    Column("messages", Integer(), nullable=False),
    Column("thread_messages", Integer(), nullable=False),
    Column("reactions", Integer(), nullable=False),
    Column("active", Integer(), nullable=False),
)

# Each member's first and last active day (none before a message or reaction), and their
# stay now: the local day (as ``date.toordinal()``, for plain
# integer arithmetic in SQL) their first account joined and their last one left (none while one
# is present). Members active from a day to the latest are those whose last day is on or after
# it (an index range): the distinct count DAU/WAU/MAU need without reading every member's days;
# the engagement page and the members list compute each member's days present from the stay.
analytics_member_totals = Table(
    "analytics_member_totals",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("first_day", Date(), nullable=True),
    Column("last_day", Date(), nullable=True),
    Column("joined_ordinal", Integer(), nullable=True),
    Column("left_ordinal", Integer(), nullable=True),
    Index("ix_analytics_member_totals_last", "community_id", "last_day"),
    Index("ix_analytics_member_totals_member", "member_id"),
    # Stays in member order from the index alone (the engagement page, the members list), and
    # the members who first joined in a range (retention); 0027_analytics_page_indexes.
    Index(
        "ix_analytics_member_totals_stay",
        "community_id",
        "member_id",
        "joined_ordinal",
        "left_ordinal",
    ),
    Index("ix_analytics_member_totals_joined", "community_id", "joined_ordinal", "member_id"),
    # Members present (no leave) and leaves per day, for the overview (migration 0028).
    Index("ix_analytics_member_totals_left", "community_id", "left_ordinal", "joined_ordinal"),
)

# Each member's days summed over a range of closed days (up to yesterday), as the engagement
# page and the members list last asked: computed on a page's first request, used while the
# community's day totals over the range still add up to ``analytics_ranges``' (a late message
# or reaction changes them) and dropped by a trigger when member-day rows move to another
# member or go (a merge, an erasure, a rebuild; migration 0025_analytics_pages). No foreign key
# on the member: a cache, not a holding, cleared rather than re-pointed. The range's days are
# local day ordinals; a range holds a row for every member with a totals row, with their stay
# (``joined_ordinal``, ``left_ordinal``) kept current by triggers on ``analytics_member_totals``
# (migration 0028_analytics_range_ordinals), so a page reads the range alone, in key order
# (``WITHOUT ROWID`` on SQLite), instead of joining every member's stay to it.
STEADY_INDEX = (
    "community_id",
    "first_ordinal",
    "last_ordinal",
    "steady_total",
    "member_id",
    "joined_ordinal",
    "left_ordinal",
    "messages",
    "thread_messages",
    "reactions",
)

analytics_ranges = Table(
    "analytics_ranges",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("first_ordinal", Integer(), primary_key=True),
    Column("last_ordinal", Integer(), primary_key=True),
    Column("messages", BigInteger(), nullable=False),
    Column("thread_messages", BigInteger(), nullable=False),
    Column("reactions", BigInteger(), nullable=False),
    Column("active", BigInteger(), nullable=False),
)

analytics_range_members = Table(
    "analytics_range_members",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("first_ordinal", Integer(), primary_key=True),
    Column("last_ordinal", Integer(), primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("messages", Integer(), nullable=False),
    Column("thread_messages", Integer(), nullable=False),
    Column("reactions", Integer(), nullable=False),
    Column("joined_ordinal", Integer(), nullable=True),
    Column("left_ordinal", Integer(), nullable=True),
    # Messages + reactions over the range's days of a member present every day of it (joined
    # by its first day, not gone), -1 for a member never present in it, NULL otherwise; the
    # triggers keep it with the stay (migration 0029_analytics_steady_totals).
    Column("steady_total", Integer(), nullable=True),
    # The triggers find a member's rows in every kept range of the community.
    Index("ix_analytics_range_members_member", "community_id", "member_id"),
    # The steady members counted, bucketed and ranked by index ranges (the engagement page and
    # the members list by engagement); it covers the sums and stays of the members present part
    # of the range (steady_total NULL), read per request.
    Index("ix_analytics_range_members_steady", *STEADY_INDEX),
    sqlite_with_rowid=False,
)

# Weeks' member activity on closed days kept for the retention page (``_weeks.py``): per
# community and week, the last day kept, the day totals it was made from and the members active
# on its kept days as a bit set (bit i of the little-endian integer: member i).
analytics_weeks = Table(
    "analytics_weeks",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("week_ordinal", Integer(), primary_key=True),
    Column("last_ordinal", Integer(), nullable=False),
    Column("messages", BigInteger(), nullable=False),
    Column("thread_messages", BigInteger(), nullable=False),
    Column("reactions", BigInteger(), nullable=False),
    Column("active", BigInteger(), nullable=False),
    Column("members", LargeBinary(), nullable=False),
)
