"""The metadata every table belongs to, and what the schema comparisons need to know."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Full-text indexes the metadata cannot describe (SQLite FTS5 virtual tables, created by the
# migrations); schema comparisons skip them and their shadow tables. ``account_names``: the
# members search's trigram index of account names (0031_member_search).
SEARCH_INDEXES = ("qa_search", "qa_words", "account_names")


def is_search_index(name: str) -> bool:
    """Tell whether a table name is a full-text index or one of its shadow tables."""
    return any(name == index or name.startswith(f"{index}_") for index in SEARCH_INDEXES)
