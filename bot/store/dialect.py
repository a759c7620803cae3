"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_ignore_returning(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
) -> set[tuple[Any, ...]]:
    """Insert ``rows`` skipping existing natural ``keys``; return the keys that went in."""
    if not rows:
        return set()
    statement = _insert_ignore(conn.dialect.name, table, tuple(keys))
    if len(rows) == 1:  # a plain execute keeps SQLAlchemy's compiled-statement cache warm
        result = await conn.execute(statement, dict(rows[0]))
    else:
        result = await conn.execute(statement, [dict(r) for r in rows])
    return {tuple(row) for row in result}


async def upsert_add(
    conn: AsyncConnection,
    table: Table,
    keys: Mapping[str, Any],
    *,
    column: str,
    amount: int,
    extra: Mapping[str, Any] | None = None,
    returning: Sequence[str] = (),
) -> Row[Any] | None:
    """Add ``amount`` to ``column`` of the row at ``keys``, creating it (at ``amount``) if absent.

    ``extra`` columns are set on insert and on update alike; the row's ``returning`` columns,
    as they are after the change, come back (None when none are asked for).
    """
    extras = tuple(sorted(extra or {}))
    statement = _upsert_add(conn.dialect.name, table, tuple(keys), column, extras, tuple(returning))
    result = await conn.execute(statement, {**keys, column: amount, **(extra or {})})
    return result.one() if returning else None


async def upsert_add_all(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    column: str,
) -> None:
    """Do ``upsert_add`` for several rows (each holds its keys and its amount) in one call."""
    statement = _upsert_add(conn.dialect.name, table, tuple(keys), column, (), ())
    await conn.execute(statement, [dict(r) for r in rows])


@lru_cache(maxsize=256)
def _insert_ignore(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [table.c[k] for k in keys]
    return insert(table).on_conflict_do_nothing(index_elements=list(keys)).returning(*columns)


@lru_cache(maxsize=256)
def _upsert_add(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    column: str,
    extras: tuple[str, ...],
    returning: tuple[str, ...],
) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    upsert = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            column: table.c[column] + statement.excluded[column],
            **{name: statement.excluded[name] for name in extras},
        },
    )
    return upsert.returning(*(table.c[name] for name in returning)) if returning else upsert
