"""Cache versions on PostgreSQL are bumped once per transaction, as it commits.

The triggers of 0020, 0021 and 0025 bumped a community's ``cache_versions`` row at each write, so
a transaction held that one row locked until it committed and every other writer of the same
cached data waited for it (the Stripe inbox's batches, one process at a time). Now each write
only notes the row to bump in a transaction-local setting, and a deferred constraint trigger
bumps the noted rows, in key order, when the transaction commits: the row is locked for the
commit alone, and a reader still sees the new version only with the data it covers. SQLite
has one writer at a time and keeps its triggers.

Revision ID: 0026_cache_versions_at_commit
Revises: 0025_analytics_pages
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0026_cache_versions_at_commit"
down_revision = "0025_analytics_pages"
branch_labels = None
depends_on = None

# The triggers of 0020, 0021 and 0025: (trigger, table, event, the changed-columns condition or
# None, the cache it bumps).
_PROFILE_ACCOUNT = ("member_id", "platform", "platform_user_id", "username", "display_name")
_PURCHASE = ("community_id", "member_id", "offer_id", "refunded_at")
_COURSE = ("community_id", "course_id", "offer_id", "position", "tiers")
_PREFS = ("community_id", "member_id", "use_messages")
_PAYMENT = ("community_id", "source_id", "purchase_ref", "paid_at", "dispute_id")
_PURCHASE_MONEY = ("amount_minor", "currency", "purchased_at", "source", "source_ref")
TRIGGERS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("cv_members_update", "members", "UPDATE", ("locale", "timezone"), "profile"),
    ("cv_members_delete", "members", "DELETE", (), "profile"),
    ("cv_accounts_update", "accounts", "UPDATE", (*_PROFILE_ACCOUNT, "locale"), "profile"),
    ("cv_accounts_delete", "accounts", "DELETE", (), "profile"),
    ("cv_access_insert", "access_sources", "INSERT", (), "access"),
    ("cv_access_update", "access_sources", "UPDATE", (), "access"),
    ("cv_access_delete", "access_sources", "DELETE", (), "access"),
    ("cv_purchases_insert", "purchases", "INSERT", (), "recommend"),
    ("cv_purchases_update", "purchases", "UPDATE", _PURCHASE, "recommend"),
    ("cv_purchases_delete", "purchases", "DELETE", (), "recommend"),
    ("cv_recommend_prefs_insert", "recommend_prefs", "INSERT", (), "recommend"),
    ("cv_recommend_prefs_update", "recommend_prefs", "UPDATE", _PREFS, "recommend"),
    ("cv_recommend_prefs_delete", "recommend_prefs", "DELETE", (), "recommend"),
    ("cv_courses_insert", "courses", "INSERT", (), "recommend"),
    ("cv_courses_update", "courses", "UPDATE", _COURSE, "recommend"),
    ("cv_courses_delete", "courses", "DELETE", (), "recommend"),
    ("cv_stripe_payments_insert", "stripe_payments", "INSERT", (), "payments"),
    ("cv_stripe_payments_update", "stripe_payments", "UPDATE", _PAYMENT, "payments"),
    ("cv_stripe_payments_delete", "stripe_payments", "DELETE", (), "payments"),
    ("cv_purchases_money_update", "purchases", "UPDATE", _PURCHASE_MONEY, "payments"),
)
# The deferred trigger beside each: it fires at commit, once per row written (cheap after the
# first, which finds nothing left to bump).
AT_COMMIT = "_at_commit"

# The transaction's noted rows, as ",community:cache,...": set_config(..., true) keeps it to
# the transaction, and a rolled-back savepoint takes back what it noted with its writes.
_NOTE = """
CREATE FUNCTION cohort_note_cache_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    noted text := coalesce(nullif(current_setting('cohort.cache_bumps', true), ''), ',');
    pair text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        pair := OLD.community_id || ':' || TG_ARGV[0];
    ELSE
        pair := NEW.community_id || ':' || TG_ARGV[0];
    END IF;
    IF strpos(noted, ',' || pair || ',') = 0 THEN
        PERFORM set_config('cohort.cache_bumps', noted || pair || ',', true);
    END IF;
    RETURN NULL;
END
$$
"""

# Bumps in key order, so that two committing transactions never wait for each other in a cycle.
_BUMP = """
CREATE FUNCTION cohort_bump_noted_cache_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    noted text := coalesce(current_setting('cohort.cache_bumps', true), '');
BEGIN
    IF noted IN ('', ',') THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('cohort.cache_bumps', '', true);
    INSERT INTO cache_versions (community_id, name, version)
    SELECT DISTINCT split_part(pair, ':', 1)::bigint, split_part(pair, ':', 2), 1
    FROM unnest(string_to_array(trim(BOTH ',' FROM noted), ',')) AS pair
    ORDER BY 1, 2
    ON CONFLICT (community_id, name) DO UPDATE SET version = cache_versions.version + 1;
    RETURN NULL;
END
$$
"""

# 0020's function, which bumped at each write.
_BUMP_AT_WRITE = """
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


def _trigger(
    name: str, table: str, when: str, columns: tuple[str, ...], call: str, *, deferred: bool
) -> str:
    of = f" OF {', '.join(columns)}" if columns else ""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    condition = f" WHEN ({changed})" if columns else ""
    kind = "CONSTRAINT TRIGGER" if deferred else "OR REPLACE TRIGGER"
    timing = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    return (
        f"CREATE {kind} {name} AFTER {when}{of} ON {table}{timing} FOR EACH ROW{condition} "
        f"EXECUTE FUNCTION {call}"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_NOTE)
    op.execute(_BUMP)
    for name, table, when, columns, cache in TRIGGERS:
        note = f"cohort_note_cache_version('{cache}')"
        op.execute(_trigger(name, table, when, columns, note, deferred=False))
        bump = "cohort_bump_noted_cache_versions()"
        op.execute(_trigger(name + AT_COMMIT, table, when, columns, bump, deferred=True))
    op.execute("DROP FUNCTION cohort_bump_cache_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_BUMP_AT_WRITE)
    for name, table, when, columns, cache in TRIGGERS:
        op.execute(f"DROP TRIGGER {name + AT_COMMIT} ON {table}")
        bump = f"cohort_bump_cache_version('{cache}')"
        op.execute(_trigger(name, table, when, columns, bump, deferred=False))
    op.execute("DROP FUNCTION cohort_bump_noted_cache_versions()")
    op.execute("DROP FUNCTION cohort_note_cache_version()")
