"""Q&A reminders, pings, dormancy and bounties fire on their second from the qa.alarm timer."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.alarm import Timer, find_timer
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from tests.cogs.qa._helpers import ASK, BOB, post, say
from tests.conftest import START, make_config, output
from tests.core.test_alarm import Sleeps

QUESTIONS = ChannelRef(PlatformName.CONSOLE, "questions", "thread-1")


async def armed_for(timer: Timer, sleeps: Sleeps, expected: datetime) -> datetime | None:
    """Wait (a bounded number of re-arms) until the alarm sleeps towards ``expected``."""
    for _ in range(20):
        if timer.alarm.armed_for == expected:
            break
        await sleeps.next_request()
    return timer.alarm.armed_for


@pytest.fixture
async def bot(tmp_path: Path, clock: ManualClock) -> AsyncIterator[tuple[Cohort, ConsoleAdapter]]:
    """Return a bot with a Q&A channel and its console."""
    config = make_config(tmp_path, community={"qa": {"channels": ["console:questions"]}})
    cohort = await build(config, clock=clock)
    console = ConsoleAdapter(cohort, cohort.communities["demo"], user="alice", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    try:
        yield cohort, console
    finally:
        await find_timer(cohort.startup, "qa.alarm").stop()
        await cohort.db.close()


async def test_the_unanswered_reminder_goes_out_on_its_second(
    bot: tuple[Cohort, ConsoleAdapter], clock: ManualClock
) -> None:
    cohort, console = bot
    timer = find_timer(cohort.startup, "qa.alarm")
    sleeps = Sleeps()
    timer.alarm.sleep = sleeps
    await timer.start()
    assert await sleeps.next_request() == timedelta(minutes=5).total_seconds()  # nothing due
    assert timer.alarm.armed_for is None
    await say(console, "alice", "general", ASK)  # the question re-arms it
    reminder = START + timedelta(hours=24)
    assert await armed_for(timer, sleeps, reminder) == reminder
    await post(cohort, BOB, "101", "Use the wheel", QUESTIONS)  # answered: a ping in 3 days
    ping = START + timedelta(days=3)
    assert await armed_for(timer, sleeps, ping) == ping
    await say(console, "alice", "general", "/ask Nobody knows this either")
    assert await armed_for(timer, sleeps, reminder) == reminder
    clock.advance(reminder - START)
    output(console)
    await sleeps.wake()
    for _ in range(100):  # bounded: the timer's sweep runs in its own task
        if "Still unanswered" in console.out.getvalue():  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert "Still unanswered: Nobody knows this either (#2)" in output(console)
    assert timer.alarm.fired == 1
    assert await armed_for(timer, sleeps, ping) == ping  # the ping comes next
    assert "qa.alarm" in cohort.supervisor.report()
