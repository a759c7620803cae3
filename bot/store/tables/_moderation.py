"""Moderation: cases numbered per community, and slow mode."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# --- moderation -------------------------------------------------------------------------------

# Every moderation action, numbered per community (the case number moderators quote). A mute
# or ban with an end is lifted on schedule: ``expiry`` is "pending" until a process holding the
# row's lease (``claimed_by`` until ``lease_until``) lifts it, then "done" or "failed".
moderation_cases = Table(
    "moderation_cases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer(), nullable=False),
    Column("action", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
    Column("moderator_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("reason", Text(), nullable=False),
    Column("platform", String(16), nullable=True),
    Column("channel_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime(), nullable=True),
    Column("state", String(16), nullable=False),
    Column("detail", String(500), nullable=True),
    Column("edited_at", UTCDateTime(), nullable=True),
    Column("expiry", String(16), nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("appealed_at", UTCDateTime(), nullable=True),
    Column("appeal_thread", String(120), nullable=True),
    UniqueConstraint("community_id", "number"),
    Index("ix_moderation_cases_member", "community_id", "member_id", "created_at"),
    Index("ix_moderation_cases_expiry", "expiry", "until"),
)

# Slowmode the bot enforces itself (where the platform has none a bot can set): seconds between
# one member's messages in a channel.
moderation_slowmode = Table(
    "moderation_slowmode",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("seconds", Integer(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
