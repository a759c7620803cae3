"""Members' active weeks kept over closed days: they equal the member days, and so does the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import analytics
from bot.cogs.analytics import Retention
from bot.cogs.analytics import _weeks as weeks
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import analytics_member_days, analytics_member_totals, analytics_weeks
from tests._sql import statements
from tests.cogs.analytics.test_ranges import CHANGES
from tests.cogs.analytics.test_retention import plainly
from tests.cogs.analytics.world import CY, END, GENERAL, GROUP, NY, ny

pytestmark = pytest.mark.copied_world

RANGES = [
    (date(2026, 10, 19), END),  # three weeks: two closed, the current one up to yesterday
    (date(2026, 10, 21), date(2026, 11, 1)),  # mid-week to a Sunday
    (date(2026, 10, 28), date(2026, 11, 2)),  # mid-week to yesterday, a Monday
    (date(2026, 10, 30), END),  # the world's range: mid-week to today
]


async def retention(bot: Cohort, start: date, end: date) -> Retention:
    """Return the retention page of the demo community, in its zone."""
    cid = bot.communities["demo"].id
    return await analytics.service_of(bot).retention(cid, start, end, NY)


async def kept_weeks(bot: Cohort) -> dict[date, tuple[date, set[int]]]:
    """Return each kept week's last day kept and its members."""
    w = analytics_weeks.c
    async with bot.db.read() as conn:
        rows = (await conn.execute(select(w.week_ordinal, w.last_ordinal, w.members))).all()
    out = {}
    for monday, last, members in rows:
        found = int.from_bytes(members, "little")
        ids = {i for i in range(found.bit_length()) if found >> i & 1}
        out[date.fromordinal(monday)] = (date.fromordinal(last), ids)
    return out


async def plain_weeks(bot: Cohort, kept: dict[date, tuple[date, set[int]]]) -> dict[date, set[int]]:
    """Return the members with a member-day row in each kept week up to its last day kept."""
    d = analytics_member_days.c
    async with bot.db.read() as conn:
        days = (await conn.execute(select(d.member_id, d.day))).all()
    return {
        monday: {m for m, day in days if monday <= day <= last}
        for monday, (last, _) in kept.items()
    }


async def assert_kept_weeks_are_plain(bot: Cohort) -> None:
    """Check every kept week's members against the member days."""
    kept = await kept_weeks(bot)
    assert kept
    assert {monday: ids for monday, (_, ids) in kept.items()} == await plain_weeks(bot, kept)


async def message_yesterday(bot: Cohort, _clock: ManualClock) -> None:
    """Log cy's message of yesterday, late: cy is active yesterday and today, in one week."""
    community = bot.communities["demo"]
    await bot.dispatcher.message_posted(community, CY, GENERAL, "y", "hi", ny(2026, 11, 2, 9))


async def two_days(bot: Cohort, clock: ManualClock) -> None:
    """Let a day pass with cy writing, then another: the current week is kept further."""
    clock.advance(timedelta(days=1))
    community = bot.communities["demo"]
    await bot.dispatcher.message_posted(community, CY, GENERAL, "d", "hi", clock.now())
    await retention(bot, date(2026, 10, 19), END + timedelta(days=1))
    clock.advance(timedelta(days=1))


async def merge_kept(bot: Cohort, _clock: ManualClock) -> None:
    """Link to cy a Telegram account that wrote in a closed week kept since (cy's join moves)."""
    community = bot.communities["demo"]
    telegram = Caller(PlatformName.TELEGRAM, "2003", "Cy T")
    await bot.dispatcher.message_posted(community, telegram, GROUP, "t", "hi", ny(2026, 10, 21, 9))
    for start, end in RANGES:
        await retention(bot, start, end)
    cy = await bot.identity.resolve(community.id, CY)
    code = await bot.identity.create_link_code(cy)
    mine = await bot.identity.resolve(community.id, telegram)
    await bot.identity.redeem_link_code(mine, code.code)


WEEK_CHANGES: dict[str, Callable[[Cohort, ManualClock], Awaitable[None]]] = {
    **CHANGES,
    "a message yesterday": message_yesterday,
    "two days": two_days,
    "a merge of a kept week": merge_kept,
}


@pytest.mark.parametrize("change", sorted(WEEK_CHANGES))
async def test_after_a_change_the_kept_weeks_and_the_page_equal_the_plain_count(
    world: Cohort, clock: ManualClock, change: str
) -> None:
    for start, end in RANGES:
        await retention(world, start, end)
    await WEEK_CHANGES[change](world, clock)
    cid = world.communities["demo"].id
    for start, end in RANGES:
        page = await retention(world, start, end)
        assert page.cohorts == await plainly(world, cid, start, end), (start, end)
    await assert_kept_weeks_are_plain(world)


@pytest.mark.parametrize(("start", "end"), RANGES)
async def test_the_page_equals_the_plain_count_across_the_dst_change(
    world: Cohort, start: date, end: date
) -> None:
    cid = world.communities["demo"].id
    page = await retention(world, start, end)
    assert page.cohorts == await plainly(world, cid, start, end)
    assert sum(c.size for c in page.cohorts) > 0


async def test_closed_weeks_are_kept_once_and_then_read(world: Cohort) -> None:
    first = await retention(world, date(2026, 10, 19), END)
    # Two whole weeks and the current one up to yesterday (a Monday).
    assert {monday: last for monday, (last, _) in (await kept_weeks(world)).items()} == {
        date(2026, 10, 19): date(2026, 10, 25),
        date(2026, 10, 26): date(2026, 11, 1),
        date(2026, 11, 2): date(2026, 11, 2),
    }
    with statements(world.db) as seen:
        assert await retention(world, date(2026, 10, 19), END) == first
    assert not any("INSERT INTO analytics_weeks" in sql for sql in seen)
    days = [sql for sql in seen if "FROM analytics_member_days" in sql]
    assert len(days) == 1  # today's alone


async def test_the_next_day_extends_the_current_week(
    world: Cohort, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await retention(world, date(2026, 10, 19), END)
    clock.advance(timedelta(days=1))
    read: list[tuple[date, date]] = []
    members = weeks._members

    async def noted(conn: AsyncConnection, community_id: int, first: date, last: date) -> int:
        read.append((first, last))
        return await members(conn, community_id, first, last)

    monkeypatch.setattr(weeks, "_members", noted)
    page = await retention(world, date(2026, 10, 19), END + timedelta(days=1))
    cid = world.communities["demo"].id
    assert page.cohorts == await plainly(world, cid, date(2026, 10, 19), END + timedelta(days=1))
    assert (await kept_weeks(world))[date(2026, 11, 2)][0] == END
    assert read == [(END, END)]  # the day since, not the week again
    await assert_kept_weeks_are_plain(world)


async def test_activity_before_the_join_week_counts_in_no_week(world: Cohort) -> None:
    """A member day before the week of their first join (a bulk load, a changed zone): no week's."""
    cid = world.communities["demo"].id
    t = analytics_member_totals.c
    d = analytics_member_days.c
    async with world.db.read() as conn:
        cy = (
            await conn.execute(
                select(t.member_id).where(t.joined_ordinal == date(2026, 11, 1).toordinal())
            )
        ).scalar_one()
    start, end = date(2026, 10, 19), END
    await retention(world, start, end)
    async with world.db.write() as conn:
        # Cy's day of their join (a Sunday) moved to the Wednesday of the week before.
        await conn.execute(
            update(analytics_member_days)
            .where(d.member_id == cy, d.day == date(2026, 11, 1))
            .values(day=date(2026, 10, 21))
        )
    page = await retention(world, start, end)
    assert page.cohorts == await plainly(world, cid, start, end)
    cohort = {c.week: c.active for c in page.cohorts}
    assert cohort[date(2026, 10, 26)][0] == 1  # bo and cy joined that week; only bo wrote in it
    await assert_kept_weeks_are_plain(world)


@pytest.mark.parametrize(
    ("members", "expected"),
    [([], 0), ([0], 1), ([3, 9], 0b1000001000), ([9, 3, 9], 0b1000001000), ([64], 1 << 64)],
)
def test_bits_set_a_bit_per_member(members: list[int], expected: int) -> None:
    assert weeks.bits(members) == expected


@pytest.mark.parametrize(
    ("start", "end", "today", "expected"),
    [
        # The current week up to yesterday, after two whole weeks.
        (
            date(2026, 10, 21),
            date(2026, 11, 3),
            date(2026, 11, 3),
            [
                (date(2026, 10, 19), date(2026, 10, 25)),
                (date(2026, 10, 26), date(2026, 11, 1)),
                (date(2026, 11, 2), date(2026, 11, 2)),
            ],
        ),
        # Today a Monday: last week whole, nothing of this one.
        (
            date(2026, 10, 26),
            date(2026, 11, 2),
            date(2026, 11, 2),
            [(date(2026, 10, 26), date(2026, 11, 1))],
        ),
        # A range ending mid-week in the past: its last week is read as days.
        (
            date(2026, 10, 19),
            date(2026, 10, 28),
            date(2026, 11, 3),
            [(date(2026, 10, 19), date(2026, 10, 25))],
        ),
        # Ending on a Sunday: that week whole.
        (
            date(2026, 10, 19),
            date(2026, 11, 1),
            date(2026, 11, 3),
            [(date(2026, 10, 19), date(2026, 10, 25)), (date(2026, 10, 26), date(2026, 11, 1))],
        ),
        # Today the range's first day: nothing closed.
        (
            date(2026, 11, 3),
            date(2026, 11, 3),
            date(2026, 11, 3),
            [(date(2026, 11, 2), date(2026, 11, 2))],
        ),
        (date(2026, 11, 2), date(2026, 11, 2), date(2026, 11, 2), []),
    ],
)
def test_the_weeks_kept_for_a_range(
    start: date, end: date, today: date, expected: list[tuple[date, date]]
) -> None:
    assert weeks.closed_weeks(start, end, today) == expected
