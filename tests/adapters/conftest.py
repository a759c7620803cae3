"""Fixtures shared by the adapter tests: the Discord demo guild, a bot that restarts fast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.adapters.discord import _shards
from bot.cogs import points
from bot.core.clock import Clock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.adapters.test_discord import adapter_of, demo_guild, start
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

# Restarts within milliseconds, and giving up after three failures in a row.
FAST_RESTARTS = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_failures": 3}


# Seconds between two IDENTIFYs of one bucket, for tests about something else than that
# spacing (a reconnect's new IDENTIFY of the same shard waits out the first one's window).
# test_discord_shards.py proves Discord's 5 seconds, against the stand-in and a manual clock.
SHORT_IDENTIFY_WINDOW = 0.5


@pytest.fixture
def short_identify_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """Shorten the IDENTIFY window of the pacers built in this test; return it."""
    monkeypatch.setattr(_shards, "IDENTIFY_WINDOW", SHORT_IDENTIFY_WINDOW)
    return SHORT_IDENTIFY_WINDOW


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Return the Discord stand-in with the demo guild."""
    async with demo_guild() as server:
        yield server


@asynccontextmanager
async def connected(config: Config, clock: Clock | None = None) -> AsyncIterator[Cohort]:
    """Build a bot from ``config``, connect its Discord adapter, and stop it all afterwards."""
    cohort = await build(config, clock=clock)
    try:
        await start(cohort)
    except BaseException:
        await cohort.db.close()
        raise
    try:
        yield cohort
    finally:
        await adapter_of(cohort).stop()
        await cohort.dispatcher.drain()
        await cohort.supervisor.close()
        await cohort.db.close()


@pytest.fixture
async def fast_bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot connected to the Discord stand-in whose supervisor restarts fast."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        supervise=FAST_RESTARTS,
    )
    async with connected(config) as cohort:
        yield cohort


async def points_of(cohort: Cohort, platform: PlatformName, user_id: int) -> int:
    """Return a person's points in the demo community."""
    demo = cohort.communities["demo"]
    account = await cohort.identity.resolve(demo.id, Caller(platform, str(user_id), "Bob"))
    return await points.balance_of(cohort.db, demo.id, account.member_id)
