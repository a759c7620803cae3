"""The members list by engagement ranks the kept range's rows, then reads the page's members."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.cogs import analytics
from bot.cogs.analytics import MemberSort, Segment
from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _top as top
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests._sql import queries, statements
from tests.cogs.analytics.world import END, GENERAL, NY, START

pytestmark = pytest.mark.copied_world

KEPT = END - timedelta(days=1)


async def test_the_page_is_read_for_its_members_alone(world: Cohort) -> None:
    """Points and each member's look-ups are read for the page's rows, not every account."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    everyone = await svc.members(cid, START, END, NY)
    with statements(world.db) as seen:
        page = await svc.members(cid, START, END, NY, offset=1, limit=2)
    assert page.rows == everyone.rows[1:3]
    assert page.total == everyone.total == 5
    listed = [sql for sql in queries(seen) if "points_balances" in sql]
    assert len(listed) == 1
    assert "accounts.member_id IN (" in listed[0]
    # The ranking reads the kept range (its members scored per request, its steady totals)
    # and no points; the page's rows alone are read with them.
    ranking = [sql for sql in queries(seen) if "FROM analytics_range_members" in sql]
    assert ranking
    assert not any("points_balances" in sql for sql in ranking if sql != listed[0])


@pytest.mark.parametrize("today", [False, True])
async def test_every_cut_equals_the_list_over_every_member(
    world: Cohort, clock: ManualClock, today: bool
) -> None:
    """Each offset and limit, the zero scores and the members with no stay row included."""
    svc = analytics.service_of(world)
    community = world.communities["demo"]
    cid = community.id
    if today:  # someone new writes today: a live day, a stay row with none kept before
        who = Caller(PlatformName.DISCORD, "6003", "Today Tia")
        await world.dispatcher.member_joined(community, who, community.config.discord_guilds[0])
        await world.dispatcher.message_posted(community, who, GENERAL, "tia", "hi", clock.now())
    await svc.members(cid, START, END, NY)  # keeps the range of the closed days
    since, until = rules.window(START, END, NY)
    async with world.db.read() as conn:
        for offset in range(7):
            for limit in (0, 1, 2, 3, 50):
                slow = await ranked.listing(
                    conn,
                    cid,
                    ranked.scoring(cid, START, END, since, until, kept=KEPT),
                    start=START,
                    end=END,
                    sort=MemberSort.ENGAGEMENT,
                    segment=Segment.ALL,
                    paying=set(),
                    offset=offset,
                    limit=limit,
                )
                fast = await top.listing(
                    conn,
                    cid,
                    START,
                    END,
                    since,
                    until,
                    kept=KEPT,
                    sort=MemberSort.ENGAGEMENT,
                    segment=Segment.ALL,
                    paying=set(),
                    offset=offset,
                    limit=limit,
                )
                assert fast == slow, (offset, limit)
                if offset == 0 and limit == 50:
                    assert 0 < fast.rows[0][0].score > fast.rows[-1][0].score == 0
                    assert len(fast.rows) == fast.total == (6 if today else 5)
