"""Group commit: concurrent idempotent inserts, each caller told whether its row was new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from bot.store.batch import GroupCommit
from bot.store.db import Database
from bot.store.tables import accounts, communities, members, message_log

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEYS = ("community_id", "platform", "channel_id", "message_id")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a migrated database with one community, member and account (all id 1)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
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
