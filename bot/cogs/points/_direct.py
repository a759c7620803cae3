"""An award on SQLite, sent straight to the connection on its own thread (``award_in``'s path).

A message's award runs in the message log's group commit, on the SQLite connection's thread
(``bot.store.hops.in_thread``). Through SQLAlchemy its statements (ledger insert, season
lookup, balance upsert, period totals) cost hundreds of microseconds of Python, several times
what SQLite takes. Here the same statements go to ``sqlite3`` as plain SQL in the same
transaction, each value converted by its column's bind processor (``bot.store.direct``), so
the rows are those SQLAlchemy's path writes: the ledger's natural key still makes a replay
write nothing, and balance, level, level change and period totals go in with the entry.

Anything unusual (a ``balance_extra`` column the table lacks, a value a processor refuses)
returns ``None`` before a statement runs, and ``award_in`` takes SQLAlchemy's path; an error
from SQLite is raised as SQLAlchemy would raise it. PostgreSQL keeps SQLAlchemy's path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Column
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points._levels import progress
from bot.core.community import Community
from bot.store.db import note_written
from bot.store.direct import Processor, bind_processor
from bot.store.hops import raw_on_thread
from bot.store.tables import (
    points_balances,
    points_ledger,
    points_level_changes,
)

LEDGER_COLUMNS = (
    "community_id",
    "member_id",
    "delta",
    "reason",
    "source_ref",
    "actor_id",
    "note",
    "created_at",
)
ADD_ENTRY = (
    f"INSERT INTO points_ledger ({', '.join(LEDGER_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (community_id, reason, source_ref) DO NOTHING"
)
SEASON_AT = "SELECT max(number) FROM points_seasons WHERE community_id = ? AND started_at <= ?"
ADD_TOTAL = (
    "INSERT INTO points_period_totals (community_id, member_id, period, total)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (community_id, member_id, period)"
    " DO UPDATE SET total = points_period_totals.total + excluded.total"
)
SET_LEVEL = "UPDATE points_balances SET level = ? WHERE community_id = ? AND member_id = ?"
NEW_LEVEL = (
    "INSERT INTO points_level_changes"
    " (community_id, member_id, level_from, level_to, created_at) VALUES (?, ?, ?, ?, ?)"
)
WRITTEN = ("points_ledger", "points_balances", "points_period_totals")


@lru_cache(maxsize=32)
def _add_balance(extras: tuple[str, ...]) -> str:
    """Return the balance upsert setting ``extras`` too, as ``upsert_add`` builds it."""
    columns = ("community_id", "member_id", "balance", *extras)
    sets = ", ".join(
        ["balance = points_balances.balance + excluded.balance"]
        + [f"{name} = excluded.{name}" for name in extras]
    )
    return (
        f"INSERT INTO points_balances ({', '.join(columns)})"
        f" VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT (community_id, member_id) DO UPDATE SET {sets}"
        " RETURNING balance, level"
    )


# Per dialect (an engine's), per (table, column) name: found once, not for every award.
_PROCESSORS: WeakKeyDictionary[Dialect, dict[tuple[str, str], Processor]] = WeakKeyDictionary()


def _processor(column: Column[Any], dialect: Dialect) -> Processor:
    """Return ``column``'s bind processor for ``dialect``, found once."""
    known = _PROCESSORS.setdefault(dialect, {})
    key = (column.table.name, column.name)
    if key not in known:
        known[key] = bind_processor(column, dialect)
    return known[key]


def _processed(table: Any, row: Mapping[str, Any], dialect: Dialect) -> list[Any] | None:
    """Return ``row``'s values as SQLAlchemy would send them, or None if one cannot be."""
    values: list[Any] = []
    for name, given in row.items():
        if name not in table.c:
            return None
        process = _processor(table.c[name], dialect)
        if given is not None and process is not None:
            try:
                values.append(process(given))
            except Exception:  # refused: SQLAlchemy's path raises its own error
                return None
        else:
            values.append(given)
    return values


def award_direct(
    conn: AsyncConnection,
    community: Community,
    entry: Mapping[str, Any],
    *,
    periods: Sequence[str],
    season_key: Callable[[int], str],
    balance_extra: Mapping[str, Any] | None,
) -> bool | None:
    """Write ``entry`` (a ledger row) and what follows it; return whether it was new.

    None when it cannot here (not SQLite on its thread, or a value it cannot send): nothing
    was written, and the caller takes SQLAlchemy's path.
    """
    raw = raw_on_thread(conn)
    if raw is None or tuple(entry) != LEDGER_COLUMNS:
        return None
    dialect = conn.dialect
    extras = tuple(sorted(balance_extra or {}))
    ledger_values = _processed(points_ledger, entry, dialect)
    extra_values = _processed(
        points_balances, {k: (balance_extra or {})[k] for k in extras}, dialect
    )
    created = _processed(points_level_changes, {"created_at": entry["created_at"]}, dialect)
    if ledger_values is None or extra_values is None or created is None:
        return None
    community_id, member_id, delta = entry["community_id"], entry["member_id"], entry["delta"]
    sql, params = ADD_ENTRY, ledger_values
    try:
        if raw.execute(sql, params).rowcount == 0:
            return False  # a replay: the entry is there already
        sql, params = SEASON_AT, [community_id, created[0]]
        number = raw.execute(sql, params).fetchone()[0]
        sql, params = _add_balance(extras), [community_id, member_id, delta, *extra_values]
        balance, stored = raw.execute(sql, params).fetchall()[0]
        config = community.config.points
        level = progress(balance, config.curve, config.curve_step).level
        if level != stored:
            sql, params = SET_LEVEL, [level, community_id, member_id]
            raw.execute(sql, params)
            sql, params = NEW_LEVEL, [community_id, member_id, stored, level, created[0]]
            raw.execute(sql, params)
            note_written(conn, "points_level_changes")
        totals = [
            (community_id, member_id, key, delta)
            for key in (*periods, season_key(int(number or 1)))
        ]
        sql, params = ADD_TOTAL, totals
        raw.executemany(sql, totals)
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error
    for table in WRITTEN:
        note_written(conn, table)
    return True
