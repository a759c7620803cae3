"""Moderation cases per New York day across the DST change, failed apart, people vs automod."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial

import pytest
from sqlalchemy import insert

from bot.cogs import analytics
from bot.cogs.analytics import ModerationDay, WeeklyReport
from bot.cogs.analytics._cog import headline
from bot.core.cohort import Cohort
from bot.store.tables import moderation_cases
from tests.cogs.analytics.world import ANA_D, BO, END, NY, START, ny

# action, source, state, created_at. DST ends 2026-11-01 at 02:00 EDT (01:00 EST).
CASES = [
    ("warn", "moderator", "done", ny(2026, 10, 29, 23, 59)),  # the day before the range
    ("warn", "moderator", "done", ny(2026, 10, 31, 23, 59)),  # 03:59 UTC on 11-01
    ("mute", "escalation", "done", ny(2026, 11, 1, 0, 0)),  # local midnight exactly
    ("ban", "moderator", "failed", ny(2026, 11, 1, 1, 30)),  # the first 01:30 (EDT)
    ("delete", "automod", "done", ny(2026, 11, 1, 1, 30, fold=1)),  # the second 01:30 (EST)
    ("warn", "automod", "done", ny(2026, 11, 1, 23, 59)),  # 04:59 UTC on 11-02
    ("kick", "moderator", "done", ny(2026, 11, 2, 0, 0)),
    ("unmute", "expiry", "done", ny(2026, 11, 3, 12, 0)),
    ("ban", "moderator", "done", ny(2026, 11, 4, 0, 0)),  # the day after the range
]

COUNTS = ("warn", "mute", "unmute", "kick", "ban", "unban", "purge", "slowmode", "delete")
ZERO = dict.fromkeys((*COUNTS, "done", "people", "automod", "automatic", "failed"), 0)


def day(on: date, **counts: int) -> ModerationDay:
    return ModerationDay(on, **{**ZERO, **counts})


async def add_cases(bot: Cohort, cases: list[tuple[str, str, str, datetime]]) -> None:
    """Write moderation cases against Bo, ordered by Ana."""
    community = bot.communities["demo"]
    ana = (await bot.identity.resolve(community.id, ANA_D)).member_id
    bo = (await bot.identity.resolve(community.id, BO)).member_id
    async with bot.db.write() as conn:
        for number, (action, source, state, at) in enumerate(cases, start=1):
            await conn.execute(
                insert(moderation_cases).values(
                    community_id=community.id,
                    number=number,
                    action=action,
                    source=source,
                    member_id=bo,
                    moderator_id=ana if source == "moderator" else None,
                    reason="fixture",
                    created_at=at,
                    state=state,
                )
            )


async def test_cases_count_on_their_new_york_day_by_action_and_by_who(world: Cohort) -> None:
    await add_cases(world, CASES)
    service = analytics.service_of(world)
    page = await service.moderation(world.communities["demo"].id, START, END, NY)
    assert page.days == (
        day(date(2026, 10, 30)),
        day(date(2026, 10, 31), warn=1, done=1, people=1),
        day(date(2026, 11, 1), mute=1, delete=1, warn=1, done=3, automod=2, automatic=1, failed=1),
        day(date(2026, 11, 2), kick=1, done=1, people=1),
        day(date(2026, 11, 3), unmute=1, done=1, automatic=1),
    )
    assert page.totals == day(
        START,
        warn=2,
        mute=1,
        kick=1,
        unmute=1,
        delete=1,
        done=6,
        people=2,
        automod=2,
        automatic=2,
        failed=1,
    )


async def test_no_cases_is_a_row_of_zeros_per_day(world: Cohort) -> None:
    service = analytics.service_of(world)
    page = await service.moderation(world.communities["demo"].id, START, END, NY)
    assert [d.done for d in page.days] == [0] * 5
    assert page.totals == day(START)


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("en", "🛡️ Moderation: warnings **2** · mutes **1** · kicks **1** · bans **0**"),
        ("zh_CN", "🛡️ 管理：警告 **2** 次 · 禁言 **1** 次 · 踢出 **1** 次 · 封禁 **0** 次"),
    ],
)
async def test_the_stats_headline_counts_warnings_mutes_kicks_and_bans(
    world: Cohort, locale: str, line: str
) -> None:
    await add_cases(world, CASES)
    page = await analytics.service_of(world).overview(world.communities["demo"].id, START, END, NY)
    assert headline(partial(world.i18n.text, locale), page)[-1] == line


async def test_the_weekly_report_counts_the_weeks_moderation(world: Cohort) -> None:
    await add_cases(world, CASES)
    report = WeeklyReport(world)
    reply = await report.render(world.communities["demo"], date(2026, 11, 2), with_image=False)
    # 11-02 .. 11-08: the kick at midnight 11-02, the unmute on 11-03 and the ban on 11-04.
    assert reply.text.splitlines()[-1] == (
        "🛡️ Moderation: warnings **0** · mutes **0** · kicks **1** · bans **1**"
    )
