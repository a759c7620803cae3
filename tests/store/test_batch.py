"""Group commit: concurrent idempotent inserts, each caller told whether its row was new."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.batch import GroupCommit
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import accounts, communities, members, message_log
from tests._sql import statements

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEYS = ("community_id", "platform", "channel_id", "message_id")


async def seeded(path: Path) -> Database:
    """Return a migrated database with one community, member and account (all id 1)."""
    database = Database(f"sqlite+aiosqlite:///{path}")
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
    return database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a seeded database (``seeded``)."""
    database = await seeded(tmp_path / "b.db")
    try:
        yield database
    finally:
        await database.close()


def message(message_id: str, member_id: int = 1) -> dict[str, object]:
    """Return a message_log row."""
    return {
        "community_id": 1,
        "member_id": member_id,
        "account_id": 1,
        "platform": "console",
        "channel_id": "general",
        "message_id": message_id,
        "text": f"text {message_id}",
        "posted_at": NOW,
    }


async def test_concurrent_duplicates_are_new_exactly_once(db: Database) -> None:
    writer = GroupCommit(db, message_log, KEYS, max_batch=7)
    ids = [str(i % 40) for i in range(200)]  # each id five times
    results = await asyncio.gather(*(writer.insert(message(i)) for i in ids))
    new_per_id: dict[str, int] = {}
    for message_id, new in zip(ids, results, strict=True):
        new_per_id[message_id] = new_per_id.get(message_id, 0) + int(new)
    assert set(new_per_id.values()) == {1}
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(message_log)) == 40
    assert await writer.insert(message("0")) is False


async def test_one_bad_row_fails_alone(db: Database) -> None:
    writer = GroupCommit(db, message_log, KEYS)
    await writer.insert(message("first"))  # so that the next ones queue behind a write
    good, bad, dup = await asyncio.gather(
        writer.insert(message("a")),
        writer.insert(message("b", member_id=999)),
        writer.insert(message("a")),
        return_exceptions=True,
    )
    assert (good, dup) == (True, False)
    assert isinstance(bad, IntegrityError)
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(message_log)) == 2


async def test_work_rides_in_the_batch_transaction_and_a_failure_costs_only_itself(
    db: Database,
) -> None:
    writer = GroupCommit(db, message_log, KEYS)

    async def count(conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.count()).select_from(message_log)) or 0)

    async def broken(conn: AsyncConnection) -> int:
        await conn.execute(insert(members).values(id=1, community_id=1, created_at=NOW))
        return 0

    first = writer.insert(message("first"))
    seen, new, failed = await asyncio.gather(
        writer.run(count), first, writer.run(broken), return_exceptions=True
    )
    assert new is True
    assert seen == 1  # the work ran after the batch's insert
    assert isinstance(failed, IntegrityError)  # and the broken work failed alone
    assert writer.batches >= 1


async def test_writers_answered_together_form_one_batch(db: Database) -> None:
    writer = GroupCommit(db, message_log, KEYS)

    async def sender(n: int) -> None:
        for i in range(5):
            await writer.insert(message(f"{n}-{i}"))

    await asyncio.gather(*(sender(n) for n in range(20)))
    assert writer.batches == 5  # 100 rows: five batches of 20, not ten taking turns


async def test_after_insert_hooks_see_only_new_rows_and_a_failing_one_loses_nothing(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    group = GroupCommit(db, message_log, KEYS)
    seen: list[str] = []

    async def keep(conn: object, rows: list[Any]) -> None:
        seen.extend(str(row["message_id"]) for row in rows)

    async def fail(conn: Any, rows: list[Any]) -> None:
        await conn.execute(insert(members).values(id=2, community_id=1, created_at=NOW))
        raise RuntimeError("a broken rollup")

    group.after_insert.extend([keep, fail])
    assert await asyncio.gather(*(group.insert(message(m)) for m in ("a", "b", "a"))) == [
        True,
        True,
        False,
    ]
    assert await group.insert(message("b")) is False
    assert seen == ["a", "b"]
    async with db.read() as conn:
        logged = await conn.scalar(select(func.count()).select_from(message_log))
        members_now = await conn.scalar(select(func.count()).select_from(members))
    assert (logged, members_now) == (2, 1)  # the failed hook's own write was undone
    assert "after-insert hook" in caplog.text and "a broken rollup" in caplog.text
    assert seen == ["a", "b"]  # the rows written again without hooks are not seen twice


def logged_inserts(seen: list[str]) -> list[str]:
    """The message-log inserts SQLAlchemy sent (the direct path sends none through it)."""
    return [sql for sql in seen if sql.lstrip().upper().startswith("INSERT INTO MESSAGE_LOG")]


async def stored(db: Database) -> list[tuple[Any, ...]]:
    """Return the message log as SQLite stores it (text, not SQLAlchemy's processed values)."""
    async with db.read() as conn:
        result = await conn.exec_driver_sql("SELECT * FROM message_log ORDER BY id")
        return [tuple(row) for row in result]


async def test_a_batch_goes_straight_to_sqlite_and_stores_what_sqlalchemy_stores(
    db: Database, tmp_path: Path
) -> None:
    zone = timezone(timedelta(hours=-5))
    empty = {"thread_id": None, "reply_to_message_id": None}  # the dispatcher's rows have all
    rows = [
        message("a") | {"thread_id": "t1", "reply_to_message_id": "r", "text": "日本語 ✓"},
        message("b") | empty | {"posted_at": datetime(2026, 11, 21, 7, 0, 0, 5, tzinfo=zone)},
        message("c") | empty | {"posted_at": NOW.replace(microsecond=0)},
    ]
    written: list[frozenset[str]] = []
    db.on_write.append(written.append)
    group = GroupCommit(db, message_log, KEYS)
    with statements(db) as seen:
        assert await asyncio.gather(*(group.insert(row) for row in rows)) == [True] * 3
    assert logged_inserts(seen) == []  # not through SQLAlchemy
    assert any("message_log" in tables for tables in written)  # the caches are told as before

    other = await seeded(tmp_path / "other.db")
    try:
        async with other.write() as conn:
            await insert_ignore_returning(conn, message_log, rows, keys=KEYS)
        assert await stored(db) == await stored(other)
    finally:
        await other.close()
    async with db.read() as conn:
        back = (await conn.execute(select(message_log).order_by(message_log.c.id))).all()
    assert [r.posted_at for r in back] == [row["posted_at"] for row in rows]  # aware, same instant
    assert back[0].posted_at.tzinfo is not None and back[1].thread_id is None


async def test_duplicates_in_a_batch_and_across_batches_are_new_once_on_the_direct_path(
    db: Database,
) -> None:
    seen_by_hook: list[str] = []

    async def hook(conn: object, rows: list[Any]) -> None:
        seen_by_hook.extend(str(row["message_id"]) for row in rows)

    group = GroupCommit(db, message_log, KEYS)
    group.after_insert.append(hook)
    with statements(db) as seen:
        assert await group.insert(message("old")) is True
        first = await asyncio.gather(*(group.insert(message(m)) for m in ("x", "old", "x", "y")))
        again = await asyncio.gather(*(group.insert(message(m)) for m in ("y", "z", "x")))
        alone = await group.insert(message("z"))
    assert first == [True, False, False, True]
    assert again == [False, True, False]
    assert alone is False
    assert seen_by_hook == ["old", "x", "y", "z"]  # each new row once, in order
    assert logged_inserts(seen) == []
    assert [row[7] for row in await stored(db)] == ["old", "x", "y", "z"]


async def test_unusual_rows_fall_back_and_errors_are_sqlalchemy_s(db: Database) -> None:
    group = GroupCommit(db, message_log, KEYS)
    await group.insert(message("first"))
    naive = message("naive") | {"posted_at": NOW.replace(tzinfo=None)}
    with statements(db) as seen:
        with pytest.raises(StatementError, match="naive datetime") as refused:
            await group.insert(naive)  # refused by its type: SQLAlchemy's path, SQLAlchemy's error
        assert await group.insert(message("given id") | {"id": 77}) is True
    assert "RETURNING" in str(refused.value)  # SQLAlchemy's statement refused it, not ours
    assert len(logged_inserts(seen)) == 1  # the row with its own id went through SQLAlchemy
    with statements(db) as seen:
        good, bad = await asyncio.gather(
            group.insert(message("good")),
            group.insert(message("bad", member_id=999)),
            return_exceptions=True,
        )
    assert good is True
    assert isinstance(bad, IntegrityError) and isinstance(bad.orig, sqlite3.IntegrityError)
    assert logged_inserts(seen) == []  # the failed batch and its rows alone: all direct
    assert [row[0] for row in await stored(db)] == [1, 77, 78]


async def test_a_batch_with_plain_sql_hooks_skips_sqlalchemy_in_one_hop(db: Database) -> None:
    through_sqlalchemy: list[str] = []
    plain: list[list[str]] = []

    async def hook(conn: object, rows: list[Any]) -> None:
        through_sqlalchemy.extend(str(row["message_id"]) for row in rows)

    def raw_hook(raw: sqlite3.Connection, rows: list[Any]) -> bool:
        plain.append([str(row["message_id"]) for row in rows])
        raw.execute("UPDATE communities SET name = name || '+' WHERE id = 1")  # in the batch
        return True

    group = GroupCommit(db, message_log, KEYS)
    group.add_hook(hook, raw=raw_hook)
    hops = db.hops or 0
    with statements(db) as seen:
        first = await asyncio.gather(*(group.insert(message(m)) for m in ("x", "y", "x")))
        again = await asyncio.gather(*(group.insert(message(m)) for m in ("y", "z")))
    assert (first, again) == ([True, True, False], [False, True])
    assert seen == []  # not one statement through SQLAlchemy
    assert (db.hops or 0) - hops == group.batches == 2  # one hop a batch
    assert plain == [["x", "y"], ["z"]] and through_sqlalchemy == []
    assert [row[7] for row in await stored(db)] == ["x", "y", "z"]
    async with db.read() as conn:
        assert await conn.scalar(select(communities.c.name)) == "C++"


@pytest.mark.parametrize("how", ["declines", "raises"])
async def test_a_plain_hook_that_declines_or_fails_costs_no_row(
    db: Database, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    through_sqlalchemy: list[str] = []

    async def hook(conn: object, rows: list[Any]) -> None:
        through_sqlalchemy.extend(str(row["message_id"]) for row in rows)

    def raw_hook(raw: sqlite3.Connection, rows: list[Any]) -> bool:
        raw.execute("UPDATE communities SET name = 'changed' WHERE id = 1")  # undone below
        if how == "raises":
            raise RuntimeError("a broken plain rollup")
        return False

    group = GroupCommit(db, message_log, KEYS)
    group.add_hook(hook, raw=raw_hook)
    assert await asyncio.gather(*(group.insert(message(m)) for m in ("a", "b", "a"))) == [
        True,
        True,
        False,
    ]
    # Declined: the batch is written through SQLAlchemy with the hook's own form. Failed: it
    # is written again without hooks (logged), as a failing hook's batch always was.
    assert through_sqlalchemy == (["a", "b"] if how == "declines" else [])
    assert ("a broken plain rollup" in caplog.text) == (how == "raises")
    assert [row[7] for row in await stored(db)] == ["a", "b"]
    async with db.read() as conn:
        assert await conn.scalar(select(communities.c.name)) == "C"


async def test_committed_callbacks_hear_of_each_batch_after_it_ended(db: Database) -> None:
    group = GroupCommit(db, message_log, KEYS)
    written: list[object] = []
    heard: list[int] = []  # rows written when told
    told_before: list[int] = []  # how often told when a batch's hook ran

    async def hook(conn: object, rows: list[Any]) -> None:
        told_before.append(len(heard))
        written.extend(rows)

    group.after_insert.append(hook)
    group.committed.append(lambda: heard.append(len(written)))
    assert await group.insert(message("a")) is True
    await asyncio.gather(*(group.insert(message(m)) for m in ("b", "c")))
    assert told_before == [0, 1]  # never told of a batch before it was written
    assert heard == [1, 3]  # told once after each batch
