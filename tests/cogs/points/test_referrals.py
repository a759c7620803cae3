"""Referrals (``_referrals``): invite links that pay once, for new members who stay or buy."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta

from sqlalchemy import insert

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import purchases
from tests.cogs.points._helpers import ALICE, balance, run


async def test_referrals_pay_once_for_new_members_who_stay_or_buy(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    said = await run(console, "/invite")
    assert "Your invite link:" in said and "stays 1 week" in said and "So far: 0 joined" in said
    link = next(word for word in said.split() if word.startswith("console://invite/"))
    old_timer = Caller(PlatformName.CONSOLE, "ollie", "Ollie")
    await cohort.identity.resolve(demo.id, old_timer)  # known long before joining
    clock.advance(timedelta(hours=1))

    def join(caller: Caller, via: str | None = link) -> Awaitable[None]:
        return cohort.dispatcher.member_joined(demo, caller, "console", invite_link=via)

    newcomers = [Caller(PlatformName.CONSOLE, f"new{n}", f"New{n}") for n in range(4)]
    await join(newcomers[0])  # stays a week: pays
    await join(newcomers[0])  # the join reported twice
    await join(newcomers[1])  # leaves after a day: never pays
    await join(newcomers[2])  # buys on day two: pays at once
    await join(newcomers[3], "https://example.invalid/unknown")  # not one of ours
    await join(old_timer)  # not new
    await join(ALICE)  # inviting yourself
    assert "So far: 3 joined, 0 paid off." in await run(console, "/invite")

    cog = points.PointsCog(cohort)
    clock.advance(timedelta(days=1))
    await cohort.dispatcher.member_left(demo, newcomers[1], "console")
    assert await cog.settle_referrals() == 0
    clock.advance(timedelta(days=1))
    buyer = await cohort.identity.resolve(demo.id, newcomers[2])
    async with cohort.db.write() as conn:
        await conn.execute(
            insert(purchases).values(
                community_id=demo.id,
                member_id=buyer.member_id,
                offer_id="course-python",
                source="stripe",
                source_ref="cs_test_1",
                purchased_at=clock.now(),
            )
        )
    assert await cog.settle_referrals() == 1
    clock.advance(timedelta(days=6))
    assert await cog.settle_referrals() == 1
    assert await cog.settle_referrals() == 0
    assert await balance(cohort, ALICE) == 200
    assert "So far: 3 joined, 2 paid off." in await run(console, "/invite")
