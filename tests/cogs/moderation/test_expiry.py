"""Timed mutes are lifted once: by one of two processes, and after a claimant died."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.moderation import Expiries
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import moderation_cases
from tests.cogs.moderation.test_commands import run
from tests.conftest import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return a config whose leases last 30 seconds."""
    return make_config(tmp_path, work={"lease": "30s"})


@pytest.fixture
async def pair(config: Config, clock: ManualClock) -> AsyncIterator[list[Cohort]]:
    """Return two bots on one database (two processes), each with its console."""
    bots = [await build(config, clock=clock) for _ in range(2)]
    for bot in bots:
        console = ConsoleAdapter(bot, bot.communities["demo"], user="olga", out=io.StringIO())
        bot.platforms[PlatformName.CONSOLE] = console
    try:
        yield bots
    finally:
        for bot in bots:
            await bot.db.close()


def console_of(bot: Cohort) -> ConsoleAdapter:
    console = bot.platforms[PlatformName.CONSOLE]
    assert isinstance(console, ConsoleAdapter)
    return console


def service_of(bot: Cohort) -> Expiries:
    job = next(j for j in bot.jobs if j.id == "moderation.expiry")
    service = getattr(job.run, "__self__", None)
    assert isinstance(service, Expiries)
    return service


async def lifts(bot: Cohort) -> list[tuple[str, str]]:
    c = moderation_cases.c
    async with bot.db.read() as conn:
        rows = (await conn.execute(select(c.action, c.expiry).order_by(c.number))).all()
    return [(r.action, r.expiry) for r in rows]


async def test_two_processes_lift_a_due_mute_once(pair: list[Cohort], clock: ManualClock) -> None:
    first, second = pair
    for user in ("bob", "olga"):
        await run(console_of(first), user, "/whoami")
    await run(console_of(first), "olga", "/mute @bob 1h noise")
    clock.advance(timedelta(hours=1))
    done = await asyncio.gather(service_of(first).sweep(), service_of(second).sweep())
    assert sorted(done) == [0, 1]
    assert await lifts(first) == [("mute", "done"), ("unmute", None)]


async def test_a_claim_whose_process_died_is_taken_over_after_its_lease(
    pair: list[Cohort], clock: ManualClock
) -> None:
    first, second = pair
    for user in ("bob", "olga"):
        await run(console_of(first), user, "/whoami")
    await run(console_of(first), "olga", "/mute @bob 1h noise")
    clock.advance(timedelta(hours=1))
    dead = service_of(first)
    c = moderation_cases.c
    async with first.db.write() as conn:  # the first process claims the row, then dies
        claimed = await dead.lease.claim(
            conn,
            moderation_cases,
            c.expiry == "pending",
            token=dead.lease.token(),
            now=clock.now(),
            order_by=[c.id],
            limit=10,
            returning=[c.id],
        )
    assert len(claimed) == 1
    assert await service_of(second).sweep() == 0  # still leased
    clock.advance(timedelta(seconds=30))
    assert await service_of(second).sweep() == 1
    assert "bob" not in console_of(second).muted
    assert await lifts(second) == [("mute", "done"), ("unmute", None)]
