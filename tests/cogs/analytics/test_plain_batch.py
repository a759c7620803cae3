"""The message log's batch written as plain SQL counts exactly as SQLAlchemy's path and a rebuild.

On SQLite a batch with no other work, and the fold that adds its messages to the rollups, go
straight to ``sqlite3`` (``Database.raw_write``, ``Recorder.messages_added_raw``); elsewhere, or
with that path turned off, through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.cogs import analytics
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import message_log
from tests.cogs.analytics.world import rollup_rows
from tests.conftest import make_config

NY = ZoneInfo("America/New_York")
HONOLULU = ZoneInfo("Pacific/Honolulu")  # UTC-10, no daylight saving
PEOPLE = [Caller(PlatformName.DISCORD, str(1000 + n), f"P{n}") for n in range(6)]
HERE = ChannelRef(PlatformName.DISCORD, "general")
THREAD = ChannelRef(PlatformName.DISCORD, "general", "t1")


def community(slug: str, zone: str, guild: int) -> dict[str, Any]:
    """Return one community's config."""
    return {
        "id": slug,
        "name": slug.title(),
        "locale": "en",
        "timezone": zone,
        "admins": ["console:alice"],
        "discord_guilds": [guild],
    }


@pytest.fixture(params=["plain", "sqlalchemy"])
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cohort]:
    """Return a bot with two communities west of UTC, on the plain or the SQLAlchemy path."""
    if request.param == "sqlalchemy":
        monkeypatch.setattr(Database, "raw_writes", property(lambda _: False))
    config = make_config(
        tmp_path,
        communities=[
            community("ny", "America/New_York", 111),
            community("hnl", "Pacific/Honolulu", 222),
        ],
    )
    cohort = await build(config, clock=ManualClock(datetime(2026, 11, 2, 12, tzinfo=UTC)))
    try:
        yield cohort
    finally:
        await cohort.db.close()


async def test_kept_rollups_equal_a_rebuild_after_duplicates_communities_and_late_messages(
    bot: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain: list[set[str]] = []
    raw_write = Database.raw_write

    async def counted(self: Database, work: Any, *, tables: set[str]) -> Any:
        plain.append(tables)
        return await raw_write(self, work, tables=tables)

    monkeypatch.setattr(Database, "raw_write", counted)
    ny, hnl = bot.communities["ny"], bot.communities["hnl"]
    # Around the end of daylight saving in New York (06:00 UTC on 2026-11-01) and both
    # communities' midnights; each round goes out at once, so it shares batches.
    start = datetime(2026, 11, 1, 3, tzinfo=UTC)
    sent = 0
    for round_ in range(6):
        posts = []
        for n in range(24):
            where = (ny, hnl)[n % 2]
            at = start + timedelta(minutes=50 * round_ + 7 * n)
            if n % 5 == 0:
                at -= timedelta(days=3)  # a late message: an earlier day arriving now
            message_id = f"m{round_}-{n // 3}"  # three posts share each id: one is new
            posts.append(
                bot.dispatcher.message_posted(
                    where,
                    PEOPLE[n % len(PEOPLE)],
                    THREAD if n % 4 == 0 else HERE,
                    message_id,
                    "hi",
                    at,
                )
            )
        added = await asyncio.gather(*posts)
        sent += sum(added)
        # a repeat in a later batch is no news either
        assert not await bot.dispatcher.message_posted(ny, PEOPLE[0], HERE, "m0-0", "hi", start)
    async with bot.db.read() as conn:
        logged = await conn.scalar(select(func.count()).select_from(message_log))
    assert logged == sent
    kept = await rollup_rows(bot)
    assert kept[0] and kept[1] and kept[3]
    read = 0
    for where, zone in ((ny, NY), (hnl, HONOLULU)):
        read += await analytics.rebuild(bot.db, where.id, zone)
    assert read == sent
    assert await rollup_rows(bot) == kept
    assert bool(plain) == bot.db.raw_writes  # SQLite, unless turned off: the plain path
