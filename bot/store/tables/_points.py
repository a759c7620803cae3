"""Points: the ledger, balances, period totals, invites, referrals, level changes, seasons."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# Points: an append-only ledger, and the balances and period totals kept in step with it.
points_ledger = Table(
    "points_ledger",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("delta", BigInteger(), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("source_ref", String(200), nullable=False),
    Column("actor_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("note", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "reason", "source_ref"),
    Index("ix_points_ledger_member_time", "member_id", "created_at"),
)

points_balances = Table(
    "points_balances",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("balance", BigInteger(), nullable=False),
    Column("last_message_award_at", UTCDateTime(), nullable=True),
    Column("last_message_digest", String(64), nullable=True),
    Column("last_active_at", UTCDateTime(), nullable=True),
    Column("level", Integer(), nullable=False, server_default="0"),
    Index("ix_points_balances_rank", "community_id", "balance"),
)

# Personal invite links from /invite, and who joined through whose (one referral per member).
points_invites = Table(
    "points_invites",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("space_id", String(64), nullable=False),
    Column("link", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "platform", "link"),
    Index("ix_points_invites_member", "member_id", "platform"),
)

points_referrals = Table(
    "points_referrals",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("referred_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("inviter_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=False),
    Column("left_at", UTCDateTime(), nullable=True),
    Column("awarded_at", UTCDateTime(), nullable=True),
    Index("ix_points_referrals_inviter", "inviter_id"),
)

# A member's level went up or down: written with the award, announced and turned into
# Discord roles by the points cog, which marks it handled (an outbox, so nothing is lost).
points_level_changes = Table(
    "points_level_changes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("level_from", Integer(), nullable=False),
    Column("level_to", Integer(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("handled_at", UTCDateTime(), nullable=True),
    Index("ix_points_level_changes_pending", "handled_at", "id"),
)

points_period_totals = Table(
    "points_period_totals",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("period", String(16), primary_key=True),  # "w2026-47" or "m2026-11"
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("total", BigInteger(), nullable=False),
    Index("ix_points_period_rank", "community_id", "period", "total"),
)

# Season 1 starts with the community; a row per later season records its start. A season's
# totals are the period "s<number>" in points_period_totals, so an ended season stays readable.
points_seasons = Table(
    "points_seasons",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer(), primary_key=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("started_by", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
)

# A member row is deleted (erased, or merged into another) with a look for rows that still
# name it: these make that look, and the erase's own, an index lookup on the two big tables
# whose member column led no index.
Index("ix_points_ledger_actor", points_ledger.c.actor_id)
Index("ix_points_period_totals_member", points_period_totals.c.member_id)
