"""The WAL checkpointed beside the writers, and its file kept under a bound (SQLite only)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.checkpoint import WAL_PAGES, Checkpointer, Mode
from bot.store.db import Database

pytestmark = pytest.mark.backend_free

LIMIT = 256 * 1024  # the test's WAL limit, bytes
ROWS = 16  # rows a write
BLOB = 1000  # bytes a row: a write adds about five pages to the WAL
GROWTH = 8 * (4096 + 24)  # a write's WAL frames at most (pages and their headers)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a database on a fresh SQLite file with one table of blobs."""
    handle = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    async with handle.write() as conn:
        await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)"))
    try:
        yield handle
    finally:
        await handle.close()


def wal_size(db: Database) -> int:
    """Return the size of the database's WAL file in bytes (0 when there is none)."""
    assert db.checkpointer is not None
    try:
        return os.stat(db.checkpointer.wal).st_size
    except FileNotFoundError:
        return 0


async def write_blobs(db: Database, *, raw: bool) -> None:
    """Insert ``ROWS`` blobs in one write transaction (SQLAlchemy's or ``raw_write``'s)."""
    rows = [(os.urandom(BLOB),) for _ in range(ROWS)]
    if raw:

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO blobs (b) VALUES (?)", rows)

        await db.raw_write(work, tables={"blobs"})
        return
    async with db.write() as conn:
        await conn.execute(
            text("INSERT INTO blobs (b) VALUES (:b)"), [{"b": row[0]} for row in rows]
        )


async def test_writers_leave_checkpoints_to_the_checkpointer(db: Database) -> None:
    async with db.read() as conn:
        assert await conn.scalar(text("PRAGMA wal_autocheckpoint")) == WAL_PAGES
    assert db.checkpointer is not None
    for _ in range(3):
        await write_blobs(db, raw=False)
    assert wal_size(db) > 0
    assert not await db.checkpointer.checkpoint(Mode.PASSIVE)
    assert db.checkpointer.wal_frames > 0
    assert db.checkpointer.copied_frames == db.checkpointer.wal_frames
    assert db.checkpointer.report()["checkpoints"] == 1


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
def test_a_database_in_memory_has_no_checkpointer(url: str) -> None:
    assert Database(url).checkpointer is None


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("bounded", [True, False])
async def test_sustained_writes_with_a_reader_keep_the_wal_under_its_bound(
    db: Database, raw: bool, bounded: bool
) -> None:
    checkpointer = db.checkpointer
    assert checkpointer is not None
    # Without the bound (a limit never reached) the same writes grow the WAL past it: the
    # reader's snapshots keep every passive checkpoint from letting SQLite start it again.
    checkpointer.limit_bytes = LIMIT if bounded else 2**62
    checkpointer.wait_ms = 0  # a truncation a reader holds up gives up at once (retried)
    reader = sqlite3.connect(checkpointer.path, isolation_level=None)
    largest = 0
    try:
        for _ in range(40):
            # A reader's snapshot is open across three writes, then let go for one; passive
            # checkpoints copy what they can meanwhile (what the checkpointer's loop runs).
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM blobs").fetchone()
            for _ in range(3):
                await write_blobs(db, raw=raw)
                largest = max(largest, wal_size(db))
                assert not await checkpointer.checkpoint(Mode.PASSIVE)
            reader.execute("COMMIT")
            await write_blobs(db, raw=raw)
            largest = max(largest, wal_size(db))
    finally:
        reader.close()
    slack = 5 * GROWTH  # the writes a held snapshot spans, and one more
    if bounded:
        assert largest <= LIMIT + slack
        assert checkpointer.truncations > 0
    else:
        assert largest > 2 * (LIMIT + slack)
        assert checkpointer.truncations == 0
    assert checkpointer.checkpoints > 0


async def test_a_closed_checkpointer_stops_and_runs_nothing(db: Database) -> None:
    checkpointer = db.checkpointer
    assert checkpointer is not None
    running = asyncio.create_task(checkpointer.run())
    await write_blobs(db, raw=True)
    await checkpointer.close()
    await running  # it returns once closed
    assert not await checkpointer.checkpoint(Mode.TRUNCATE)
    done = checkpointer.checkpoints
    await write_blobs(db, raw=False)  # writes go on, checkpointed by SQLite past WAL_PAGES
    assert checkpointer.checkpoints == done


def test_the_path_is_the_urls_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    found = Database(f"sqlite+aiosqlite:///{path}").checkpointer
    assert isinstance(found, Checkpointer)
    assert found.path == str(path)
    assert found.wal == f"{path}-wal"
