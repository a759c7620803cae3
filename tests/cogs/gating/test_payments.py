"""Gating ``_payments``: refunds and disputes, of courses and of subscription payments (issue 14).

A subscription payment's PaymentIntent no event names: a refund or dispute of it is found
through its charge or read from Stripe.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.store.tables import points_ledger, purchases
from tests.cogs.gating._world import World

# --- rule 5: refunds and disputes --------------------------------------------------------------


async def test_a_full_refund_revokes_a_course_and_reverses_its_points(w: World) -> None:
    session = await w.buy("bob", "python")
    intent = w.stripe.intent_of(session)
    await w.deliver(w.stripe.refund(intent, amount=100))  # partial: nothing changes
    assert await w.holds("bob") == {"python"}
    await w.deliver(w.stripe.refund(intent))
    assert await w.holds("bob") == set()
    assert "(access to python taken from bob)" in w.read()
    async with w.cohort.db.read() as conn:
        refunded = await conn.scalar(
            select(purchases.c.refunded_at).where(purchases.c.source_ref == session)
        )
        deltas = (
            await conn.execute(select(points_ledger.c.delta).order_by(points_ledger.c.id))
        ).scalars()
        assert list(deltas) == [100, -100]
    assert refunded is not None
    assert "refunded" in await w.say("/membership", "bob")


async def test_a_dispute_revokes_and_a_won_dispute_restores(w: World) -> None:
    session = await w.buy("bob", "pro")
    intent = w.stripe.intent_of(w.subscription_of(session))
    dispute_id, opened = w.stripe.dispute(intent)
    w.clock.advance(timedelta(seconds=3))
    won = w.stripe.close_dispute(dispute_id, won=True)
    await w.deliver(opened)
    assert await w.holds("bob") == set()
    assert "payment disputed" in await w.say("/membership", "bob")
    await w.deliver(won)
    assert await w.holds("bob") == {"pro"}
    # Out of order, the older "opened" after "won" changes nothing.
    await w.deliver(opened)
    assert await w.holds("bob") == {"pro"}


async def test_a_refund_that_arrives_before_its_payment_waits_for_it(w: World) -> None:
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    (completed,) = w.stripe.pay(session)
    (refunded,) = w.stripe.refund(w.stripe.intent_of(session))
    await w.deliver([refunded])
    assert await w.count("stripe_events", status="pending") == 1  # deferred, not lost
    await w.deliver([completed])
    w.clock.advance(timedelta(seconds=5))
    await w.gating.run_due()
    assert await w.count("stripe_events", status="pending") == 0
    assert await w.holds("bob") == set()


async def _renewed(w: World, user: str) -> tuple[str, str]:
    """Buy Pro as ``user`` and renew it once; return the subscription and the first payment."""
    session = await w.buy(user, "pro")
    subscription = w.subscription_of(session)
    first = w.stripe.intent_of(subscription)
    w.clock.advance(timedelta(days=30))
    await w.deliver(w.stripe.renew(subscription))
    return subscription, first


# --- 1. refunds and disputes of subscription payments ----------------------------------------


async def test_a_refund_of_a_renewal_takes_access_away_and_one_of_an_older_payment_does_not(
    w: World,
) -> None:
    subscription, first = await _renewed(w, "bob")
    w.read()
    await w.deliver(w.stripe.refund(first))  # last month's payment: this month is paid
    assert await w.holds("bob") == {"pro"}
    assert await w.count("stripe_events", status="applied") == await w.count("stripe_events")
    await w.deliver(w.stripe.refund(w.stripe.intent_of(subscription)))
    assert await w.holds("bob") == set()
    assert "(access to lounge taken from bob)" in w.read()
    renewal = w.stripe.subscriptions[subscription]["latest_invoice"]
    async with w.cohort.db.read() as conn:
        refunded = await conn.scalar(
            select(purchases.c.refunded_at).where(purchases.c.source_ref == renewal)
        )
        deltas = (await conn.execute(select(points_ledger.c.delta))).scalars().all()
    assert refunded is not None
    assert sorted(deltas) == [-100, -100, 100, 100]  # two payments, two refunds


async def test_a_refund_that_comes_before_its_renewal_is_found_in_stripe(w: World) -> None:
    session = await w.buy("bob", "pro")
    subscription = w.subscription_of(session)
    w.clock.advance(timedelta(days=30))
    renewal = w.stripe.renew(subscription)
    w.clock.advance(timedelta(seconds=5))
    refund = w.stripe.refund(w.stripe.intent_of(subscription))
    await w.deliver(refund)  # before invoice.paid: Stripe says which invoice it paid
    assert await w.holds("bob") == set()
    await w.deliver(renewal)
    assert await w.holds("bob") == set()
    assert await w.count("purchases") == 2  # the renewal once, from whichever came first
    assert await w.count("points_ledger", reason="purchase") == 2


async def test_a_dispute_that_names_no_payment_intent_is_found_through_its_charge(
    w: World,
) -> None:
    subscription, _first = await _renewed(w, "bob")
    dispute, opened = w.stripe.dispute(w.stripe.intent_of(subscription), names_intent=False)
    assert opened[0]["data"]["object"]["payment_intent"] is None
    await w.deliver(opened)
    assert await w.holds("bob") == set()
    w.clock.advance(timedelta(days=20))
    await w.deliver(w.stripe.close_dispute(dispute, won=True))
    assert await w.holds("bob") == {"pro"}
