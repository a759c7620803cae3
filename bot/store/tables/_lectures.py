"""Lectures: series, occurrences, deliveries, posts, calendar events, RSVPs, attendance."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
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
