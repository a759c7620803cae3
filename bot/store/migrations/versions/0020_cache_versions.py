"""Cache versions: a number per community and cached kind of data, bumped by triggers.

Revision ID: 0020_cache_versions
Revises: 0019_pg_search
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0020_cache_versions"
down_revision = "0019_pg_search"
branch_labels = None
depends_on = None

# (trigger, table, event, the changed-columns condition or None, the cache it bumps). Only
# changes a cached read can see bump: a member's locale and time zone, an account's owner and
# names, every access source. New members and accounts (each message's sender on first sight)
# and last-seen times do not, so ingestion never invalidates the caches.
_PROFILE_ACCOUNT = ("member_id", "platform", "platform_user_id", "username", "display_name")
TRIGGERS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("cv_members_update", "members", "UPDATE", ("locale", "timezone"), "profile"),
    ("cv_members_delete", "members", "DELETE", (), "profile"),
    ("cv_accounts_update", "accounts", "UPDATE", (*_PROFILE_ACCOUNT, "locale"), "profile"),
    ("cv_accounts_delete", "accounts", "DELETE", (), "profile"),
    ("cv_access_insert", "access_sources", "INSERT", (), "access"),
    ("cv_access_update", "access_sources", "UPDATE", (), "access"),
    ("cv_access_delete", "access_sources", "DELETE", (), "access"),
)


def _sqlite_trigger(name: str, table: str, when: str, columns: tuple[str, ...], cache: str) -> str:
    row = "OLD" if when == "DELETE" else "NEW"
    of = f" OF {', '.join(columns)}" if columns else ""
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    condition = f" WHEN {changed}" if columns else ""
    return (
        f"CREATE TRIGGER {name} AFTER {when}{of} ON {table} FOR EACH ROW{condition} BEGIN "
        "INSERT OR IGNORE INTO cache_versions (community_id, name, version) "
        f"VALUES ({row}.community_id, '{cache}', 0); "
        "UPDATE cache_versions SET version = version + 1 "
        f"WHERE community_id = {row}.community_id AND name = '{cache}'; END"
    )


_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION cohort_bump_cache_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    community bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        community := OLD.community_id;
    ELSE
        community := NEW.community_id;
    END IF;
    INSERT INTO cache_versions (community_id, name, version) VALUES (community, TG_ARGV[0], 1)
    ON CONFLICT (community_id, name) DO UPDATE SET version = cache_versions.version + 1;
    RETURN NULL;
END
$$
"""


def _pg_trigger(name: str, table: str, when: str, columns: tuple[str, ...], cache: str) -> str:
    of = f" OF {', '.join(columns)}" if columns else ""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    condition = f" WHEN ({changed})" if columns else ""
    return (
        f"CREATE TRIGGER {name} AFTER {when}{of} ON {table} FOR EACH ROW{condition} "
        f"EXECUTE FUNCTION cohort_bump_cache_version('{cache}')"
    )


def upgrade() -> None:
    op.create_table(
        "cache_versions",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "name", name=op.f("pk_cache_versions")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(_PG_FUNCTION)
    for trigger in TRIGGERS:
        op.execute(_sqlite_trigger(*trigger) if sqlite else _pg_trigger(*trigger))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, *_rest in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" if sqlite else f"DROP TRIGGER {name} ON {table}"
        )
    if not sqlite:
        op.execute("DROP FUNCTION cohort_bump_cache_version()")
    op.drop_table("cache_versions")
