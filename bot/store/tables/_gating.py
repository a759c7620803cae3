"""Paid access through Stripe: purchases, the webhook inbox, customers, sources, access."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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

# One row per thing a member bought (or was given): gating writes it, the recommender reads it.
# ``offer_id`` is an offer id from the config; ``(source, source_ref)`` is the natural key
# ("stripe", the Checkout Session id; "manual", a grant id), so a replay never doubles a row.
purchases = Table(
    "purchases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id"), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("source_ref", String(200), nullable=False),
    Column("amount_minor", BigInteger(), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("purchased_at", UTCDateTime(), nullable=False),
    Column("refunded_at", UTCDateTime(), nullable=True),
    # When the row last changed, for the revenue ledger's reads (migration 0034_ledger_marks).
    Column("ledger_mark", BigInteger(), nullable=False, server_default="0"),
    UniqueConstraint("community_id", "source", "source_ref"),
    Index("ix_purchases_member", "community_id", "member_id"),
    Index("ix_purchases_ledger_mark", "community_id", "ledger_mark"),
)

# --- gating: paid access through Stripe ----------------------------------------------------------

# The Stripe webhook inbox: every verified event, written before the 2xx and applied by a worker.
# ``community_id`` is filled in once the worker finds whose event it is.
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=True),
    Column("event_id", String(255), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("livemode", Boolean(), nullable=False),
    Column("created", BigInteger(), nullable=False),  # Stripe's event.created, epoch seconds
    Column("payload", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=True),
    Index("ix_stripe_events_due", "status", "next_attempt_at"),
)

# The opaque Checkout ``client_reference_id``: who (member and account) asked for which offer.
checkout_refs = Table(
    "checkout_refs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("ref", String(64), nullable=False, unique=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("offer_id", String(64), nullable=False),
    Column("price_id", String(255), nullable=False),
    Column("livemode", Boolean(), nullable=False),
    Column("session_id", String(255), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

stripe_customers = Table(
    "stripe_customers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id"), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("livemode", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "customer_id"),
    Index("ix_stripe_customers_member", "member_id"),
)

# Why a member may hold an offer, one row per source (a subscription, a one-time payment, a
# manual grant): access is a pure function of these rows and the time.
access_sources = Table(
    "access_sources",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id"), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("livemode", Boolean(), nullable=True),
    Column("customer_id", String(255), nullable=True),
    Column("status", String(32), nullable=False),
    Column("cancel_at_period_end", Boolean(), nullable=False),
    Column("period_start", UTCDateTime(), nullable=True),
    Column("period_end", UTCDateTime(), nullable=True),
    Column("ends_at", UTCDateTime(), nullable=True),
    Column("refunded", Boolean(), nullable=False),
    Column("disputed", Boolean(), nullable=False),
    Column("version", BigInteger(), nullable=False),  # epoch seconds of the state we hold
    Column("actor_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("note", String(200), nullable=True),
    Column("entitled", Boolean(), nullable=False),  # the last evaluation...
    Column("access_until", UTCDateTime(), nullable=True),  # ...and when it lapses by itself
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # When the row last changed, for the revenue ledger's reads (migration 0034_ledger_marks).
    Column("ledger_mark", BigInteger(), nullable=False, server_default="0"),
    UniqueConstraint("community_id", "kind", "ref"),
    Index("ix_access_sources_member", "community_id", "member_id"),
    Index("ix_access_sources_lapse", "entitled", "access_until"),
    Index("ix_access_sources_ledger_mark", "community_id", "ledger_mark"),
)

# Payments (by PaymentIntent) behind a source, with their refund and dispute state.
stripe_payments = Table(
    "stripe_payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("payment_intent", String(255), nullable=False),
    Column("source_id", ForeignKey("access_sources.id", ondelete="CASCADE"), nullable=False),
    Column("purchase_ref", String(255), nullable=False),
    Column("paid_at", BigInteger(), nullable=False),
    Column("refunded", Boolean(), nullable=False),
    Column("dispute_id", String(255), nullable=True),
    Column("dispute_status", String(32), nullable=True),
    Column("dispute_version", BigInteger(), nullable=True),
    # When the row last changed, for the revenue ledger's reads (migration 0034_ledger_marks).
    Column("ledger_mark", BigInteger(), nullable=False, server_default="0"),
    UniqueConstraint("community_id", "payment_intent"),
    Index("ix_stripe_payments_source", "source_id"),
    Index("ix_stripe_payments_ledger_mark", "community_id", "ledger_mark"),
)

# Rows deleted from what the revenue ledger reads (``access_sources``, ``stripe_payments``,
# ``purchases``), written by their delete triggers (migration 0036_ledger_deletions) and marked
# as a change of the row (on SQLite in its table's numbering), so a kept ledger drops them
# without reading the whole ledger again. No foreign key: a community's deletion logs its rows.
ledger_deletions = Table(
    "ledger_deletions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", Id, nullable=False),
    Column("tbl", String(16), nullable=False),
    Column("row_id", Id, nullable=False),
    Column("ledger_mark", BigInteger(), nullable=False),
    # When a keeper's prune pass first saw the row (migration 0037_ledger_prunes): it is pruned
    # ``[work] ledger_deletions_kept`` after.
    Column("noted_at", UTCDateTime(), nullable=True),
    Index("ix_ledger_deletions_mark", "community_id", "tbl", "ledger_mark"),
)

# Per community and table, the highest mark of a pruned ``ledger_deletions`` row: a kept ledger
# whose next read starts at or below it may have missed a deletion, and reads whole again.
ledger_pruned = Table(
    "ledger_pruned",
    metadata,
    Column("community_id", Id, primary_key=True),
    Column("tbl", String(16), primary_key=True),
    Column("ledger_mark", BigInteger(), nullable=False),
)

# What each account should have on each platform target, and what the platform last confirmed.
# Rows whose desire and state disagree are the durable queue of platform calls.
gating_access = Table(
    "gating_access",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("space_id", String(64), nullable=False),
    Column("role_id", String(64), nullable=False),  # "" for a Telegram chat
    Column("desired", Boolean(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("invite_link", String(255), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The process making the row's platform call, until when (bot/store/lease.py).
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    UniqueConstraint("community_id", "account_id", "space_id", "role_id"),
    Index("ix_gating_access_due", "next_attempt_at"),
    Index("ix_gating_access_member", "member_id"),
)

# Who changed whose access and why: manual grants and revocations, purchases, refunds.
gating_audit = Table(
    "gating_audit",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", ForeignKey("members.id"), nullable=False),
    Column("actor_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("action", String(32), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("detail", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("community_id", "action", "ref"),
    Index("ix_gating_audit_member", "member_id", "created_at"),
)
