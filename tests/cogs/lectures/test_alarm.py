"""The lectures alarm fires each delivery when it comes due, and re-arms when lectures change."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.lectures import Kind
from bot.cogs.lectures._service import ALARM_LONGEST
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.store.tables import lecture_deliveries
from tests.cogs.lectures._helpers import at
from tests.cogs.lectures.test_deliveries import service_of
from tests.core.test_alarm import Sleeps

LECTURE = "2026-11-23 19:30"  # Berlin; the tests' clock starts 2026-11-21 13:00 Berlin


@pytest.fixture
async def olga(cohort: Cohort) -> AsyncIterator[ConsoleAdapter]:
    """Return an organizer's console, and stop the bot's services afterwards."""
    console = ConsoleAdapter(cohort, cohort.communities["demo"], user="olga", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    try:
        yield console
    finally:
        await cohort.stop()


async def sent(cohort: Cohort) -> list[tuple[str, int]]:
    """Return the kind and offset of every delivery sent, in order."""
    async with cohort.db.read() as conn:
        rows = (
            await conn.execute(
                select(lecture_deliveries.c.kind, lecture_deliveries.c.offset_s)
                .where(lecture_deliveries.c.status == "sent")
                .order_by(lecture_deliveries.c.due_at)
            )
        ).all()
    return [(r.kind, r.offset_s) for r in rows]


async def test_the_alarm_sleeps_until_the_next_reminder_and_sends_it_then(
    cohort: Cohort, clock: ManualClock, olga: ConsoleAdapter
) -> None:
    await olga.handle_line(f'/lecture schedule "Linear algebra" "{LECTURE}"')
    assert await sent(cohort) == [(Kind.ANNOUNCE.value, 0)]
    service = service_of(cohort)
    sleeps = Sleeps()
    service.alarm.sleep = sleeps
    await service.start()
    day_before = at(LECTURE) - timedelta(hours=24)
    assert await sleeps.next_request() == ALARM_LONGEST.total_seconds()  # capped
    assert service.alarm.armed_for == day_before
    clock.advance(day_before - clock.now())  # exactly the due second
    await sleeps.wake()
    for _ in range(100):  # bounded: the alarm's sweep runs in its own task
        if len(await sent(cohort)) == 2:
            break
        await asyncio.sleep(0.01)
    assert await sent(cohort) == [(Kind.ANNOUNCE.value, 0), (Kind.REMINDER.value, 86400)]
    assert service.alarm.fired == 1
    assert await sleeps.next_request() == ALARM_LONGEST.total_seconds()
    assert service.alarm.armed_for == at(LECTURE) - timedelta(hours=1)
    assert "lectures.alarm" in cohort.supervisor.report()


async def test_scheduling_a_sooner_lecture_re_arms_the_alarm(
    cohort: Cohort, clock: ManualClock, olga: ConsoleAdapter
) -> None:
    await olga.handle_line(f'/lecture schedule "Linear algebra" "{LECTURE}"')
    service = service_of(cohort)
    sleeps = Sleeps()
    service.alarm.sleep = sleeps
    await service.start()
    await sleeps.next_request()
    assert service.alarm.armed_for == at(LECTURE) - timedelta(hours=24)
    await olga.handle_line('/lecture schedule "Calculus" "2026-11-21 13:30"')  # in 30 minutes
    for _ in range(100):
        if service.alarm.armed_for == at("2026-11-21 13:20"):  # its 10-minute reminder
            break
        await asyncio.sleep(0.01)
    assert service.alarm.armed_for == at("2026-11-21 13:20")
    assert await service.deliveries.next_due() == at("2026-11-21 13:20")
