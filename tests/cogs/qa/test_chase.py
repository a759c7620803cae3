"""The sweep (``_chase``, ``_due``): reminders, accept pings and dormancy, across a restart."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from tests.cogs.qa._helpers import ASK, BOB, CAROL, A, D, cohort_sweep, post, say, state_of
from tests.conftest import make_config, output


async def test_reminders_pings_and_dormancy_survive_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(tmp_path, community={"qa": {"channels": ["console:questions"]}})
    first = await build(config, clock=clock)
    console = _console(first)
    printed = await say(console, "alice", "general", ASK, "/ask Nobody knows this")
    assert "[#questions/thread-1]" in printed  # the configured Q&A channel
    q1 = ChannelRef(PlatformName.CONSOLE, "questions", "thread-1")
    await post(first, BOB, "101", "Use the wheel", q1)
    clock.advance(timedelta(hours=23))
    assert await cohort_sweep(first) == 0
    clock.advance(timedelta(hours=2))
    output(console)
    assert await cohort_sweep(first) == 1
    printed = output(console)
    assert "Still unanswered: Nobody knows this (#2)" in printed
    assert "#1" not in printed  # question 1 has an answer
    await first.db.close()

    second = await build(config, clock=clock)  # a restart: the database says what is done
    console = _console(second)
    assert await cohort_sweep(second) == 0
    clock.advance(timedelta(days=2))  # 3 days after Bob's answer
    output(console)
    assert await cohort_sweep(second) == 1
    printed = output(console)
    assert "[#dm-alice] cohort:" in printed and "has answers" in printed
    assert "Bob: Use the wheel" in printed
    clock.advance(timedelta(days=12))  # 14 days without a word
    assert await cohort_sweep(second) == 2
    assert (await state_of(second, 1), await state_of(second, 2)) == (D, D)
    await post(second, CAROL, "102", "Still relevant: try conda", q1)
    assert await state_of(second, 1) is A  # revived
    number = max(console.buttons)  # the ping's button still works after the restart
    printed = await say(console, "alice", "dm-alice", f"/press {number}")
    assert "You accepted Bob's answer" in printed
    await second.db.close()


def _console(cohort: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="alice", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = adapter
    return adapter
