"""Bounties (``_bounty``): held, paid to the accepted answer, split at the deadline, refunded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from tests.cogs.qa._helpers import ALICE, ASK, BOB, cohort_sweep, earned, give, post, say


async def test_a_bounty_is_escrowed_and_paid_to_the_accepted_answer(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await give(cohort, ALICE, 300)
    await say(console, "alice", "general", ASK)
    printed = await say(console, "alice", "general/thread-1", "/bounty 100")
    assert "A bounty of **100** points" in printed or "A bounty of 100 points" in printed
    assert "If none is accepted within 1 week," in printed
    assert await points.balance_of(cohort.db, 1, 1) == 200
    printed = await say(console, "alice", "general/thread-1", "/bounty 50")
    assert "already carries a bounty of 100 points" in printed
    await post(cohort, BOB, "101", "Use the wheel")
    await say(console, "alice", "general/thread-1", "/accept @bob")
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == 100
    assert await earned(cohort, BOB, points.Reason.ACCEPTED_ANSWER) == 50
    assert await earned(cohort, ALICE, points.Reason.BOUNTY, points.Reason.REVERSAL) == -100


@pytest.mark.parametrize(("answered", "to_bob", "back"), [(True, 50, 50), (False, 0, 100)])
async def test_an_unclaimed_bounty_is_split_after_the_deadline(
    cohort: Cohort,
    console: ConsoleAdapter,
    clock: ManualClock,
    answered: bool,
    to_bob: int,
    back: int,
) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 100")
    if answered:
        await post(cohort, BOB, "101", "Use the wheel")
    clock.advance(timedelta(days=7))
    await cohort_sweep(cohort)
    await cohort_sweep(cohort)  # settled once
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == to_bob
    assert await earned(cohort, ALICE, points.Reason.REVERSAL) == back
    if answered:
        printed = await say(console, "alice", "general/thread-1", "/accept @bob")
        assert "(+50 points)" in printed  # the accepted-answer points, no second bounty


async def test_closing_refunds_the_bounty(cohort: Cohort, console: ConsoleAdapter) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 60")
    printed = await say(console, "olga", "general/thread-1", "/close off_topic")
    assert "Closed: off-topic. A bounty of 60 points went back" in printed
    assert await points.balance_of(cohort.db, 1, 1) == 100
