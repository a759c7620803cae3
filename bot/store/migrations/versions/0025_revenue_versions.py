"""Revenue cache version: bumped by every write that changes what the revenue pages read.

Stripe payments (``stripe_payments``: which source and invoice a PaymentIntent paid, when, its
dispute) bump the community's ``payments`` row of ``cache_versions``, and so do changes to a
purchase's amount, currency, time or reference (0021 covers its owner, offer and refund). With
``access`` (0020) and ``recommend`` (0021) this covers every row the analytics service's
revenue ledger holds, so it keeps the ledger in memory until one of them changes.

Revision ID: 0025_revenue_versions
Revises: 0024_gating_leases
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0025_revenue_versions"
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
