"""SQLite under asyncio: one thread hop a statement, and a whole batch in one hop."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.batch import GroupCommit
from bot.store.db import Database
from bot.store.hops import NotOnThread, in_thread
from bot.store.tables import accounts, communities, members, message_log
from tests.store.test_batch import KEYS, message

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a migrated SQLite database with the rows ``message`` points at."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await database.upgrade()
    async with database.write() as conn:
        await conn.execute(insert(communities).values(id=1, slug="c", name="C", created_at=NOW))
        await conn.execute(insert(members).values(id=1, community_id=1, created_at=NOW))
        await conn.execute(
            insert(accounts).values(
                id=1,
                community_id=1,
                member_id=1,
                platform="console",
                platform_user_id="u",
                display_name="U",
                created_at=NOW,
                last_seen_at=NOW,
            )
        )
    try:
        yield database
    finally:
        await database.close()


def hops(db: Database) -> int:
    """Return the database's hop count (it is SQLite here)."""
    assert db.hops is not None
    return db.hops


async def members_count(db: Database) -> int:
    """Return how many members are stored."""
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(members)) or 0)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (0, 0),  # a transaction that ran nothing: no BEGIN, no COMMIT, no ROLLBACK
        (1, 2),  # BEGIN rides with the statement; then COMMIT
        (3, 4),
    ],
)
async def test_a_statement_is_one_hop(db: Database, statements: int, expected: int) -> None:
    await members_count(db)  # the pool holds a connection already
    before = hops(db)
    async with db.write() as conn:
        for n in range(statements):
            await conn.execute(insert(members).values(id=10 + n, community_id=1, created_at=NOW))
    assert hops(db) - before == expected
    assert await members_count(db) == 1 + statements


async def test_a_read_is_one_hop_with_its_rows(db: Database) -> None:
    await members_count(db)
    before = hops(db)
    async with db.read() as conn:
        rows = (await conn.execute(select(members.c.id, members.c.community_id))).all()
    assert [tuple(r) for r in rows] == [(1, 1)]
    assert hops(db) - before == 2  # BEGIN + SELECT, then COMMIT; the pool's reset costs none


async def test_a_failed_write_rolls_back_and_the_connection_is_clean(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
            await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
    assert await members_count(db) == 1
    async with db.write() as conn:  # the same pooled connection holds no transaction
        await conn.execute(insert(members).values(id=3, community_id=1, created_at=NOW))
    assert await members_count(db) == 2


async def test_an_exception_after_statements_rolls_them_back(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.write() as conn:
            await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
            raise LookupError("changed my mind")
    assert await members_count(db) == 1


async def add_two(conn: AsyncConnection) -> list[int]:
    """Insert two members and read them back: several statements, all on ``conn``."""
    for member_id in (2, 3):
        await conn.execute(insert(members).values(id=member_id, community_id=1, created_at=NOW))
    rows = await conn.execute(select(members.c.id).where(members.c.id > 1).order_by(members.c.id))
    return [int(r.id) for r in rows]


@pytest.mark.parametrize("commit", [True, False])
async def test_in_thread_runs_a_whole_transaction_in_one_hop(db: Database, commit: bool) -> None:
    await members_count(db)
    before = hops(db)
    async with db.write() as conn:
        assert await in_thread(conn, add_two, commit=commit) == [2, 3]
    # one hop for the work; without ``commit`` the COMMIT is a second one
    assert hops(db) - before == (1 if commit else 2)
    assert await members_count(db) == 3


async def test_in_thread_refuses_work_that_awaits_something_else(db: Database) -> None:
    async def wanders(conn: AsyncConnection) -> None:
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
        await asyncio.sleep(0)

    with pytest.raises(NotOnThread):
        async with db.write() as conn:
            await in_thread(conn, wanders, commit=True)
    assert await members_count(db) == 1  # its first statement was rolled back
    async with db.write() as conn:  # and the connection works on
        assert await in_thread(conn, add_two, commit=True) == [2, 3]


async def test_in_thread_passes_the_work_s_own_errors_through(db: Database) -> None:
    async def clashes(conn: AsyncConnection) -> None:
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))

    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await in_thread(conn, clashes, commit=True)
    assert await members_count(db) == 1


async def test_group_commit_writes_a_batch_with_its_hooks_in_one_hop(db: Database) -> None:
    group = GroupCommit(db, message_log, KEYS)
    counted: list[int] = []

    async def count(conn: AsyncConnection, rows: list[Any]) -> None:
        counted.append(len(rows))
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))

    group.after_insert.append(count)
    await members_count(db)
    before = hops(db)
    added = await asyncio.gather(*(group.insert(message(f"m{n}")) for n in range(30)))
    assert added == [True] * 30
    assert (group.batches, counted) == (1, [30])
    assert hops(db) - before == 1
    assert await members_count(db) == 2


async def test_group_commit_falls_back_when_a_hook_awaits_something_else(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    group = GroupCommit(db, message_log, KEYS)
    counted: list[int] = []

    async def wanders(conn: AsyncConnection, rows: list[Any]) -> None:
        await asyncio.sleep(0)
        counted.append(len(rows))
        await conn.execute(
            insert(members).values(id=1 + len(counted), community_id=1, created_at=NOW)
        )

    group.after_insert.append(wanders)
    assert await asyncio.gather(*(group.insert(message(f"m{n}")) for n in range(5))) == [True] * 5
    assert await group.insert(message("later")) is True
    assert counted == [5, 1]  # nothing lost, nothing counted twice
    assert await members_count(db) == 3
    assert "cannot run on the database thread" in caplog.text


async def test_a_stream_first_in_a_transaction_reads_in_it(db: Database) -> None:
    """A server-side cursor bypasses the one-hop cursor: the BEGIN must go before it."""
    async with db.read() as conn:
        streamed = await conn.stream(select(func.count()).select_from(members))
        assert [tuple(r) async for r in streamed] == [(1,)]
        async with db.write() as other:  # another connection commits meanwhile
            await other.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
        # the read transaction began before the stream: it still sees its snapshot
        assert await conn.scalar(select(func.count()).select_from(members)) == 1
    assert await members_count(db) == 2


async def test_in_thread_work_sees_the_caller_s_context_variables(db: Database) -> None:
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")
    request.set("r-17")

    async def tagged(conn: AsyncConnection) -> str:
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
        return request.get()

    async with db.write() as conn:
        assert await in_thread(conn, tagged, commit=True) == "r-17"
    assert await members_count(db) == 2
