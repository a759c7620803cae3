"""Votes on answers (``_votes``): one per member, an unclaimed bounty's winner, kept in a merge."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.qa._votes import votes_of
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests.cogs.qa._helpers import (
    ALICE,
    ASK,
    BOB,
    BOT,
    CAROL,
    THREAD,
    cohort_sweep,
    earned,
    give,
    post,
    say,
)


async def react(
    cohort: Cohort, who: Caller | str, message_id: str, emoji: str, *, added: bool = True
) -> None:
    demo = cohort.communities["demo"]
    await cohort.dispatcher.reaction_changed(demo, who, THREAD, message_id, emoji, added=added)


async def test_votes_send_an_unclaimed_bounty_to_the_most_voted_answer(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 100")
    await post(cohort, BOB, "101", "Use the wheel")
    await post(cohort, CAROL, "102", "Use conda")
    await react(cohort, ALICE, "102", "👍")
    await react(cohort, BOB, "102", "⬆️")
    await react(cohort, BOB, "102", "⬆️")  # the same reaction twice is one vote
    await react(cohort, CAROL, "102", "👍")  # her own answer: not counted
    await react(cohort, CAROL, "101", "🎉")  # not a vote emoji
    await react(cohort, BOT, "101", "👍")  # bots do not vote
    await react(cohort, "999", "101", "👍")  # nobody Cohort knows: ignored
    await react(cohort, ALICE, "102", "⬆️")
    await react(cohort, ALICE, "102", "👍", added=False)  # her ⬆️ still counts
    assert await votes_of(cohort.db, 1) == {2: 2}
    printed = await say(console, "alice", "general/thread-1", "/accept")
    assert "(▲2)" in printed  # the answer buttons show the votes
    clock.advance(timedelta(days=7))
    await cohort_sweep(cohort)
    assert await earned(cohort, CAROL, points.Reason.BOUNTY) == 50
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == 0


async def test_two_accounts_that_both_voted_merge_into_one_vote(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    carol_tg = Caller(PlatformName.TELEGRAM, "700", "Carol T")
    for voter in (CAROL, carol_tg):
        await react(cohort, voter, "101", "👍")
    assert await votes_of(cohort.db, 1) == {1: 2}
    demo = cohort.communities["demo"]
    carol = await cohort.identity.resolve(demo.id, CAROL)
    code = await cohort.identity.create_link_code(carol)
    await cohort.identity.redeem_link_code(
        await cohort.identity.resolve(demo.id, carol_tg), code.code
    )
    assert await votes_of(cohort.db, 1) == {1: 1}
