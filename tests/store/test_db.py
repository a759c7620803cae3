"""The database handle's write transactions: a bulk write's larger SQLite page cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.db import BULK_CACHE_KIB, Database
from tests import _postgres

SQLITE_DEFAULT_CACHE = -2000  # SQLite's default: 2000 KiB


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a database with one table of numbers."""
    handle = Database(_postgres.database_url(tmp_path))
    async with handle.write() as conn:
        await conn.execute(text("CREATE TABLE numbers (n INTEGER NOT NULL)"))
    try:
        yield handle
    finally:
        await handle.close()


async def cache_size(conn: AsyncConnection) -> tuple[int, Any]:
    """Return the connection's SQLite page cache setting and its driver connection."""
    raw = await conn.get_raw_connection()
    return int(await conn.scalar(text("PRAGMA cache_size"))), raw.driver_connection


async def numbers(db: Database) -> list[int]:
    async with db.read() as conn:
        return list((await conn.execute(text("SELECT n FROM numbers ORDER BY n"))).scalars())


@pytest.mark.parametrize("fails", [False, True])
async def test_a_bulk_write_has_a_large_cache_only_while_it_runs(db: Database, fails: bool) -> None:
    sqlite = db.engine.dialect.name == "sqlite"
    raised: AbstractContextManager[object] = pytest.raises(RuntimeError) if fails else nullcontext()
    used = None
    with raised:
        async with db.write(bulk=True) as conn:
            await conn.execute(text("INSERT INTO numbers (n) VALUES (1)"))
            if sqlite:
                size, used = await cache_size(conn)
                assert size == -BULK_CACHE_KIB
            if fails:
                raise RuntimeError("rolled back")
    assert await numbers(db) == ([] if fails else [1])
    if sqlite:  # the pool hands the same connection back: at SQLite's default again
        for opened in (db.read(), db.write()):
            async with opened as conn:
                assert await cache_size(conn) == (SQLITE_DEFAULT_CACHE, used)


async def test_a_plain_write_commits_rolls_back_and_survives_an_sqlite_error(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        assert db.raw_writes
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE numbers (n INTEGER NOT NULL UNIQUE)"))
        written: list[frozenset[str]] = []
        db.on_write.append(written.append)

        def add(*values: int) -> Any:
            def work(raw: Any) -> int:
                raw.executemany("INSERT INTO numbers (n) VALUES (?)", [(v,) for v in values])
                return len(values)

            return work

        assert await db.raw_write(add(1, 2), tables={"numbers"}) == 2
        with pytest.raises(IntegrityError):  # SQLite's error, as SQLAlchemy raises it
            await db.raw_write(add(3, 1), tables={"numbers"})
        with pytest.raises(ZeroDivisionError):

            def fails(raw: Any) -> None:
                raw.execute("INSERT INTO numbers (n) VALUES (4)")
                _ = 1 / 0

            await db.raw_write(fails, tables={"numbers"})
        assert await db.raw_write(add(5), tables={"numbers"}) == 1  # the connection still works
        assert await numbers(db) == [1, 2, 5]  # 3 and 4 rolled back with their transactions
        assert written == [frozenset({"numbers"})] * 2  # told after each commit only
    finally:
        await db.close()
