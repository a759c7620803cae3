"""What the statistics read (``_stats``), and /questions stats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import qa
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from tests.cogs.qa._helpers import ASK, BOB, CAROL, post, say


async def test_statistics(cohort: Cohort, console: ConsoleAdapter, clock: ManualClock) -> None:
    start = clock.now()
    await say(console, "alice", "general", ASK, "/ask Second", "/ask Third")
    clock.advance(timedelta(hours=2))
    await post(cohort, BOB, "101", "answer one")
    clock.advance(timedelta(hours=2))
    await post(
        cohort, CAROL, "102", "answer two", ChannelRef(PlatformName.CONSOLE, "general", "thread-2")
    )
    await post(
        cohort, BOB, "103", "answer three", ChannelRef(PlatformName.CONSOLE, "general", "thread-2")
    )
    clock.advance(timedelta(hours=4))
    await say(console, "alice", "general/thread-1", "/accept @bob")
    end = clock.now() + timedelta(seconds=1)
    demo = cohort.communities["demo"].id
    got = await qa.summary(cohort.db, demo, start, end)
    assert (got.asked, got.answered, got.solved, got.closed) == (3, 2, 1, 0)
    assert got.answered_ratio == pytest.approx(2 / 3)
    assert got.median_first_answer == timedelta(hours=3)
    assert got.median_solve == timedelta(hours=8)
    top = await qa.top_answerers(cohort.db, demo, start, end)
    bob = (await cohort.identity.resolve(demo, BOB)).member_id
    assert (top[0].member_id, top[0].accepted, top[0].answers) == (bob, 1, 2)
    assert [(t.accepted, t.answers) for t in top[1:]] == [(0, 1)]
    empty = await qa.summary(cohort.db, demo, end, end + timedelta(days=1))
    assert empty.answered_ratio == 0.0 and empty.median_first_answer is None
    printed = await say(console, "carol", "general", "/questions stats 7")
    assert "Q&A over the last 7 days" in printed
    assert "3 asked · 2 answered (67%) · 1 solved · 0 closed" in printed
    assert "first answer: 3 hours · to solved: 8 hours" in printed
    assert printed.index("1. Bob · 1 of 2 accepted") < printed.index("2. Carol · 0 of 1")
    clock.advance(timedelta(days=8))
    printed = await say(console, "carol", "general", "/questions stats 7")
    assert "0 asked" in printed and "first answer: — · to solved: —" in printed
    assert "Top answerers" not in printed
