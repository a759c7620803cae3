"""The lecture commands (``_cog``): scheduling in the organizer's zone, relative times, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.store.tables import lecture_occurrences, members
from tests.cogs.lectures._helpers import SCHEDULE, at, say
from tests.conftest import START


async def test_scheduling_announces_at_once_in_the_organizers_zone(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    text = await say(console, SCHEDULE + " link:https://meet.example/rust")
    assert "== 📅 Intro to Rust ==" in text
    assert "Sun 2026-11-22 19:30 (Europe/Berlin) · 18:30 UTC" in text
    assert "Join here <https://meet.example/rust>" in text
    assert "Scheduled Intro to Rust (#1) and announced it." in text
    async with cohort.db.read() as conn:
        start = await conn.scalar(select(lecture_occurrences.c.start_at))
    assert start == datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
    # A member with a zone of their own schedules in it.
    async with cohort.db.write() as conn:
        await conn.execute(update(members).values(timezone="America/New_York"))
    text = await say(console, '/lecture schedule "NY talk" "2026-11-23 09:00"')
    async with cohort.db.read() as conn:
        starts = (await conn.execute(select(lecture_occurrences.c.start_at))).scalars().all()
    assert datetime(2026, 11, 23, 14, 0, tzinfo=UTC) in starts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('/lecture schedule Past "2026-11-21 10:00"', "That time has already passed"),
        ('/lecture schedule Gap "2027-03-28 02:30"', "does not exist"),
        ('/lecture schedule Bad "2027-02-30 19:00"', "is not a real date or time"),
        ('/lecture schedule Long "2026-12-01 19:00" 13h', "at most 12 hours"),
        ('/lecture schedule Link "2026-12-01 19:00" link:ftp://x', "is not a link"),
        ('/lecture schedule S "2026-12-01 19:00" repeat:weekly', "never ends"),
        ("/lecture cancel 99", "There is no lecture #99 here."),
        ("/checkin NOPE42", "does not belong to any lecture"),
    ],
)
async def test_clear_errors(console: ConsoleAdapter, line: str, expected: str) -> None:
    assert expected in await say(console, line)


async def test_members_may_not_schedule(console: ConsoleAdapter) -> None:
    assert "Only organizers may run /lecture schedule" in await say(console, SCHEDULE, user="bob")


async def test_relative_times(cohort: Cohort, console: ConsoleAdapter) -> None:
    await say(console, "/lecture schedule Soon in 2h", '/lecture schedule Later "tomorrow 19:30"')
    async with cohort.db.read() as conn:
        starts = (
            (await conn.execute(select(lecture_occurrences.c.start_at).order_by("id")))
            .scalars()
            .all()
        )
    assert starts == [START + timedelta(hours=2), at("2026-11-22 19:30")]
