"""Member sums kept for the closed days of a range: the pages equal the plain sums, always."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import analytics
from bot.cogs.analytics import (
    Activity,
    Engagement,
    Members,
    MemberSort,
    Recommender,
    Segment,
)
from bot.cogs.analytics import _ranges as ranges
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.core.privacy import Requester
from bot.store.tables import analytics_member_totals, analytics_range_members, analytics_ranges
from tests._sql import statements
from tests.cogs.analytics.world import ANA_D, CY, END, GENERAL, NY, START, ny

pytestmark = pytest.mark.copied_world

Pages = tuple[Engagement, Members, Activity, Recommender]


async def pages(bot: Cohort) -> Pages:
    """Return the pages that read kept ranges: engagement, members, activity, recommender."""
    service = analytics.service_of(bot)
    cid = bot.communities["demo"].id
    return (
        await service.engagement(cid, START, END, NY),
        await service.members(cid, START, END, NY, sort=MemberSort.ENGAGEMENT, segment=Segment.ALL),
        await service.activity(cid, START, END, NY),
        await service.recommender(cid, START, END, NY),
    )


async def plain(bot: Cohort, monkeypatch: pytest.MonkeyPatch) -> Pages:
    """Return the same pages summing every member day of the range (no range kept)."""
    with monkeypatch.context() as patch:

        async def nothing_kept(*_args: object) -> date | None:
            return None

        patch.setattr(analytics.Analytics, "_keep_closed_days", nothing_kept)
        return await pages(bot)


async def kept_ranges(bot: Cohort) -> list[tuple[date, date]]:
    """Return the ranges kept."""
    r = analytics_ranges.c
    async with bot.db.read() as conn:
        found = (await conn.execute(select(r.first_ordinal, r.last_ordinal))).all()
    return [(date.fromordinal(a), date.fromordinal(b)) for a, b in found]


async def test_the_closed_days_are_summed_once_and_then_read(world: Cohort) -> None:
    first = await pages(world)
    assert await kept_ranges(world) == [(START, END - timedelta(days=1))]
    with statements(world.db) as seen:
        assert await pages(world) == first
    assert not any("INSERT INTO analytics_range_members" in sql for sql in seen)
    assert any("analytics_range_members" in sql for sql in seen)


async def late_message(bot: Cohort, _clock: ManualClock) -> None:
    """Log a message posted two days ago (a platform delivering it late)."""
    community = bot.communities["demo"]
    await bot.dispatcher.message_posted(
        community, CY, GENERAL, "late", "sorry, late", ny(2026, 11, 1, 22)
    )


async def new_member_late(bot: Cohort, _clock: ManualClock) -> None:
    """Log a late message of someone never seen: a new member-day row on a closed day."""
    community = bot.communities["demo"]
    who = Caller(PlatformName.DISCORD, "6001", "Late Lou")
    await bot.dispatcher.message_posted(community, who, GENERAL, "lou", "hi", ny(2026, 10, 31, 9))


async def merge(bot: Cohort, _clock: ManualClock) -> None:
    """Link cy's new Telegram account, which wrote on a closed day, to cy."""
    community = bot.communities["demo"]
    telegram = Caller(PlatformName.TELEGRAM, "2003", "Cy T")
    group = ChannelRef(PlatformName.TELEGRAM, "-1001234567890")
    await bot.dispatcher.message_posted(community, telegram, group, "cyt", "hi", ny(2026, 11, 2, 9))
    await pages(bot)  # the range is kept again, with the Telegram account as its own member
    cy = await bot.identity.resolve(community.id, CY)
    code = await bot.identity.create_link_code(cy)
    mine = await bot.identity.resolve(community.id, telegram)
    await bot.identity.redeem_link_code(mine, code.code)


async def erase(bot: Cohort, _clock: ManualClock) -> None:
    """Erase ana (her days are kept under an anonymous id)."""
    cid = bot.communities["demo"].id
    ana = (await bot.identity.resolve(cid, ANA_D)).member_id
    await bot.privacy.erase(cid, ana, Requester.SELF)


async def rebuild(bot: Cohort, _clock: ManualClock) -> None:
    """Recount the rollups from the message log."""
    await analytics.rebuild(bot.db, bot.communities["demo"].id, NY)


async def newcomer(bot: Cohort, _clock: ManualClock) -> None:
    """Let someone never seen join today: a new member with a stay, no days."""
    community = bot.communities["demo"]
    who = Caller(PlatformName.DISCORD, "6002", "New Nia")
    await bot.dispatcher.member_joined(community, who, community.config.discord_guilds[0])


async def leave(bot: Cohort, _clock: ManualClock) -> None:
    """Let cy leave today: their stay now ends today."""
    community = bot.communities["demo"]
    await bot.dispatcher.member_left(community, CY, community.config.discord_guilds[0])


async def leave_and_return(bot: Cohort, clock: ManualClock) -> None:
    """Let cy leave, then come back an hour later: present again."""
    await leave(bot, clock)
    await pages(bot)
    clock.advance(timedelta(hours=1))
    community = bot.communities["demo"]
    await bot.dispatcher.member_joined(community, CY, community.config.discord_guilds[0])


async def next_day(_bot: Cohort, clock: ManualClock) -> None:
    """Let a day pass: today's days close."""
    clock.advance(timedelta(days=1))


CHANGES: dict[str, Callable[[Cohort, ManualClock], Awaitable[None]]] = {
    "a late message": late_message,
    "a late first message": new_member_late,
    "a merge": merge,
    "an erasure": erase,
    "a rebuild": rebuild,
    "the next day": next_day,
    "a newcomer": newcomer,
    "a leave": leave,
    "a leave and a return": leave_and_return,
}


async def test_a_range_asked_for_twice_at_once_is_made_once(
    world: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engagement page asks for its scores and the recommender's reach at once: both can
    # find the range missing. The second write, once its turn comes, reads the range the first
    # made instead of making it again (about half a second at 100,000 members).
    service = analytics.service_of(world)
    cid = world.communities["demo"].id
    last = END - timedelta(days=1)
    write = world.db.write
    both_looked = asyncio.Barrier(2)

    @asynccontextmanager
    async def after_both_looked(*, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        await both_looked.wait()  # each found no range before either writes
        async with write(bulk=bulk) as conn:
            yield conn

    with monkeypatch.context() as patch, statements(world.db) as seen:
        patch.setattr(world.db, "write", after_both_looked)
        await asyncio.gather(*(ranges.keep(world.db, cid, START, last) for _ in range(2)))
    assert sum("INSERT INTO analytics_range_members" in sql for sql in seen) == 1
    assert await kept_ranges(world) == [(START, last)]
    at_once = await asyncio.gather(
        service.engagement(cid, START, END, NY), service.recommender(cid, START, END, NY)
    )
    assert list(at_once) == [
        await service.engagement(cid, START, END, NY),
        await service.recommender(cid, START, END, NY),
    ]


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_after_a_change_the_pages_equal_the_plain_sums(
    world: Cohort, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    await pages(world)
    await CHANGES[change](world, clock)
    assert await pages(world) == await plain(world, monkeypatch)
    assert len(await kept_ranges(world)) == 1  # older ranges of the community went


async def test_a_range_holds_a_row_per_member_with_their_stay(world: Cohort) -> None:
    await pages(world)
    m = analytics_range_members.c
    t = analytics_member_totals.c
    async with world.db.read() as conn:
        kept = (await conn.execute(select(m.member_id, m.joined_ordinal, m.left_ordinal))).all()
        stays = (await conn.execute(select(t.member_id, t.joined_ordinal, t.left_ordinal))).all()
    assert sorted(kept) == sorted(stays)
    assert len(kept) == 3  # ana, bo (who left) and cy


@pytest.mark.parametrize("change", ["a newcomer", "a leave", "a leave and a return"])
async def test_a_stay_changed_after_the_range_was_kept_is_written_to_it(
    world: Cohort, clock: ManualClock, change: str
) -> None:
    await pages(world)
    await CHANGES[change](world, clock)
    m = analytics_range_members.c
    t = analytics_member_totals.c
    async with world.db.read() as conn:
        kept = (await conn.execute(select(m.member_id, m.joined_ordinal, m.left_ordinal))).all()
        stays = (await conn.execute(select(t.member_id, t.joined_ordinal, t.left_ordinal))).all()
    assert sorted(kept) == sorted(stays)


async def test_with_a_range_kept_the_pages_read_no_member_totals(world: Cohort) -> None:
    await pages(world)
    with statements(world.db) as seen:
        await pages(world)
    scored = [sql for sql in seen if "analytics_range_members" in sql]
    assert scored
    assert not any("analytics_member_totals" in sql for sql in scored)


async def test_the_activity_pages_leaders_come_from_the_kept_range(world: Cohort) -> None:
    await pages(world)
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).activity(cid, START, END, NY)
    assert [c.name for c in page.top_contributors] == ["Ana", "Cy", "Bo"]
    leaders = [sql for sql in seen if "analytics_range_members" in sql]
    assert len(leaders) == 1 and "LIMIT" in leaders[0]


async def test_the_recommender_counts_present_members_from_the_kept_range(world: Cohort) -> None:
    await pages(world)
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).recommender(cid, START, END, NY)
    assert (page.members, page.members_with_suggestions) == (2, 2)
    counted = [sql for sql in seen if "analytics_range_members" in sql]
    assert len(counted) == 1
    assert not any("analytics_presence" in sql for sql in seen)


async def test_messages_today_leave_the_kept_range_and_its_stays_alone(
    world: Cohort, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message path only adds to member-day counts (no range trigger watches them) and
    # upserts a member's totals on their first message of a day (the stay trigger's WHEN is
    # false unless the first join moves): the kept range stays, and is not made again.
    await pages(world)
    community = world.communities["demo"]
    for n, who in enumerate((CY, CY, ANA_D, ANA_D)):
        await world.dispatcher.message_posted(community, who, GENERAL, f"t{n}", "hi", clock.now())
    with statements(world.db) as seen:
        kept = await pages(world)
    assert not any("INSERT INTO analytics_range_members" in sql for sql in seen)
    assert await kept_ranges(world) == [(START, END - timedelta(days=1))]
    assert kept == await plain(world, monkeypatch)


async def test_the_sweep_keeps_the_default_range_after_local_midnight(
    world: Cohort, clock: ManualClock
) -> None:
    """The scheduled job makes the day's range, so the first page of the day only reads it."""
    assert any(job.id == "analytics.ranges" for job in world.jobs)
    clock.advance(ny(2026, 11, 4, 0, 1) - clock.now())  # a minute after midnight in New York
    today = date(2026, 11, 4)
    first = today - timedelta(days=ranges.KEPT_DAYS - 1)
    await sweep(world)
    assert await kept_ranges(world) == [(first, today - timedelta(days=1))]
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        await analytics.service_of(world).engagement(cid, first, today, NY)
    assert not any("INSERT INTO analytics_range_members" in sql for sql in seen)
    await sweep(world)  # nothing changed: the range is still good, not made again
    assert await kept_ranges(world) == [(first, today - timedelta(days=1))]


async def test_a_range_changed_by_a_late_message_is_made_again_by_the_sweep(
    world: Cohort, clock: ManualClock
) -> None:
    await sweep(world)
    await late_message(world, clock)
    with statements(world.db) as seen:
        await sweep(world)
    assert any("INSERT INTO analytics_range_members" in sql for sql in seen)
    cid = world.communities["demo"].id
    first = END - timedelta(days=ranges.KEPT_DAYS - 1)
    with statements(world.db) as seen:
        await analytics.service_of(world).engagement(cid, first, END, NY)
    assert not any("INSERT INTO analytics_range_members" in sql for sql in seen)


async def sweep(bot: Cohort) -> None:
    """Run the scheduled job keeping the ranges, as the scheduler would."""
    job = next(job for job in bot.jobs if job.id == "analytics.ranges")
    await job.run()
