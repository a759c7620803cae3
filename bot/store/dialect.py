"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, Table, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.visitors import InternalTraversal


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


def _keyed_by_shape(insert: type[Any]) -> list[tuple[str, Any]]:
    """Return ``insert``'s cache-key traversal with the ON CONFLICT clause named by ``_shape``."""
    kept = [(n, kind) for n, kind in insert._traverse_internals if n != "_post_values_clause"]
    return [*kept, ("_shape", InternalTraversal.dp_string)]


class _SqliteInsert(sqlite.Insert):
    """SQLite's INSERT whose ON CONFLICT clause is named by a token in its cache key.

    SQLAlchemy does not cache dialect INSERTs with ON CONFLICT (the clause has no cache key),
    so each execution compiled them again. Ours are built once per shape (the ``lru_cache``
    below) and carry a token that names that shape, which makes them cacheable.
    """

    inherit_cache = True
    _cache_key_traversal = _keyed_by_shape(sqlite.Insert)
    _shape = ""


class _PostgresInsert(postgresql.Insert):
    """PostgreSQL's INSERT, cacheable the same way (see ``_SqliteInsert``)."""

    inherit_cache = True
    _cache_key_traversal = _keyed_by_shape(postgresql.Insert)
    _shape = ""


def _insert(dialect: str, table: Table) -> Any:
    return _PostgresInsert(table) if dialect == "postgresql" else _SqliteInsert(table)


@lru_cache(maxsize=256)
def _insert_ignore(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    columns = [table.c[k] for k in keys]
    statement = _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))
    statement = statement.returning(*columns)
    statement._shape = repr(("ignore", table.name, keys))
    return statement


@lru_cache(maxsize=256)
def _upsert_add(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    column: str,
    extras: tuple[str, ...],
    returning: tuple[str, ...],
) -> Any:
    statement = _insert(dialect, table)
    upsert = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            column: table.c[column] + statement.excluded[column],
            **{name: statement.excluded[name] for name in extras},
        },
    )
    upsert = upsert.returning(*(table.c[name] for name in returning)) if returning else upsert
    upsert._shape = repr(("add", table.name, keys, column, extras, returning))
    return upsert


async def upsert_add_columns(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    columns: Sequence[str],
    least: Sequence[str] = (),
    greatest: Sequence[str] = (),
) -> None:
    """Add each row's ``columns`` to the row at its ``keys``, creating it if absent (one call).

    Each of the ``least`` (``greatest``) columns becomes the lesser (greater) of the row's and
    the existing value (the row's where the existing one is missing).
    """
    if not rows:
        return
    statement = _upsert_add_columns(
        conn.dialect.name, table, tuple(keys), tuple(columns), tuple(least), tuple(greatest)
    )
    if len(rows) == 1:
        await conn.execute(statement, dict(rows[0]))
    else:
        await conn.execute(statement, [dict(r) for r in rows])


async def upsert_add_columns_returning(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    columns: Sequence[str],
) -> list[Row[Any]]:
    """Do ``upsert_add_columns`` and return each row's ``keys`` and ``columns`` as now stored."""
    if not rows:
        return []
    statement = _upsert_add_columns_returning(conn.dialect.name, table, tuple(keys), tuple(columns))
    if len(rows) == 1:
        result = await conn.execute(statement, dict(rows[0]))
    else:
        result = await conn.execute(statement, [dict(r) for r in rows])
    return list(result.all())


async def upsert_keep_least(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    column: str,
) -> None:
    """Insert each row, or lower ``column`` of the existing row at its ``keys`` to the row's."""
    if not rows:
        return
    statement = _upsert_least(conn.dialect.name, table, tuple(keys), column)
    if len(rows) == 1:
        await conn.execute(statement, dict(rows[0]))
    else:
        await conn.execute(statement, [dict(r) for r in rows])


@lru_cache(maxsize=256)
def _upsert_add_columns(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    least: tuple[str, ...] = (),
    greatest: tuple[str, ...] = (),
) -> Any:
    statement = _insert(dialect, table)
    values: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in columns}
    for name in least:  # a missing (NULL) value gives way to the row's
        new, old = statement.excluded[name], table.c[name]
        values[name] = case((old.is_(None), new), (new < old, new), else_=old)
    for name in greatest:
        new, old = statement.excluded[name], table.c[name]
        values[name] = case((old.is_(None), new), (new > old, new), else_=old)
    upsert = statement.on_conflict_do_update(index_elements=list(keys), set_=values)
    upsert._shape = repr(("add_columns", table.name, keys, columns, least, greatest))
    return upsert


@lru_cache(maxsize=256)
def _upsert_add_columns_returning(
    dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    upsert = _upsert_add_columns(dialect, table, keys, columns).returning(
        *(table.c[name] for name in (*keys, *columns))
    )
    upsert._shape = repr(("add_columns_returning", table.name, keys, columns))
    return upsert


@lru_cache(maxsize=256)
def _upsert_least(dialect: str, table: Table, keys: tuple[str, ...], column: str) -> Any:
    statement = _insert(dialect, table)
    new, old = statement.excluded[column], table.c[column]
    upsert = statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: case((new < old, new), else_=old)}
    )
    upsert._shape = repr(("least", table.name, keys, column))
    return upsert
