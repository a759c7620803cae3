"""Analytics pages: the revenue cache version, and member sums kept per range of closed days.

Stripe payments (``stripe_payments``: which source and invoice a PaymentIntent paid, when, its
dispute) bump the community's ``payments`` row of ``cache_versions``, and so do changes to a
purchase's amount, currency, time or reference (0021 covers its owner, offer and refund). With
``access`` (0020) and ``recommend`` (0021) this covers every row the analytics service's
revenue ledger holds, so it keeps the ledger in memory until one of them changes.

``analytics_ranges`` and ``analytics_range_members`` hold each member's days summed over a
range of closed days, as the engagement page and the members list last asked (the range's day
totals beside them tell a late message); triggers drop a community's ranges when member-day
rows move to another member or go (a merge, an erasure, a rebuild).

Revision ID: 0025_analytics_pages
Revises: 0024_gating_leases
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0025_analytics_pages"
down_revision = "0024_gating_leases"
branch_labels = None
depends_on = None

_PAYMENT = ("community_id", "source_id", "purchase_ref", "paid_at", "dispute_id")
_PURCHASE = ("amount_minor", "currency", "purchased_at", "source", "source_ref")
# (trigger, table, event, the changed-columns condition or None, the cache it bumps), as 0020.
TRIGGERS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("cv_stripe_payments_insert", "stripe_payments", "INSERT", (), "payments"),
    ("cv_stripe_payments_update", "stripe_payments", "UPDATE", _PAYMENT, "payments"),
    ("cv_stripe_payments_delete", "stripe_payments", "DELETE", (), "payments"),
    ("cv_purchases_money_update", "purchases", "UPDATE", _PURCHASE, "payments"),
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


# Member-day rows that move to another member or day, or go: the community's ranges go too.
RANGE_TRIGGERS = (
    ("ar_member_days_update", "UPDATE OF member_id, day", "NEW"),
    ("ar_member_days_delete", "DELETE", "OLD"),
)
_FORGET = (
    "DELETE FROM analytics_range_members WHERE community_id = {row}.community_id; "
    "DELETE FROM analytics_ranges WHERE community_id = {row}.community_id;"
)
_PG_FORGET = f"""
CREATE OR REPLACE FUNCTION cohort_forget_analytics_ranges() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_FORGET.format(row="OLD")}
    ELSE
        {_FORGET.format(row="NEW")}
    END IF;
    RETURN NULL;
END
$$
"""


def _range_tables() -> None:
    for name, member in (("analytics_ranges", None), ("analytics_range_members", "member_id")):
        keys = ["community_id", "first_day", "last_day", *([member] if member else [])]
        counts = ["messages", "thread_messages", "reactions", *([] if member else ["active"])]
        op.create_table(
            name,
            sa.Column("community_id", ID, nullable=False),
            sa.Column("first_day", sa.Date(), nullable=False),
            sa.Column("last_day", sa.Date(), nullable=False),
            *([sa.Column(member, ID, nullable=False)] if member else []),
            *(
                sa.Column(c, sa.Integer() if member else sa.BigInteger(), nullable=False)
                for c in counts
            ),
            sa.ForeignKeyConstraint(
                ["community_id"],
                ["communities.id"],
                name=op.f(f"fk_{name}_community_id_communities"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{name}")),
        )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for trigger in TRIGGERS:
        op.execute(_sqlite_trigger(*trigger) if sqlite else _pg_trigger(*trigger))
    _range_tables()
    if not sqlite:
        op.execute(_PG_FORGET)
    for name, when, row in RANGE_TRIGGERS:
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_days FOR EACH ROW "
                f"BEGIN {_FORGET.format(row=row)} END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON analytics_member_days FOR EACH ROW "
                "EXECUTE FUNCTION cohort_forget_analytics_ranges()"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for trigger, _when, _row in RANGE_TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {trigger}"
            if sqlite
            else f"DROP TRIGGER {trigger} ON analytics_member_days"
        )
    if not sqlite:
        op.execute("DROP FUNCTION cohort_forget_analytics_ranges()")
    op.drop_table("analytics_range_members")
    op.drop_table("analytics_ranges")
    for name, table, *_rest in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" if sqlite else f"DROP TRIGGER {name} ON {table}"
        )
