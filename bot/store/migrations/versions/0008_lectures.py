"""Add lectures: series, occurrences, deliveries claimed once, posts, RSVPs, attendance.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lecture_member_settings",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("dm_reminders", sa.Boolean(), nullable=True),
        sa.Column("calendar_token", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_member_settings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_lecture_member_settings_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", name=op.f("pk_lecture_member_settings")
        ),
        sa.UniqueConstraint(
            "calendar_token", name=op.f("uq_lecture_member_settings_calendar_token")
        ),
    )
    op.create_table(
        "lectures",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("origin_platform", sa.String(length=16), nullable=True),
        sa.Column("origin_channel_id", sa.String(length=64), nullable=True),
        sa.Column("origin_thread_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lectures_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["members.id"],
            name=op.f("fk_lectures_created_by_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lectures")),
    )
    op.create_index("ix_lectures_community", "lectures", ["community_id"])
    op.create_table(
        "lecture_occurrences",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("lecture_id", ID, nullable=False),
        sa.Column("original_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("checkin_code", sa.String(length=16), nullable=False),
        sa.Column("announce_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_occurrences_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lecture_id"],
            ["lectures.id"],
            name=op.f("fk_lecture_occurrences_lecture_id_lectures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecture_occurrences")),
        sa.UniqueConstraint(
            "community_id",
            "checkin_code",
            name=op.f("uq_lecture_occurrences_community_id_checkin_code"),
        ),
        sa.UniqueConstraint(
            "lecture_id",
            "original_start",
            name=op.f("uq_lecture_occurrences_lecture_id_original_start"),
        ),
    )
    op.create_index(
        "ix_lecture_occurrences_community_start",
        "lecture_occurrences",
        ["community_id", "start_at"],
    )
    op.create_index("ix_lecture_occurrences_next_due", "lecture_occurrences", ["next_due_at"])
    op.create_table(
        "lecture_attendance",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("occurrence_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("marked_by", ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_attendance_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["marked_by"],
            ["members.id"],
            name=op.f("fk_lecture_attendance_marked_by_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_lecture_attendance_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["lecture_occurrences.id"],
            name=op.f("fk_lecture_attendance_occurrence_id_lecture_occurrences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("occurrence_id", "member_id", name=op.f("pk_lecture_attendance")),
    )
    op.create_index("ix_lecture_attendance_member", "lecture_attendance", ["member_id"])
    op.create_table(
        "lecture_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("occurrence_id", ID, nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("offset_s", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_deliveries_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["lecture_occurrences.id"],
            name=op.f("fk_lecture_deliveries_occurrence_id_lecture_occurrences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecture_deliveries")),
        sa.UniqueConstraint(
            "occurrence_id",
            "occurrence_start",
            "kind",
            "offset_s",
            name="uq_lecture_deliveries_key",
        ),
    )
    op.create_table(
        "lecture_posts",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("occurrence_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_posts_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["lecture_occurrences.id"],
            name=op.f("fk_lecture_posts_occurrence_id_lecture_occurrences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecture_posts")),
        sa.UniqueConstraint(
            "occurrence_id",
            "platform",
            "channel_id",
            "message_id",
            name=op.f("uq_lecture_posts_occurrence_id_platform_channel_id_message_id"),
        ),
    )
    op.create_table(
        "lecture_rsvps",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("occurrence_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lecture_rsvps_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_lecture_rsvps_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["lecture_occurrences.id"],
            name=op.f("fk_lecture_rsvps_occurrence_id_lecture_occurrences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("occurrence_id", "member_id", name=op.f("pk_lecture_rsvps")),
    )
    op.create_index("ix_lecture_rsvps_member", "lecture_rsvps", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_lecture_rsvps_member", table_name="lecture_rsvps")
    op.drop_table("lecture_rsvps")
    op.drop_table("lecture_posts")
    op.drop_table("lecture_deliveries")
    op.drop_index("ix_lecture_attendance_member", table_name="lecture_attendance")
    op.drop_table("lecture_attendance")
    op.drop_index("ix_lecture_occurrences_next_due", table_name="lecture_occurrences")
    op.drop_index("ix_lecture_occurrences_community_start", table_name="lecture_occurrences")
    op.drop_table("lecture_occurrences")
    op.drop_index("ix_lectures_community", table_name="lectures")
    op.drop_table("lectures")
    op.drop_table("lecture_member_settings")
