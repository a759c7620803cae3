"""Analytics pages: indexes that let growth, retention and the per-member pages read less.

``analytics_presence`` gets an index on who left when (growth's leaves in a range) and one in
member order (present members grouped as read: growth's total and linked members, the
recommender's members); ``analytics_member_totals`` one with the stays in member order (the
engagement page and the members list read them from the index alone) and one on the first
join (retention's cohorts); ``accounts`` one in member order (the members list groups a
community's accounts by member as it reads them).

Revision ID: 0027_analytics_page_indexes
Revises: 0026_cache_versions_at_commit
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0027_analytics_page_indexes"
down_revision = "0026_cache_versions_at_commit"
branch_labels = None
depends_on = None

INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_accounts_community_member", "accounts", ("community_id", "member_id", "platform")),
    (
        "ix_analytics_presence_left",
        "analytics_presence",
        ("community_id", "left_at", "member_id", "platform"),
    ),
    (
        "ix_analytics_presence_stay",
        "analytics_presence",
        ("community_id", "member_id", "platform", "joined_at", "left_at"),
    ),
    (
        "ix_analytics_member_totals_stay",
        "analytics_member_totals",
        ("community_id", "member_id", "joined_ordinal", "left_ordinal"),
    ),
    (
        "ix_analytics_member_totals_joined",
        "analytics_member_totals",
        ("community_id", "joined_ordinal", "member_id"),
    ),
)


def upgrade() -> None:
    """Create the indexes."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns))


def downgrade() -> None:
    """Drop the indexes."""
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
