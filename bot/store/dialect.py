"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
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
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    columns = [table.c[k] for k in keys]
    statement = insert(table).on_conflict_do_nothing(index_elements=list(keys)).returning(*columns)
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
) -> None:
    """Add ``amount`` to ``column`` of the row at ``keys``, creating it (at ``amount``) if absent.

    ``extra`` columns are set on insert and on update alike.
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = {**keys, column: amount, **(extra or {})}
    statement = insert(table).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: table.c[column] + amount, **(extra or {})},
    )
    await conn.execute(statement)
