"""Revenue ledger: each row it reads carries a mark of its last change, and deletions are counted.

The analytics service keeps each community's revenue ledger (access sources, Stripe payments,
purchases) in memory and, after a change, reads only the rows changed since its last read
(``bot/cogs/analytics/_ledger.py``). ``ledger_mark`` says when a row last changed:

- On SQLite, which has one writer at a time, the community's highest mark in that table plus
  one, set by a trigger after each insert and update: a reader that saw marks up to ``m`` finds
  every later change above ``m``.
- On PostgreSQL, where transactions commit in any order, the writing transaction's id, set
  before each insert and update: a reader that took the oldest transaction still running
  (``pg_snapshot_xmin``) before its read finds every change it did not see at or above it.

A deleted row leaves no mark, so deleting from these tables bumps the community's
``ledger_deleted`` cache version (as 0020 and 0026 bump the others), and a reader that sees it
changed reads the whole ledger again.

Revision ID: 0034_ledger_marks
Revises: 0032_member_days_by_day
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034_ledger_marks"
down_revision = "0032_member_days_by_day"
branch_labels = None
depends_on = None

TABLES = ("access_sources", "stripe_payments", "purchases")
DELETED = "ledger_deleted"

_PG_MARK = """
CREATE FUNCTION cohort_ledger_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.ledger_mark := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$
"""


def _sqlite_mark(table: str, when: str) -> str:
    # The trigger's own UPDATE changes the mark, so its WHEN stops it from firing again.
    condition = " WHEN NEW.ledger_mark IS OLD.ledger_mark" if when == "UPDATE" else ""
    return (
        f"CREATE TRIGGER lm_{table}_{when.lower()} AFTER {when} ON {table} FOR EACH ROW"
        f"{condition} BEGIN UPDATE {table} SET ledger_mark = (SELECT max(ledger_mark) + 1 "
        f"FROM {table} WHERE community_id = NEW.community_id) WHERE id = NEW.id; END"
    )


def _sqlite_deleted(table: str) -> str:
    return (
        f"CREATE TRIGGER lm_{table}_delete AFTER DELETE ON {table} FOR EACH ROW BEGIN "
        "INSERT OR IGNORE INTO cache_versions (community_id, name, version) "
        f"VALUES (OLD.community_id, '{DELETED}', 0); "
        "UPDATE cache_versions SET version = version + 1 "
        f"WHERE community_id = OLD.community_id AND name = '{DELETED}'; END"
    )


def _pg_deleted(table: str) -> list[str]:
    # As 0026: noted at the write, bumped once as the transaction commits.
    name = f"lm_{table}_delete"
    return [
        f"CREATE TRIGGER {name} AFTER DELETE ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION cohort_note_cache_version('{DELETED}')",
        f"CREATE CONSTRAINT TRIGGER {name}_at_commit AFTER DELETE ON {table} "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION cohort_bump_noted_cache_versions()",
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(_PG_MARK)
    for table in TABLES:
        op.add_column(
            table, sa.Column("ledger_mark", sa.BigInteger(), nullable=False, server_default="0")
        )
        op.create_index(f"ix_{table}_ledger_mark", table, ["community_id", "ledger_mark"])
        if sqlite:
            op.execute(_sqlite_mark(table, "INSERT"))
            op.execute(_sqlite_mark(table, "UPDATE"))
            op.execute(_sqlite_deleted(table))
        else:
            op.execute(
                f"CREATE TRIGGER lm_{table}_mark BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cohort_ledger_mark()"
            )
            for statement in _pg_deleted(table):
                op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        if sqlite:
            for when in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS lm_{table}_{when}")
        else:
            for trigger in ("mark", "delete", "delete_at_commit"):
                op.execute(f"DROP TRIGGER lm_{table}_{trigger} ON {table}")
        op.drop_index(f"ix_{table}_ledger_mark", table_name=table)
        op.drop_column(table, "ledger_mark")
    if not sqlite:
        op.execute("DROP FUNCTION cohort_ledger_mark()")
    op.execute(f"DELETE FROM cache_versions WHERE name = '{DELETED}'")
