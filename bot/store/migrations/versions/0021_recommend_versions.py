"""Recommend cache version: bumped by what changes a member's recommendation inputs.

A purchase, a refund or a merge (``purchases``), the privacy switch (``recommend_prefs``) and
the catalog (``courses``) bump the community's ``recommend`` row of ``cache_versions``, so the
recommend cog serves a member's owned courses from memory until one of them changes.

Revision ID: 0021_recommend_versions
Revises: 0020_cache_versions
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0021_recommend_versions"
down_revision = "0020_cache_versions"
branch_labels = None
depends_on = None

_PURCHASE = ("community_id", "member_id", "offer_id", "refunded_at")
_COURSE = ("community_id", "course_id", "offer_id", "position", "tiers")
_PREFS = ("community_id", "member_id", "use_messages")  # not the digest's bookkeeping
# (trigger, table, event, the changed-columns condition or None, the cache it bumps), as 0020.
TRIGGERS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("cv_purchases_insert", "purchases", "INSERT", (), "recommend"),
    ("cv_purchases_update", "purchases", "UPDATE", _PURCHASE, "recommend"),
    ("cv_purchases_delete", "purchases", "DELETE", (), "recommend"),
    ("cv_recommend_prefs_insert", "recommend_prefs", "INSERT", (), "recommend"),
    ("cv_recommend_prefs_update", "recommend_prefs", "UPDATE", _PREFS, "recommend"),
    ("cv_recommend_prefs_delete", "recommend_prefs", "DELETE", (), "recommend"),
    ("cv_courses_insert", "courses", "INSERT", (), "recommend"),
    ("cv_courses_update", "courses", "UPDATE", _COURSE, "recommend"),
    ("cv_courses_delete", "courses", "DELETE", (), "recommend"),
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


def _pg_trigger(name: str, table: str, when: str, columns: tuple[str, ...], cache: str) -> str:
    # cohort_bump_cache_version() is 0020's.
    of = f" OF {', '.join(columns)}" if columns else ""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    condition = f" WHEN ({changed})" if columns else ""
    return (
        f"CREATE TRIGGER {name} AFTER {when}{of} ON {table} FOR EACH ROW{condition} "
        f"EXECUTE FUNCTION cohort_bump_cache_version('{cache}')"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for trigger in TRIGGERS:
        op.execute(_sqlite_trigger(*trigger) if sqlite else _pg_trigger(*trigger))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, *_rest in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" if sqlite else f"DROP TRIGGER {name} ON {table}"
        )
