"""Each page's figures on the hand-computed New York fixture (``world.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.cogs import analytics
from bot.cogs.analytics import GrowthDay
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from tests.cogs.analytics.world import CLOCK_START, END, NY, START, play, world_config


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock at the fixture's first event."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the config of the New York community."""
    return world_config(tmp_path)


@pytest.fixture
async def world(cohort: Cohort, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return the bot after the fixture's events."""
    await play(cohort, clock)
    yield cohort


def d(month: int, day: int) -> date:
    return date(2026, month, day)


GROWTH = [
    # day, platform, total, new, left
    (d(10, 30), "", 1, 0, 0),
    (d(10, 30), "discord", 1, 0, 0),
    (d(10, 30), "telegram", 0, 0, 0),
    (d(10, 31), "", 2, 1, 0),
    (d(10, 31), "discord", 1, 0, 0),
    (d(10, 31), "telegram", 2, 2, 0),
    (d(11, 1), "", 3, 1, 0),
    (d(11, 1), "discord", 2, 1, 0),
    (d(11, 1), "telegram", 2, 0, 0),
    (d(11, 2), "", 2, 0, 1),
    (d(11, 2), "discord", 2, 0, 0),
    (d(11, 2), "telegram", 1, 0, 1),
    (d(11, 3), "", 2, 0, 0),
    (d(11, 3), "discord", 2, 0, 0),
    (d(11, 3), "telegram", 1, 0, 0),
]


async def test_growth_counts_members_per_day_and_platform(world: Cohort) -> None:
    page = await analytics.service_of(world).growth(world.communities["demo"].id, START, END, NY)
    assert page.platforms == ("discord", "telegram")
    assert page.days == tuple(GrowthDay(*row) for row in GROWTH)
    assert page.linked_members == 1
    assert page.members_total == 2
    assert [row.net for row in page.days if row.platform == ""] == [0, 1, 1, -1, 0]


async def test_activity_counts_days_in_new_york_across_the_dst_change(world: Cohort) -> None:
    page = await analytics.service_of(world).activity(world.communities["demo"].id, START, END, NY)
    assert [(a.day, a.messages, a.active_members) for a in page.days] == [
        (d(10, 30), 1, 1),
        (d(10, 31), 2, 2),
        (d(11, 1), 3, 2),  # both 01:30s and cy's 23:30 (04:30 UTC the next day)
        (d(11, 2), 0, 0),
        (d(11, 3), 1, 1),
    ]
    assert page.messages == 7
    assert page.dau == pytest.approx(6 / 5)
    assert (page.wau, page.mau) == (3, 3)
    assert page.stickiness == pytest.approx((6 / 30) / 3)
    expected = {(4, 20): 1, (5, 9): 1, (5, 11): 1, (6, 1): 2, (6, 23): 1, (1, 10): 1}
    cells = {
        (weekday, hour): n
        for weekday, row in enumerate(page.heatmap)
        for hour, n in enumerate(row)
        if n
    }
    assert cells == expected
    assert [(c.platform, c.channel_id, c.messages) for c in page.top_channels] == [
        ("discord", "general", 5),
        ("telegram", "-1001234567890", 2),
    ]
    assert [(c.name, c.messages) for c in page.top_contributors] == [
        ("Ana", 4),
        ("Cy", 2),
        ("Bo", 1),
    ]


async def test_rebuild_gives_what_was_kept_incrementally(world: Cohort) -> None:
    service = analytics.service_of(world)
    community = world.communities["demo"]
    before = (
        await service.growth(community.id, START, END, NY),
        await service.activity(community.id, START, END, NY),
    )
    assert await analytics.rebuild(world.db, community.id, NY) == 7
    after = (
        await service.growth(community.id, START, END, NY),
        await service.activity(community.id, START, END, NY),
    )
    assert after == before


async def test_a_build_without_events_has_empty_pages(cohort: Cohort) -> None:
    page = await analytics.service_of(cohort).activity(
        cohort.communities["demo"].id, START, END, NY
    )
    assert page.messages == 0 and page.mau == 0 and page.stickiness == 0.0
