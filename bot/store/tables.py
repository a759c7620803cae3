"""The tables, as SQLAlchemy Core metadata; every row belongs to a community."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.types import UTCDateTime

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

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
    Index("ix_accounts_username", "community_id", "platform", "username_key"),
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
    Index("ix_points_balances_rank", "community_id", "balance"),
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

# One row per thing a member bought (or was given): gating writes it, the recommender reads it.
# ``offer_id`` is an offer id from the config; ``(source, source_ref)`` is the natural key
# ("stripe", the Checkout Session id; "manual", a grant id), so a replay never doubles a row.
purchases = Table(
    "purchases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("source_ref", String(200), nullable=False),
    Column("amount_minor", BigInteger(), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("purchased_at", UTCDateTime(), nullable=False),
    Column("refunded_at", UTCDateTime(), nullable=True),
    UniqueConstraint("community_id", "source", "source_ref"),
    Index("ix_purchases_member", "community_id", "member_id"),
)

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
