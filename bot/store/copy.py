"""Copy a whole Cohort database to another (SQLite to PostgreSQL, or back), then verify it.

The target is migrated to the head revision and must hold no rows; the source must be at the
head revision already (``cohort db upgrade`` first). Tables go over in foreign-key order, in
primary-key pages, inside one write transaction on the target, so a failed copy leaves the
target empty. The Q&A search index (FTS5 on SQLite, ``qa_search`` on PostgreSQL) is rebuilt
from the source's, and PostgreSQL's id sequences are moved past the copied ids. Then every
table is read back from both sides: the row counts and a SHA-256 over each row's values
(normalised: aware datetimes in UTC, booleans, JSON with sorted keys) must match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Table, func, insert, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import fts
from bot.store.db import Database, head_revision
from bot.store.tables import metadata

PAGE = 1000


class CopyError(Exception):
    """The copy was refused or did not verify; the message says why."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table's rows and checksum, the same on both sides."""

    name: str
    rows: int
    checksum: str


def normalise_url(url: str) -> str:
    """Give a bare ``sqlite:///`` or ``postgresql://`` URL the async driver Cohort uses."""
    for bare, driven in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(bare):
            return driven + url[len(bare) :]
    return url


# Derived rows the copy does not carry: the target's own triggers write cache versions as the
# rows go in (bot/core/versions.py), and any value serves a fresh database; the analytics
# ranges are sums the dashboard makes again on its first request (migration 0025); the log of
# rows deleted from the revenue ledger serves only processes that kept a ledger read before the
# deletion, and a new database has none (migration 0036_ledger_deletions), nor has it pruned
# any (``ledger_pruned``, migration 0037_ledger_prunes).
DERIVED = frozenset(
    {
        "cache_versions",
        "analytics_ranges",
        "analytics_range_members",
        "ledger_deletions",
        "ledger_pruned",
    }
)
# Derived columns: the marks of each row's last change the target's triggers write as the rows
# go in (numbers of one database's own, migration 0034_ledger_marks).
DERIVED_COLUMNS = frozenset({"ledger_mark"})


def tables() -> list[Table]:
    """Return the tables a copy carries, parents first."""
    return [t for t in metadata.sorted_tables if t.name not in DERIVED]


async def copy_database(
    source_url: str,
    target_url: str,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCopy]:
    """Copy every table from ``source_url`` to the empty ``target_url``; return what matched."""
    source = Database(normalise_url(source_url))
    target = Database(normalise_url(target_url))
    try:
        revision = await source.current_revision()
        if revision != head_revision():
            raise CopyError(
                f"the source is at revision {revision or 'none'}, not {head_revision()}: "
                "run `cohort db upgrade` on it first"
            )
        await target.upgrade()
        async with target.read() as conn:
            filled = [t.name for t in tables() if await _count(conn, t)]
            filled += ["qa search index"] if await fts.indexed_count(conn) else []
        if filled:
            raise CopyError(f"the target is not empty ({', '.join(filled)}): copy into a new one")
        async with source.read() as src, target.write() as dst:
            for table in tables():
                copied = 0
                async for page in _pages(src, table):
                    await dst.execute(insert(table), [_carried(row._mapping) for row in page])
                    copied += len(page)
                if progress is not None:
                    progress(table.name, copied)
            await fts.write_index(dst, await fts.read_index(src))
            if dst.dialect.name == "postgresql":
                await _advance_sequences(dst)
        return await verify(source, target)
    finally:
        await source.close()
        await target.close()


async def verify(source: Database, target: Database) -> list[TableCopy]:
    """Compare every table's row count and checksum on both sides; raise CopyError if any differ."""
    async with source.read() as src, target.read() as dst:
        copies: list[TableCopy] = []
        wrong: list[str] = []
        for table in tables():
            ours = await checksum(src, table)
            theirs = await checksum(dst, table)
            if ours != theirs:
                wrong.append(f"{table.name} ({ours[0]} rows, {theirs[0]} copied)")
            copies.append(TableCopy(table.name, *ours))
        index_ours = sorted(await fts.read_index(src))
        index_theirs = sorted(await fts.read_index(dst))
        if index_ours != index_theirs:
            wrong.append(f"qa search index ({len(index_ours)} rows, {len(index_theirs)} copied)")
    if wrong:
        raise CopyError(f"the copy differs from the source: {', '.join(wrong)}")
    return copies


async def checksum(conn: AsyncConnection, table: Table) -> tuple[int, str]:
    """Return a table's row count and the SHA-256 of its rows in primary-key order."""
    digest = hashlib.sha256()
    rows = 0
    async for page in _pages(conn, table):
        for row in page:
            digest.update(_canonical(row._mapping).encode())
            digest.update(b"\n")
            rows += 1
    return rows, digest.hexdigest()


def _carried(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Return what a copy carries of a row: every column but the derived ones."""
    return {str(k): v for k, v in row.items() if k not in DERIVED_COLUMNS}


def _canonical(row: Mapping[Any, Any]) -> str:
    """Return a row as text that is the same whichever database it was read from."""
    return json.dumps(
        {k: _value(v) for k, v in _carried(row).items()}, sort_keys=True, ensure_ascii=False
    )


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _pages(conn: AsyncConnection, table: Table) -> AsyncIterator[Sequence[Row[Any]]]:
    """Yield a table's rows in primary-key order, PAGE at a time (keyset paging)."""
    key = list(table.primary_key.columns)
    last: tuple[Any, ...] | None = None
    while True:
        query = select(table).order_by(*key).limit(PAGE)
        if last is not None:
            query = query.where(tuple_(*key) > tuple_(*last))
        page = (await conn.execute(query)).all()
        if not page:
            return
        yield page
        last = tuple(row._mapping[c.name] for c in key for row in page[-1:])
        if len(page) < PAGE:
            return


async def _advance_sequences(conn: AsyncConnection) -> None:
    """Move each PostgreSQL id sequence past the largest id copied in."""
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        await conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
            ),
            {"table": table.name, "column": column.name},
        )
