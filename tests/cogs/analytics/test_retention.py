"""Retention cohorts counted in the database equal the plain count from presence and days."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.cogs import analytics
from bot.cogs.analytics import RetentionCohort
from bot.cogs.analytics._rules import local_day, week_of
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.tables import analytics_member_days, analytics_presence
from tests.cogs.analytics.world import END, NY, START, ny

GENERAL = ChannelRef(PlatformName.DISCORD, "general")
PEOPLE = [Caller(PlatformName.DISCORD, str(4000 + n), f"P{n}") for n in range(12)]


def schedule() -> list[tuple[datetime, str, int]]:
    """Return (when, "join" or "message", who) over five weeks in New York, in time order.

    Person n joins on day 3n after 2026-11-04, late in the evening for odd n (the next day in
    UTC), and writes on every (n % 4 + 2)-th day after joining, some at 23:50 local time.
    """
    events = []
    first = date(2026, 11, 4)
    for n in range(len(PEOPLE)):
        joined = first + timedelta(days=3 * n)
        events.append((ny(joined.year, joined.month, joined.day, 22 if n % 2 else 9), "join", n))
        day = joined + timedelta(days=1)
        while day <= date(2026, 12, 9):
            hour, minute = (23, 50) if (day.day + n) % 3 == 0 else (12, 0)
            events.append((ny(day.year, day.month, day.day, hour, minute), "message", n))
            day += timedelta(days=n % 4 + 2)
    return sorted(events)


async def play(bot: Cohort, clock: ManualClock) -> None:
    """Feed the schedule to the bot as the adapters would."""
    community = bot.communities["demo"]
    guild = community.config.discord_guilds[0]
    for n, (at, what, who) in enumerate(schedule()):
        clock.advance(at - clock.now())
        if what == "join":
            await bot.dispatcher.member_joined(community, PEOPLE[who], guild)
        else:
            await bot.dispatcher.message_posted(
                community, PEOPLE[who], GENERAL, f"r{n}", "hello", at
            )


async def plainly(bot: Cohort, cid: int, start: date, end: date) -> tuple[RetentionCohort, ...]:
    """Count the cohorts the slow, obvious way: first joins from presence, weeks from days."""
    p = analytics_presence.c
    d = analytics_member_days.c
    async with bot.db.read() as conn:
        joins = (await conn.execute(select(p.member_id, p.joined_at))).all()
        days = (await conn.execute(select(d.member_id, d.day).where(d.community_id == cid))).all()
    first: dict[int, datetime] = {}
    for member_id, at in joins:
        first[member_id] = min(at, first.get(member_id, at))
    joined = {m: local_day(at, NY) for m, at in first.items()}
    cohort = {m: day for m, day in joined.items() if start <= day <= end}
    weeks: dict[int, set[date]] = defaultdict(set)
    for member_id, day in days:
        if week_of(start) <= day <= end:
            weeks[member_id].add(week_of(day))
    out = []
    for monday in sorted({week_of(day) for day in cohort.values()}):
        mine = [m for m, day in cohort.items() if week_of(day) == monday]
        span = (week_of(end) - monday).days // 7 + 1
        active = tuple(
            sum(1 for m in mine if monday + timedelta(weeks=k) in weeks[m]) for k in range(span)
        )
        out.append(RetentionCohort(monday, len(mine), active))
    return tuple(out)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, END),
        (date(2026, 11, 2), date(2026, 12, 9)),
        (date(2026, 11, 9), date(2026, 11, 22)),  # a Monday to a Sunday
        (date(2026, 11, 11), date(2026, 11, 27)),  # mid-week to mid-week
        (date(2026, 12, 7), date(2026, 12, 9)),  # one cohort, joined after everyone
    ],
)
async def test_cohorts_equal_the_plain_count(
    world: Cohort, clock: ManualClock, start: date, end: date
) -> None:
    await play(world, clock)
    cid = world.communities["demo"].id
    page = await analytics.service_of(world).retention(cid, start, end, NY)
    expected = await plainly(world, cid, start, end)
    assert page.cohorts == expected
    assert sum(c.size for c in page.cohorts) > 0
