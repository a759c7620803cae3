"""Data rights (export, erase) and the message log's retention."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# --- privacy: data rights (export, erase) and message-log retention -----------------------------
# Money rows (purchases, stripe_customers, access_sources, gating_audit) reference members with
# no ON DELETE action (NO ACTION, checked at the end of each statement): deleting a member who
# still has them fails, so an erase re-points them to an anonymous member and never deletes
# them; deleting a whole community still takes its money rows with it in the same statement.

# A pending /privacy forget: confirmed by a button that only its requester may press, once,
# before it expires. The member id is no foreign key (the member is gone once it is done), and
# the requester is kept only as a hash of their platform account.
privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", BigInteger(), nullable=False),
    Column("requester", String(16), nullable=False),  # "self" or "organizer"
    Column("requested_by", String(64), nullable=False),  # sha256 of "platform:user id"
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime(), nullable=True),
    Index("ix_privacy_requests_expires", "expires_at"),
)

# A single-use download link of a member's export; only a hash of the link's token is stored.
privacy_downloads = Table(
    "privacy_downloads",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index("ix_privacy_downloads_member", "member_id"),
)

# Each erasure done: when, on whose request, which anonymous member now holds the kept rows,
# and how many rows each holding touched (JSON). Nothing in it names the person.
privacy_erasures = Table(
    "privacy_erasures",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("anonymous_id", BigInteger(), nullable=True),
    Column("requester", String(16), nullable=False),
    Column("counts", Text(), nullable=False),
    Column("erased_at", UTCDateTime(), nullable=False),
)

# What is left of message-log rows once purged (retention) or erased: a count per channel and
# UTC day, naming nobody. A channel's messages on a day are these plus the rows still logged.
message_days = Table(
    "message_days",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("day", Date(), primary_key=True),
    Column("messages", BigInteger(), nullable=False),
)

# The nightly retention purge of each community, leased to one process at a time.
privacy_jobs = Table(
    "privacy_jobs",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("job", String(32), primary_key=True),
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_done_at", UTCDateTime(), nullable=True),
)
