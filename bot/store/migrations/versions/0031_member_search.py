"""Members search: account names in a trigram index, and the names outside ASCII by index.

The members list's search scanned every account's display name and username of the community
(``LIKE`` on SQLite, ``ILIKE`` and a regular expression on PostgreSQL). Now:

- ``account_names`` holds each account's display name and username (keyed by ``accounts.id``):
  on SQLite an FTS5 table with the ``trigram`` tokenizer, on PostgreSQL a table with ``pg_trgm``
  GIN indexes (the extension 0019_pg_search creates). Triggers on ``accounts`` keep it in the
  writing transaction: a new account, a changed name or username, an account deleted (on
  PostgreSQL by its foreign key). Like the Q&A index, the metadata does not describe it
  (``bot.store.tables.is_search_index``).
- ``ix_accounts_wide_names`` indexes the accounts whose name or username holds a character
  outside ASCII (partial, on the same test the search writes), which the search passes on to
  Python's casefold.

Revision ID: 0031_member_search
Revises: 0030_analytics_weeks
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_member_search"
down_revision = "0030_analytics_weeks"
branch_labels = None
depends_on = None

# The partial index's condition, as ``bot.cogs.analytics._directory.wide_names`` writes it
# (SQLite uses a partial index only for a query holding the same expression).
SQLITE_WIDE = (
    "length(CAST(display_name AS BLOB)) != length(display_name)"
    " OR length(CAST(username AS BLOB)) != length(username)"
)
POSTGRESQL_WIDE = "display_name ~ '[^\\x01-\\x7f]' OR username ~ '[^\\x01-\\x7f]'"

SQLITE_TRIGGERS = (
    "CREATE TRIGGER account_names_insert AFTER INSERT ON accounts FOR EACH ROW BEGIN"
    " INSERT INTO account_names (rowid, display_name, username)"
    " VALUES (NEW.id, NEW.display_name, NEW.username); END",
    "CREATE TRIGGER account_names_update AFTER UPDATE OF display_name, username ON accounts"
    " FOR EACH ROW WHEN OLD.display_name IS NOT NEW.display_name"
    " OR OLD.username IS NOT NEW.username BEGIN"
    " DELETE FROM account_names WHERE rowid = OLD.id;"
    " INSERT INTO account_names (rowid, display_name, username)"
    " VALUES (NEW.id, NEW.display_name, NEW.username); END",
    "CREATE TRIGGER account_names_delete AFTER DELETE ON accounts FOR EACH ROW BEGIN"
    " DELETE FROM account_names WHERE rowid = OLD.id; END",
)

POSTGRESQL_KEEP = """
CREATE FUNCTION cohort_keep_account_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_names (account_id, display_name, username)
    VALUES (NEW.id, NEW.display_name, NEW.username)
    ON CONFLICT (account_id) DO UPDATE
    SET display_name = EXCLUDED.display_name, username = EXCLUDED.username;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(
            "CREATE VIRTUAL TABLE account_names USING fts5("
            "display_name, username, tokenize = 'trigram')"
        )
        op.execute(
            "INSERT INTO account_names (rowid, display_name, username)"
            " SELECT id, display_name, username FROM accounts"
        )
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute(
            "CREATE TABLE account_names ("
            " account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,"
            " display_name TEXT NOT NULL, username TEXT)"
        )
        op.execute(
            "INSERT INTO account_names (account_id, display_name, username)"
            " SELECT id, display_name, username FROM accounts"
        )
        for column in ("display_name", "username"):
            op.execute(
                f"CREATE INDEX account_names_{column} ON account_names"
                f" USING gin ({column} gin_trgm_ops)"
            )
        op.execute(POSTGRESQL_KEEP)
        op.execute(
            "CREATE TRIGGER account_names_insert AFTER INSERT ON accounts"
            " FOR EACH ROW EXECUTE FUNCTION cohort_keep_account_names()"
        )
        op.execute(
            "CREATE TRIGGER account_names_update AFTER UPDATE OF display_name, username"
            " ON accounts FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name"
            " OR OLD.username IS DISTINCT FROM NEW.username)"
            " EXECUTE FUNCTION cohort_keep_account_names()"
        )
    op.create_index(
        "ix_accounts_wide_names",
        "accounts",
        ["community_id", "member_id"],
        sqlite_where=sa.text(SQLITE_WIDE),
        postgresql_where=sa.text(POSTGRESQL_WIDE),
    )


def downgrade() -> None:
    op.drop_index("ix_accounts_wide_names", table_name="accounts")
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS account_names_{name}")
        op.execute("DROP TABLE IF EXISTS account_names")
    else:
        for name in ("insert", "update"):
            op.execute(f"DROP TRIGGER account_names_{name} ON accounts")
        op.execute("DROP FUNCTION cohort_keep_account_names()")
        op.execute("DROP TABLE account_names")
