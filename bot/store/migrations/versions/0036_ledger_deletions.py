"""Revenue ledger: each deleted row is logged, so a kept ledger drops it without a whole read.

Migration ``0034_ledger_marks`` marked every row the kept revenue ledger reads with its last
change, but a deleted row leaves no mark, so deleting from ``access_sources``,
``stripe_payments`` or ``purchases`` bumped the community's ``ledger_deleted`` cache version and
every process read its whole ledger again. Now the same delete triggers write the deleted row's
table and id to ``ledger_deletions`` instead, marked as a change of that row, and a kept ledger
reads the deletions marked since its last read beside the changed rows
(``bot/cogs/analytics/_ledger.py``):

- On PostgreSQL, the deleting transaction's id, as 0034 marks a change.
- On SQLite, the next number of the table the row was deleted from: a table's rows and its
  deletions share one numbering, its highest mark plus one, and the deleted row's own mark
  counts. 0034's insert and update triggers are made again to count the log's marks too:
  without it, deleting the row with the highest mark lowered the highest, and the next row
  written got a mark below where a kept ledger's next read starts (seen by nobody).

``ledger_deleted`` stays for what the log cannot say: a kept ledger that sees it bumped reads
whole again (nothing in the bot bumps it now; it is the lever for a log pruned by hand).

The log has no foreign key: a community's deletion, which cascades to the three tables, logs
its rows after (or while) the community goes.

Revision ID: 0036_ledger_deletions
Revises: 0035_rollup_fold
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036_ledger_deletions"
down_revision = "0035_rollup_fold"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("access_sources", "stripe_payments", "purchases")
DELETED = "ledger_deleted"

_PG_LOG = """
CREATE FUNCTION cohort_ledger_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_deletions (community_id, tbl, row_id, ledger_mark)
    VALUES (OLD.community_id, TG_TABLE_NAME, OLD.id, pg_current_xact_id()::text::bigint);
    RETURN OLD;
END
$$
"""


def _sqlite_next(table: str, row: str, *more: str) -> str:
    """Return the table's next mark in ``row``'s community: its rows' and deletions' highest + 1."""
    highest = [
        f"(SELECT max(ledger_mark) FROM {table} WHERE community_id = {row}.community_id)",
        "(SELECT max(ledger_mark) FROM ledger_deletions "
        f"WHERE community_id = {row}.community_id AND tbl = '{table}')",
        *more,
    ]
    return "max(" + ", ".join(f"coalesce({m}, 0)" for m in highest) + ") + 1"


def _sqlite_mark(table: str, when: str, counting_log: bool) -> str:
    # The trigger's own UPDATE changes the mark, so its WHEN stops it from firing again.
    condition = " WHEN NEW.ledger_mark IS OLD.ledger_mark" if when == "UPDATE" else ""
    mark = (
        _sqlite_next(table, "NEW")
        if counting_log
        else f"(SELECT max(ledger_mark) + 1 FROM {table} WHERE community_id = NEW.community_id)"
    )
    return (
        f"CREATE TRIGGER lm_{table}_{when.lower()} AFTER {when} ON {table} FOR EACH ROW"
        f"{condition} BEGIN UPDATE {table} SET ledger_mark = {mark} WHERE id = NEW.id; END"
    )


def _sqlite_log(table: str) -> str:
    return (
        f"CREATE TRIGGER ld_{table}_delete AFTER DELETE ON {table} FOR EACH ROW BEGIN "
        "INSERT INTO ledger_deletions (community_id, tbl, row_id, ledger_mark) VALUES "
        f"(OLD.community_id, '{table}', OLD.id, {_sqlite_next(table, 'OLD', 'OLD.ledger_mark')});"
        " END"
    )


def _sqlite_bump(table: str) -> str:  # 0034's, put back by the downgrade
    return (
        f"CREATE TRIGGER lm_{table}_delete AFTER DELETE ON {table} FOR EACH ROW BEGIN "
        "INSERT OR IGNORE INTO cache_versions (community_id, name, version) "
        f"VALUES (OLD.community_id, '{DELETED}', 0); "
        "UPDATE cache_versions SET version = version + 1 "
        f"WHERE community_id = OLD.community_id AND name = '{DELETED}'; END"
    )


def _pg_bump(table: str) -> list[str]:  # 0034's, put back by the downgrade
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
    op.create_table(
        "ledger_deletions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("tbl", sa.String(16), nullable=False),
        sa.Column("row_id", ID, nullable=False),
        sa.Column("ledger_mark", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_ledger_deletions_mark", "ledger_deletions", ["community_id", "tbl", "ledger_mark"]
    )
    if not sqlite:
        op.execute(_PG_LOG)
    for table in TABLES:
        if sqlite:
            for when in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER lm_{table}_{when}")
            op.execute(_sqlite_mark(table, "INSERT", counting_log=True))
            op.execute(_sqlite_mark(table, "UPDATE", counting_log=True))
            op.execute(_sqlite_log(table))
        else:
            op.execute(f"DROP TRIGGER lm_{table}_delete_at_commit ON {table}")
            op.execute(f"DROP TRIGGER lm_{table}_delete ON {table}")
            op.execute(
                f"CREATE TRIGGER ld_{table}_delete AFTER DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cohort_ledger_deleted()"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        if sqlite:
            for trigger in ("ld_{}_delete", "lm_{}_insert", "lm_{}_update"):
                op.execute(f"DROP TRIGGER {trigger.format(table)}")
            op.execute(_sqlite_mark(table, "INSERT", counting_log=False))
            op.execute(_sqlite_mark(table, "UPDATE", counting_log=False))
            op.execute(_sqlite_bump(table))
        else:
            op.execute(f"DROP TRIGGER ld_{table}_delete ON {table}")
            for statement in _pg_bump(table):
                op.execute(statement)
    if not sqlite:
        op.execute("DROP FUNCTION cohort_ledger_deleted()")
    op.drop_index("ix_ledger_deletions_mark", table_name="ledger_deletions")
    op.drop_table("ledger_deletions")
