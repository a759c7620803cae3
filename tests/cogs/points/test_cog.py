"""The message listener and the members' commands (``_cog``): cooldowns, spam, /points, boards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.tables import points_ledger
from tests.cogs.points._helpers import BOB, GENERAL, NOW, balance, post, run
from tests.conftest import make_config


async def test_cooldown_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path)
    first = await build(config, clock=clock)
    await post(first, BOB, "1", "the first thing I say")
    earned = await balance(first, BOB)
    assert 15 <= earned <= 25
    await first.db.close()

    clock.advance(timedelta(seconds=30))
    second = await build(config, clock=clock)  # a restart: nothing kept in memory
    try:
        await post(second, BOB, "2", "something else entirely")
        assert await balance(second, BOB) == earned
        clock.advance(timedelta(seconds=31))
        await post(second, BOB, "3", "and a third message")
        assert await balance(second, BOB) > earned
    finally:
        await second.db.close()


@pytest.mark.parametrize(
    ("overrides", "caller", "channel", "text"),
    [
        (
            {"excluded_channels": ["bots"]},
            BOB,
            ChannelRef(PlatformName.CONSOLE, "bots"),
            "long text",
        ),
        ({"muted": ["console:bob"]}, BOB, GENERAL, "long text here"),
        ({}, BOB, GENERAL, "hey"),
        (
            {},
            Caller(PlatformName.CONSOLE, "robot", "Robot", is_bot=True),
            GENERAL,
            "beep boop beep",
        ),
    ],
    ids=["excluded-channel", "muted", "too-short", "bot"],
)
async def test_no_points_for_spam_cases(
    tmp_path: Path,
    clock: ManualClock,
    overrides: dict[str, object],
    caller: Caller,
    channel: ChannelRef,
    text: str,
) -> None:
    cohort = await build(make_config(tmp_path, community={"points": overrides}), clock=clock)
    try:
        await post(cohort, caller, "1", text, channel)
        async with cohort.db.read() as conn:
            assert await conn.scalar(select(func.count()).select_from(points_ledger)) == 0
    finally:
        await cohort.db.close()


async def test_repeating_yourself_earns_nothing(cohort: Cohort, clock: ManualClock) -> None:
    await post(cohort, BOB, "1", "buy my course now")
    first = await balance(cohort, BOB)
    clock.advance(timedelta(minutes=5))
    await post(cohort, BOB, "2", "Buy my  course NOW")
    assert await balance(cohort, BOB) == first


async def test_points_commands_through_the_console(cohort: Cohort, console: ConsoleAdapter) -> None:
    await run(console, "/as bob", "I am posting something useful", "/as alice")
    shown = await run(console, "/points @bob")
    assert "== Points of Bob ==" in shown and "`+" in shown and "message" in shown
    assert "+100 points for Bob" in await run(console, '/points give @bob 100 "great answer"')
    assert "-30 points for Bob" in await run(console, "/points take @bob 30 correction")
    board = await run(console, "/leaderboard all")
    assert "1. Bob —" in board
    assert "You:" not in board  # Alice has no points: no line for her
    errors = await run(
        console,
        "/points give @bob 0 zero",
        "/points give @bob -5 minus",
        "/leaderboard year",
        "/leaderboard week 9",
    )
    assert errors.count("amount must be between 1 and 1000000.") == 2
    assert "period must be one of week, month, season, all, not “year”." in errors
    assert "There is no page 9: the leaderboard has 1." in errors


async def test_the_next_page_button(cohort: Cohort, console: ConsoleAdapter) -> None:
    demo = cohort.communities["demo"]
    for n in range(12):
        account = await cohort.identity.resolve(
            demo.id, Caller(PlatformName.CONSOLE, f"m{n}", f"Member{n}")
        )
        await points.award(
            cohort.db, demo, account.member_id, 100 - n, points.Reason.MANUAL, f"r{n}", at=NOW
        )
    first = await run(console, "/leaderboard")
    assert "10. Member9 — 91" in first and "[1] Next page ▶" in first
    second = await run(console, "/press 1")
    assert "11. Member10 — 90" in second and "12. Member11 — 89" in second
    assert "Next page" not in second
    await run(console, "/as bob")
    assert "Only organizers may run /points give." in await run(console, "/points give @alice 5 x")
