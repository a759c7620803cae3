"""Kudos (``_kudos``): /thanks and its limits, and thanks said in a reply or a mention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import points_ledger
from tests.cogs.points._helpers import BOB, CAROL, GENERAL, balance, post, run
from tests.conftest import output


async def test_thanks_limits(cohort: Cohort, console: ConsoleAdapter, clock: ManualClock) -> None:
    for name in ("bob", "carol", "dave", "erin", "fay", "gus"):  # people who have spoken before
        await cohort.identity.resolve(
            cohort.communities["demo"].id, Caller(PlatformName.CONSOLE, name, name.title(), name)
        )
    assert "You cannot thank yourself." in await run(console, "/thanks @alice")
    said = await run(console, "/thanks @bob for the notes")
    assert "Alice thanked Bob (+10) — for the notes" in said
    assert "You already thanked Bob recently" in await run(console, "/thanks @bob")
    for name in ("carol", "dave", "erin", "fay"):
        assert "thanked" in await run(console, f"/thanks @{name}")
    assert "You have given all 5 of today's thanks" in await run(console, "/thanks @gus")
    clock.advance(timedelta(hours=12))  # past midnight in Berlin: a new day
    assert "Alice thanked Gus" in await run(console, "/thanks @gus")
    assert "I do not know the member “nobody”" in await run(console, "/thanks @nobody")


async def test_thanks_in_a_reply_gives_kudos_and_a_deleted_message_takes_them_back(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    demo = cohort.communities["demo"]
    dave = Caller(PlatformName.CONSOLE, "dave", "Dave", username="dave")
    await post(cohort, BOB, "10", "here is how you fix the import error")
    start = await balance(cohort, BOB)
    output(console)

    reply = cohort.dispatcher.message_posted(
        demo, CAROL, GENERAL, "11", "thanks a lot!", cohort.clock.now(), reply_to_message_id="10"
    )
    assert await reply
    assert "Carol thanked Bob (+10)" in output(console)
    assert await balance(cohort, BOB) == start + 10

    # Thanking yourself, or past the pair cooldown, gives nothing and says nothing.
    for caller, message_id in ((BOB, "12"), (CAROL, "13")):
        await cohort.dispatcher.message_posted(
            demo, caller, GENERAL, message_id, "thx", cohort.clock.now(), reply_to_message_id="10"
        )
    assert "thanked" not in output(console)
    await post(cohort, dave, "14", "thank you @bob and @nobody")
    assert "Dave thanked Bob (+10)" in output(console)

    await cohort.dispatcher.message_deleted(demo, GENERAL, "10")
    await cohort.dispatcher.message_deleted(demo, GENERAL, "10")  # reported twice
    assert await balance(cohort, BOB) == start + 10  # Carol's kudos taken back once; Dave's stay
    await cohort.dispatcher.message_deleted(demo, GENERAL, "14")
    assert await balance(cohort, BOB) == start
    async with cohort.db.read() as conn:
        reversals = await conn.scalar(
            select(func.count()).where(points_ledger.c.reason == points.Reason.REVERSAL.value)
        )
    assert reversals == 2
    assert await points.rebuild(cohort.db, demo) == []
