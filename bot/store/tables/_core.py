"""The community, its members and accounts, the message log and the bot's own bookkeeping."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

communities = Table(
    "communities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("slug", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("locale", String(16), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_members_community", "community_id"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("platform_user_id", String(64), nullable=False),
    Column("username", String(64), nullable=True),
    Column("username_key", String(64), nullable=True),
    Column("display_name", String(200), nullable=False),
    Column("locale", String(16), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "platform", "platform_user_id"),
    Index("ix_accounts_member", "member_id"),
    # A community's accounts in member order (the members list; 0027_analytics_page_indexes).
    Index("ix_accounts_community_member", "community_id", "member_id", "platform"),
    Index("ix_accounts_username", "community_id", "platform", "username_key"),
    # The accounts whose name or username holds a character outside ASCII (the members search
    # passes them on to Python's casefold; 0031_member_search). SQLite uses a partial index
    # only for a query holding the same expression: ``analytics._directory.wide_names``.
    Index(
        "ix_accounts_wide_names",
        "community_id",
        "member_id",
        sqlite_where=text(
            "length(CAST(display_name AS BLOB)) != length(display_name)"
            " OR length(CAST(username AS BLOB)) != length(username)"
        ),
        postgresql_where=text("display_name ~ '[^\\x01-\\x7f]' OR username ~ '[^\\x01-\\x7f]'"),
    ),
)

message_log = Table(
    "message_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("thread_id", String(64), nullable=True),
    Column("message_id", String(64), nullable=False),
    Column("reply_to_message_id", String(64), nullable=True),
    Column("text", Text(), nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "platform", "channel_id", "message_id"),
    Index("ix_message_log_member_time", "member_id", "posted_at"),
)

link_codes = Table(
    "link_codes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column(
        "used_by_account_id",
        ForeignKey("accounts.id", ondelete="SET NULL"),
        nullable=True,
    ),
    UniqueConstraint("community_id", "code"),
    Index("ix_link_codes_expires", "expires_at"),
)

# Button payloads too long for a platform's callback data (Telegram: 64 bytes) wait here.
button_payloads = Table(
    "button_payloads",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("payload", Text(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "digest"),
)

# The slash commands last synced to each Discord guild, as a hash of the payload sent, so a
# restart with the same commands does not sync again (Discord limits command updates).
discord_command_syncs = Table(
    "discord_command_syncs",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("guild_id", String(32), primary_key=True),
    Column("payload_hash", String(64), nullable=False),
    Column("synced_at", UTCDateTime(), nullable=False),
)

# --- perf: cache versions ---------------------------------------------------------------------
# A version per community and cached kind of data (bot/core/versions.py), bumped by triggers
# (migration 0020_cache_versions) in the transaction of every write that changes that data; on
# PostgreSQL once per transaction as it commits (0026_cache_versions_at_commit).
cache_versions = Table(
    "cache_versions",
    metadata,
    Column("community_id", Id, primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger(), nullable=False),
)

# Telegram webhook: each update claimed by the process that handles it, so an update Telegram
# sends again (its POST failed or timed out) to another process is handled once. Nothing in it
# names a person; claims older than Telegram keeps an update are pruned.
telegram_updates = Table(
    "telegram_updates",
    metadata,
    Column("bot_id", BigInteger(), primary_key=True),
    Column("update_id", BigInteger(), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("claimed_by", String(100), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=False),
    Column("handled_at", UTCDateTime(), nullable=True),
    Index("ix_telegram_updates_received", "received_at"),
)
