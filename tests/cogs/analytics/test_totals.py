"""The totals beside the rollups: active members counted either way, and erasure."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from bot.cogs import analytics
from bot.cogs.analytics import _pages as pages
from bot.core.cohort import Cohort
from bot.core.privacy import Requester
from bot.store.tables import analytics_member_days, analytics_member_totals
from tests.cogs.analytics.world import ANA_D, END, NY, START

pytestmark = pytest.mark.copied_world


def d(month: int, day: int) -> date:
    """Return a day of 2026."""
    return date(2026, month, day)


async def distinct_active(bot: Cohort, cid: int, first: date, last: date) -> int:
    """Count the members with a member-day row from ``first`` to ``last``, the plain way."""
    m = analytics_member_days.c
    async with bot.db.read() as conn:
        found = await conn.scalar(
            select(func.count(func.distinct(m.member_id))).where(
                m.community_id == cid, m.day >= first, m.day <= last
            )
        )
    return int(found or 0)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (START, END),  # reaches the latest day: the member totals' index range
        (d(11, 1), END),
        (END, END),
        (START, d(11, 1)),  # ends earlier: the member days, distinct
        (d(10, 31), d(11, 2)),
        (d(10, 1), d(10, 29)),  # before anything happened
    ],
)
async def test_active_members_either_way_equal_the_distinct_count(
    world: Cohort, first: date, last: date
) -> None:
    cid = world.communities["demo"].id
    async with world.db.read() as conn:
        found = await pages.active_members(conn, cid, first, last)
    assert found == await distinct_active(world, cid, first, last)


async def test_erasure_keeps_the_totals_nameless_and_the_pages_agree(world: Cohort) -> None:
    cid = world.communities["demo"].id
    ana = (await world.identity.resolve(cid, ANA_D)).member_id
    service = analytics.service_of(world)
    before = await service.activity(cid, START, END, NY)
    await world.privacy.erase(cid, ana, Requester.SELF)
    t = analytics_member_totals.c
    async with world.db.read() as conn:
        assert await conn.scalar(select(func.count()).where(t.member_id == ana)) == 0
        kept = (await conn.execute(select(t).where(t.community_id == cid))).all()
    nameless = [r for r in kept if r.joined_ordinal is None]
    assert [(r.first_day, r.left_ordinal) for r in nameless] == [(d(10, 30), None)]  # ana's
    after = await service.activity(cid, START, END, NY)
    assert (after.messages, after.mau) == (before.messages, before.mau)  # still counted
    # Ana is gone from the engagement page's population (her stay went), both ways alike.
    in_sql = await service._engagement_in_sql(cid, START, END, NY)
    assert in_sql == await service._engagement_of_rows(cid, START, END, NY)
    assert ana not in {m.member_id for m in in_sql.most_engaged}
