"""/stats on the console and the simulated platforms, the chart, and the weekly report."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.adapters.console import ConsoleAdapter
from bot.cogs._fonts import load_font
from bot.cogs.analytics import DayCount, WeeklyReport
from bot.cogs.analytics._chart import render_chart
from bot.cogs.analytics._report import due_week
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import analytics_reports
from tests.cogs.analytics.world import ny, world_config
from tests.cogs.points.test_card import missing
from tests.conftest import output

REPORTING = {"analytics": {"weekly_report": True, "report_channel": "console:admin"}}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the New York community with the weekly report on, to the console's #admin."""
    return world_config(tmp_path, **REPORTING)


def console_of(bot: Cohort, user: str, name: PlatformName = PlatformName.CONSOLE) -> ConsoleAdapter:
    adapter = ConsoleAdapter(
        bot, bot.communities["demo"], user=user, out=io.StringIO(), echo=True, name=name
    )
    bot.platforms.setdefault(name, adapter)
    return adapter


async def say(console: ConsoleAdapter, line: str) -> str:
    await console.handle_line(line)
    return output(console)


async def test_stats_shows_the_headline_figures(world: Cohort) -> None:
    printed = await say(console_of(world, "olga"), "/stats 2026-10-30..2026-11-03")
    assert "Community stats · 2026-10-30 – 2026-11-03" in printed
    assert "Members: 2 · 2 joined · 1 left" in printed
    assert "Messages: 7 · active members: 3 · daily active (average): 1.2" in printed
    assert "Questions: 3 asked · 1 solved" in printed
    assert "Monthly recurring revenue: 65.00 USD" in printed
    assert "Moderation: warnings 0 · mutes 0 · kicks 0 · bans 0" in printed
    assert "[image:" not in printed  # the console shows text


async def test_stats_defaults_to_the_last_30_days_in_the_community_zone(world: Cohort) -> None:
    # The clock is at 10:00 on 2026-11-03 in New York.
    printed = await say(console_of(world, "olga"), "/stats")
    assert "Community stats · 2026-10-05 – 2026-11-03" in printed


async def test_stats_draws_a_chart_on_telegram(world: Cohort) -> None:
    telegram = console_of(world, "500", PlatformName.TELEGRAM)  # an organizer there
    printed = await say(telegram, "/stats 7d")
    assert "[image: stats-2026-10-28-2026-11-03.png]" in printed


@pytest.mark.parametrize(
    ("user", "line", "answer"),
    [
        ("bob", "/stats", "Only organizers may run /stats."),
        ("olga", "/stats soon", "“soon” is not a period."),
        ("olga", "/stats 2026-11-05..2026-11-01", "The period ends (2026-11-01) before it starts"),
        ("olga", "/stats 900d", "A period spans at most 731 days."),
    ],
)
async def test_stats_refusals(world: Cohort, user: str, line: str, answer: str) -> None:
    assert answer in await say(console_of(world, user), line)


async def test_stats_in_chinese(world: Cohort) -> None:
    console = console_of(world, "olga")
    await say(console, "/lang zh")
    printed = await say(console, "/stats 2026-10-30..2026-11-03")
    assert "社区数据 · 2026-10-30 – 2026-11-03" in printed
    assert "成员：2 人 · 新加入 2 人 · 离开 1 人" in printed


def test_the_chart_is_a_png_and_draws_chinese_labels() -> None:
    days = [DayCount(date(2026, 11, d), d * 3 % 7) for d in range(1, 31)]
    data = render_chart("社区数据 · 2026-11", "成员", "每日消息", days, days, font_path=None)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (800, 64 + 2 * 200 + 44 + 28)
    assert missing(load_font(None, 20), "社区数据成员每日消息") == []
    assert render_chart("empty", "a", "b", [], [], font_path=None).startswith(b"\x89PNG")


# --- the weekly report -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "week"),
    [
        (ny(2026, 11, 9, 8, 59), None),  # Monday before 09:00: last week's is not due yet
        (ny(2026, 11, 9, 9, 0), "2026-11-02"),  # exactly the hour
        (ny(2026, 11, 15, 23, 59), "2026-11-02"),  # late in the week: still last week's
        (ny(2026, 11, 2, 9, 0), "2026-10-26"),  # the first Monday after the clocks went back
        (ny(2026, 11, 2, 8, 30), None),  # 13:30 UTC: a UTC clock would say it is due
    ],
)
async def test_the_report_is_due_from_the_day_and_hour_in_the_community_zone(
    cohort: Cohort, local: object, week: str | None
) -> None:
    assert isinstance(local, datetime)
    found = due_week(local, cohort.communities["demo"])
    assert (found.isoformat() if found else None) == week


async def test_the_weekly_report_goes_out_once(world: Cohort, clock: ManualClock) -> None:
    admin = console_of(world, "olga")
    first, second = WeeklyReport(world), WeeklyReport(world)  # two processes
    clock.advance(ny(2026, 11, 9, 8, 59) - clock.now())
    assert await first.sweep() == 0
    clock.advance(timedelta(minutes=1))
    assert await first.sweep() == 1
    assert await first.sweep() == 0
    assert await second.sweep() == 0
    printed = output(admin)
    assert printed.count("Weekly report · 2026-11-02 – 2026-11-08") == 1
    assert "[#admin] cohort:" in printed
    assert "Members: 2 · 0 joined · 1 left" in printed  # bo left that week (cy came before)


async def test_a_claim_left_by_a_dead_process_is_taken_over(
    world: Cohort, clock: ManualClock
) -> None:
    admin = console_of(world, "olga")
    clock.advance(ny(2026, 11, 9, 9) - clock.now())
    async with world.db.write() as conn:  # a process claimed it and died before sending
        await conn.execute(
            analytics_reports.insert().values(
                community_id=world.communities["demo"].id,
                week=ny(2026, 11, 2, 0).date(),
                claimed_by="dead:1:x",
                lease_until=clock.now() + timedelta(seconds=30),
            )
        )
    report = WeeklyReport(world)
    assert await report.sweep() == 0  # its lease still runs
    clock.advance(timedelta(seconds=31))
    assert await report.sweep() == 1
    assert output(admin).count("Weekly report") == 1


async def test_no_report_without_opting_in_or_a_channel(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.advance(ny(2026, 11, 9, 10) - clock.now())
    for n, analytics in enumerate(({"weekly_report": False}, {"weekly_report": True})):
        (tmp_path / str(n)).mkdir()
        bot = await build(world_config(tmp_path / str(n), analytics=analytics), clock=clock)
        try:
            assert await WeeklyReport(bot).sweep() == 0
        finally:
            await bot.db.close()
    warned = [r.getMessage() for r in caplog.records if "weekly report" in r.getMessage()]
    assert warned == [
        "analytics: weekly report of demo not sent: no report_channel or gating admin_channel"
    ]
