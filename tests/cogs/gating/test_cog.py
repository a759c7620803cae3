"""Gating ``_cog``: /join, the tier commands and the recommended course's button."""

from __future__ import annotations

from pathlib import Path

from bot.core.clock import ManualClock
from tests.cogs.gating._world import World, world


async def test_join_lists_offers_and_explains_mistakes(w: World) -> None:
    listing = await w.say("/join", "bob")
    assert "Pro (`pro`) — membership: monthly, yearly" in listing
    assert "Python 101 (`python`) — course: one payment" in listing
    assert "14-day free trial" in listing
    assert "There is no offer “gold”" in await w.say("/join gold", "bob")
    assert "Pro has no one payment plan. Plans: monthly, yearly" in await w.say(
        "/join pro once", "bob"
    )
    printed = await w.say("/join pro yearly", "bob")
    assert "Pay with Stripe" in printed and "(yearly)" in printed
    _method, _path, params = w.stripe.requests[-1]
    assert params["line_items"] == [{"price": "price_pro_y", "quantity": "1"}]
    assert params["allow_promotion_codes"] == "true"
    assert params["client_reference_id"].startswith("co_")
    assert "customer_email" not in params  # never an email
    await w.deliver(w.stripe.pay(list(w.stripe.sessions)[-1]))
    assert "You already have Pro" in await w.say("/join pro", "bob")
    assert "You already have Pro" in await w.say("/press 1", "bob")  # the first /join button
    w.stripe.fail_next("/v1/checkout/sessions", 500, times=3)
    assert "Stripe did not answer" in await w.say("/join python", "bob")


async def test_tier_commands_see_the_members_tiers(w: World) -> None:
    member = await w.member("bob")
    assert await w.gating.tiers_of(member, w.clock.now()) == frozenset()
    await w.buy("bob", "python")
    await w.buy("bob", "pro")
    assert await w.gating.tiers_of(member, w.clock.now()) == {"pro"}
    assert await w.gating.offers_of(member, w.clock.now()) == {"pro", "python"}


async def test_a_recommended_course_button_gives_its_checkout_link(
    tmp_path: Path, clock: ManualClock
) -> None:
    course = {"id": "python", "title": "Python 101", "description": "Learn Python"}
    async with world(tmp_path, clock, community={"courses": [course]}) as w:
        await w.say("/whoami", "bob")
        printed = await w.say("/recommend", "bob")  # no model yet: the popular courses
        number = next(
            line.split("]")[0].lstrip("[")
            for line in printed.splitlines()
            if line.strip().startswith("[") and "#1" in line
        )
        pressed = await w.say(f"/press {number.strip()}", "bob")
        assert "Pay with Stripe" in pressed
        _method, _path, params = w.stripe.requests[-1]
        assert params["line_items"] == [{"price": "price_py", "quantity": "1"}]
