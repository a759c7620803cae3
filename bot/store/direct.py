"""A batch's idempotent insert sent straight to SQLite's own connection, on its thread.

The message log's group commit runs its batch on the SQLite connection's thread
(``bot.store.hops.in_thread``). Through SQLAlchemy its many-row ``INSERT … ON CONFLICT DO
NOTHING RETURNING`` costs tens of microseconds of Python a row (parameter dicts, type
processing, the many-values rewrite, a result row per key), several times what SQLite takes.
Here the same statement, without ``RETURNING``, goes to ``sqlite3``'s ``executemany`` with
each value converted by the column type's own SQLAlchemy bind processor (so it is stored
exactly as SQLAlchemy would store it), in the same transaction.

Which rows were new is found without ``RETURNING``: the transaction holds SQLite's write lock,
so the rows the statement added are exactly those whose rowid is above the table's largest
before it (a new rowid is the largest plus one). When every row was new (``rowcount``), that
is not even asked. The answer is one flag a row, in the rows' order: of rows sharing a key,
only the first can be the one written.

Anything unusual (a column the table lacks, rows of different shapes, a Python-side default,
an explicit rowid, a value a processor refuses) returns ``None`` before a statement runs, and
the caller takes SQLAlchemy's path, which raises what it raises; an error from SQLite is
raised as SQLAlchemy would raise it (``IntegrityError`` and its siblings).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Integer, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from bot.store.types import UTCDateTime, sqlite_text

Processor = Callable[[Any], Any] | None
ROWID_ROOM = 2**62  # far below SQLite's largest rowid, where new rowids stop growing


def bind_processor(column: Column[Any], dialect: Dialect) -> Processor:
    """Return how a value of ``column`` is sent: its type's SQLAlchemy bind processor, or ours.

    ``UTCDateTime`` on SQLite gets ``sqlite_text``, when it writes what SQLAlchemy writes.
    """
    general: Processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(column.type, UTCDateTime) and general is not None:
        sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-5)))
        if dialect.name == "sqlite" and general(sample) == sqlite_text(sample):
            return sqlite_text
    return general


def _one(name: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row[name],)


class _Shape:
    """The SQL and the value processors for rows holding one set of columns."""

    __slots__ = ("columns", "key_at", "processors", "sql", "values")

    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]

    def __init__(
        self, table: Table, columns: tuple[str, ...], keys: tuple[str, ...], dialect: Dialect
    ) -> None:
        self.columns = columns
        self.key_at = tuple(columns.index(k) for k in keys)
        found = [bind_processor(table.c[name], dialect) for name in columns]
        # only the columns with one are visited for each row (most have none)
        self.processors = tuple((at, p) for at, p in enumerate(found) if p is not None)
        # A row's values in the columns' order, in C (a quarter of a comprehension's time).
        self.values = itemgetter(*columns) if len(columns) > 1 else partial(_one, columns[0])
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        self.sql = (
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
            f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
        )


class DirectInsert:
    """``insert_ignore_returning`` for one table and key, on the raw ``sqlite3`` connection."""

    def __init__(self, table: Table, keys: Sequence[str]) -> None:
        self.table = table
        self.keys = tuple(keys)
        self._shapes: dict[tuple[str, ...], _Shape | None] = {}
        primary = list(table.primary_key.columns)
        self._rowid: str | None = None
        if len(primary) == 1 and isinstance(primary[0].type, Integer):
            self._rowid = primary[0].name  # an INTEGER PRIMARY KEY is SQLite's rowid

    def _shape(self, columns: tuple[str, ...], dialect: Dialect) -> _Shape | None:
        if columns in self._shapes:
            return self._shapes[columns]
        table, shape = self.table, None
        usable = (
            self._rowid is not None
            and self._rowid not in columns
            and all(name in table.c for name in columns)
            and all(key in columns for key in self.keys)
            and not any(  # a default SQLAlchemy would fill in Python
                c.default is not None for c in table.c if c.name not in columns
            )
        )
        if usable:
            shape = _Shape(table, columns, self.keys, dialect)
        self._shapes[columns] = shape
        return shape

    def takes(self, row: Mapping[str, Any], dialect: Dialect) -> bool:
        """Tell whether rows of ``row``'s columns can go this way (their values aside)."""
        return self._shape(tuple(row), dialect) is not None

    def insert(
        self, raw: sqlite3.Connection, dialect: Dialect, rows: Sequence[Mapping[str, Any]]
    ) -> list[bool] | None:
        """Insert ``rows`` skipping existing keys; return which were written, or None if it cannot.

        Of rows sharing a key, only the first can be written (the others are repeats).
        """
        columns = tuple(rows[0])
        shape = self._shape(columns, dialect)
        if shape is None:
            return None
        processors, take, width = shape.processors, shape.values, len(columns)
        try:
            values: list[Sequence[Any]] = []
            for row in rows:
                if len(row) != width:
                    return None
                if not processors:
                    values.append(take(row))  # KeyError: another shape
                    continue
                got = list(take(row))
                for at, process in processors:
                    if got[at] is not None:
                        got[at] = process(got[at])
                values.append(got)
        except Exception:  # a value its type refuses: SQLAlchemy's path raises its own error
            return None
        top: int | None = None
        if len(rows) > 1:  # one row was new or not: ``rowcount`` says which
            top = raw.execute(f"SELECT max({self._rowid}) FROM {self.table.name}").fetchone()[0]
            if top is not None and top >= ROWID_ROOM:
                return None
        try:
            added = raw.executemany(shape.sql, values).rowcount
            if added == len(rows):  # every row was written: no two shared a key
                return [True] * added
            if added == 0:
                return [False] * len(rows)
            names = ", ".join(self.keys)
            stored = raw.execute(
                f"SELECT {names} FROM {self.table.name} WHERE {self._rowid} > ?",
                (-(2**63) if top is None else top,),
            ).fetchall()
        except sqlite3.Error as error:
            raise DBAPIError.instance(shape.sql, values, error, sqlite3.Error) from error
        # The stored keys are the processed values, as each row's own were sent.
        new = {tuple(found) for found in stored}
        written: list[bool] = []
        for value in values:
            key = tuple(value[i] for i in shape.key_at)
            written.append(key in new)
            new.discard(key)  # a repeat of the key later in the batch was not the one written
        return written
