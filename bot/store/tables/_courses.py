"""The course catalog and each member's recommendation settings."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# The course catalog, synced from the config at start (the recommender reads it with the
# purchases: ``offer_id`` is what a purchase row of the course carries, ``position`` its order).
courses = Table(
    "courses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("course_id", String(32), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text(), nullable=False),
    Column("tags", Text(), nullable=False),  # comma-separated
    Column("language", String(16), nullable=True),
    Column("tiers", Text(), nullable=False),  # comma-separated; empty: everyone
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "course_id"),
    UniqueConstraint("community_id", "offer_id"),
)

# A member's recommendation settings: whether their messages may be used, the weekly digest.
recommend_prefs = Table(
    "recommend_prefs",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("use_messages", Boolean(), nullable=False),
    Column("digest", Boolean(), nullable=False),
    Column("last_digest_at", UTCDateTime(), nullable=True),
    Column("last_digest", Text(), nullable=False),  # comma-separated course ids last sent
    Column("updated_at", UTCDateTime(), nullable=False),
)
