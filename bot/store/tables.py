"""The tables, as SQLAlchemy Core metadata; every row belongs to a community."""

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
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
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

# Lectures: a lecture is the series an organizer scheduled; each occurrence is one session with
# its own time, check-in code and state (a moved or cancelled occurrence is an exception).
lectures = Table(
    "lectures",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("speaker", String(200), nullable=True),
    Column("link", String(500), nullable=True),
    Column("tier", String(64), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("start_at", UTCDateTime(), nullable=False),  # the first occurrence (DTSTART)
    Column("duration_s", Integer(), nullable=False),
    Column("rrule", String(500), nullable=True),  # e.g. FREQ=WEEKLY;COUNT=10, local wall time
    Column("capacity", Integer(), nullable=True),
    Column("origin_platform", String(16), nullable=True),
    Column("origin_channel_id", String(64), nullable=True),
    Column("origin_thread_id", String(64), nullable=True),
    Column("created_by", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_lectures_community", "community_id"),
)

lecture_occurrences = Table(
    "lecture_occurrences",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("lecture_id", ForeignKey("lectures.id", ondelete="CASCADE"), nullable=False),
    Column("original_start", UTCDateTime(), nullable=False),  # its place in the recurrence
    Column("start_at", UTCDateTime(), nullable=False),
    Column("duration_s", Integer(), nullable=False),
    Column("title", String(200), nullable=False),
    Column("speaker", String(200), nullable=True),
    Column("link", String(500), nullable=True),
    Column("capacity", Integer(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("checkin_code", String(16), nullable=False),
    Column("announce_at", UTCDateTime(), nullable=False),
    Column("scheduled_at", UTCDateTime(), nullable=False),  # when start_at was last set
    # The earliest announcement or reminder not yet claimed: what the sweep looks for.
    Column("next_due_at", UTCDateTime(), nullable=True),
    UniqueConstraint("lecture_id", "original_start"),
    UniqueConstraint("community_id", "checkin_code"),
    Index("ix_lecture_occurrences_next_due", "next_due_at"),
    Index("ix_lecture_occurrences_community_start", "community_id", "start_at"),
)

# Exactly once: a delivery row exists (one per natural key) before anything is sent, and a
# process sends it only while it holds the row's lease: ``claimed_by`` until ``lease_until``.
# A ``sending`` row whose lease ran out is taken over by the next sweep of any process.
lecture_deliveries = Table(
    "lecture_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column(
        "occurrence_id", ForeignKey("lecture_occurrences.id", ondelete="CASCADE"), nullable=False
    ),
    Column("occurrence_start", UTCDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("offset_s", Integer(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", String(200), nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    UniqueConstraint(
        "occurrence_id", "occurrence_start", "kind", "offset_s", name="uq_lecture_deliveries_key"
    ),
    Index("ix_lecture_deliveries_lease", "status", "lease_until"),
)

# Each message a delivery sent (a channel post, a private message), recorded as it goes out:
# a delivery taken over after a crash sends only what is not recorded here.
lecture_delivery_messages = Table(
    "lecture_delivery_messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("delivery_id", ForeignKey("lecture_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("target", String(120), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    UniqueConstraint("delivery_id", "target"),
)

# The announcement messages whose RSVP counts are edited in place.
lecture_posts = Table(
    "lecture_posts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column(
        "occurrence_id", ForeignKey("lecture_occurrences.id", ondelete="CASCADE"), nullable=False
    ),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("thread_id", String(64), nullable=True),
    Column("message_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("occurrence_id", "platform", "channel_id", "message_id"),
)

# The native calendar events (Discord guild scheduled events) made for occurrences, one per
# occurrence and guild, kept in step with the occurrence. ``event_id`` is set only while the
# event exists; ``next_attempt_at`` marks a row whose event must be created, edited or deleted.
lecture_native_events = Table(
    "lecture_native_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column(
        "occurrence_id", ForeignKey("lecture_occurrences.id", ondelete="CASCADE"), nullable=False
    ),
    Column("platform", String(16), nullable=False),
    Column("space_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=True),  # what the event was last made to say
    Column("version", Integer(), nullable=False),  # bumped by every change of the occurrence
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The process working on the row, until when (see lecture_deliveries).
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    UniqueConstraint("occurrence_id", "platform", "space_id"),
    Index("ix_lecture_native_events_next_attempt", "next_attempt_at"),
)

lecture_rsvps = Table(
    "lecture_rsvps",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column(
        "occurrence_id",
        ForeignKey("lecture_occurrences.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("platform", String(16), nullable=False),  # where to DM them
    Column("since", UTCDateTime(), nullable=False),  # waitlist order
    Index("ix_lecture_rsvps_member", "member_id"),
)

lecture_attendance = Table(
    "lecture_attendance",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column(
        "occurrence_id",
        ForeignKey("lecture_occurrences.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("method", String(16), nullable=False),
    Column("marked_by", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_lecture_attendance_member", "member_id"),
)

lecture_member_settings = Table(
    "lecture_member_settings",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("dm_reminders", Boolean(), nullable=True),
    Column("calendar_token", String(64), nullable=True, unique=True),
)

# Q&A: one row per question, its thread (a thread/topic id, or none for a reply chain whose
# messages are in qa_messages), its state and the timestamps the sweep and statistics read.
qa_questions = Table(
    "qa_questions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("asker_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("thread_id", String(64), nullable=True),
    Column("opening_message_id", String(64), nullable=True),
    Column("title", String(200), nullable=False),
    Column("body", Text(), nullable=False),
    Column("tags", String(200), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("bounty", Integer(), nullable=False, server_default="0"),
    Column("bounty_at", UTCDateTime(), nullable=True),
    Column("bounty_settled_at", UTCDateTime(), nullable=True),
    Column("accepted_answer_id", BigInteger(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("active_at", UTCDateTime(), nullable=False),
    Column("first_answer_at", UTCDateTime(), nullable=True),
    Column("solved_at", UTCDateTime(), nullable=True),
    Column("reminded_at", UTCDateTime(), nullable=True),
    Column("accept_pinged_at", UTCDateTime(), nullable=True),
    Column("asker_left_at", UTCDateTime(), nullable=True),
    Index("ix_qa_questions_state", "community_id", "state", "created_at"),
    Index("ix_qa_questions_asker", "community_id", "asker_id"),
    Index("ix_qa_questions_thread", "community_id", "platform", "channel_id", "thread_id"),
)

qa_answers = Table(
    "qa_answers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("text", Text(), nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime(), nullable=True),
    UniqueConstraint("community_id", "platform", "channel_id", "message_id"),
    Index("ix_qa_answers_question", "question_id", "posted_at"),
    Index("ix_qa_answers_author", "community_id", "author_id"),
)

# Every state change of a question, with why and who (none: the sweep): statistics read it.
qa_transitions = Table(
    "qa_transitions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("actor_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_qa_transitions_question", "question_id", "id"),
)

# The messages of a question asked in a group without threads (a reply chain): a reply to any
# of them belongs to the question.
qa_messages = Table(
    "qa_messages",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("message_id", String(64), primary_key=True),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
)

# Votes on answers: one row per member and emoji (reactions from ``qa.vote_emoji``); an answer's
# votes are its distinct voters. The author's own reactions are not stored.
qa_votes = Table(
    "qa_votes",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("answer_id", ForeignKey("qa_answers.id", ondelete="CASCADE"), primary_key=True),
    Column("voter_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("emoji", String(64), primary_key=True),
    Column("voted_at", UTCDateTime(), nullable=False),
)

# Full-text indexes the metadata cannot describe (SQLite FTS5 virtual tables, created by the
# migrations); schema comparisons skip them and their shadow tables. ``account_names``: the
# members search's trigram index of account names (0031_member_search).
SEARCH_INDEXES = ("qa_search", "qa_words", "account_names")


def is_search_index(name: str) -> bool:
    """Tell whether a table name is a full-text index or one of its shadow tables."""
    return any(name == index or name.startswith(f"{index}_") for index in SEARCH_INDEXES)


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

# A member row is deleted (erased, or merged into another) with a look for rows that still
# name it: these make that look, and the erase's own, an index lookup on the two big tables
# whose member column led no index.
Index("ix_points_ledger_actor", points_ledger.c.actor_id)
Index("ix_points_period_totals_member", points_period_totals.c.member_id)

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
