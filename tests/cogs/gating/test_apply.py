"""Gating ``_apply``: the rules of one event.

Idempotent (rule 1) and order-independent (rule 2), cancels at period end (rule 4), grace for
failed renewals, what is read from Stripe and when, and events of another API version.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.tables import access_sources
from tests.cogs.gating._world import World
from tests.stripe_api import API_VERSION

# --- rule 1: idempotent ------------------------------------------------------------------------


async def test_the_same_event_five_times_and_twice_at_once_counts_once(w: World) -> None:
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    (completed,) = w.stripe.pay(session)
    statuses = [await w.post(completed) for _ in range(5)]
    statuses += await asyncio.gather(w.post(completed), w.post(completed))
    assert statuses == [200] * 7
    await w.gating.run_due()
    await w.gating.run_due()
    assert w.read().count("(access to python granted to bob)") == 1
    assert await w.count("stripe_events") == 1
    assert await w.count("purchases", source_ref=session) == 1
    assert await w.count("gating_audit", action="purchase") == 1
    assert await w.count("points_ledger", reason="purchase") == 1
    # A failed renewal delivered five times is one DM.
    sub_session = await w.buy("carol", "pro")
    w.read()
    failed, _updated = w.stripe.renew(w.subscription_of(sub_session), paid=False)
    for _ in range(5):
        await w.post(failed)
    await w.gating.run_due()
    assert w.read().count("did not go through") == 1


# --- rule 2: order-independent -----------------------------------------------------------------


async def test_any_order_of_a_subscriptions_events_ends_in_the_same_state(w: World) -> None:
    """Each permutation runs on its own subscription; all must end as the in-order one."""

    def story(session: str) -> list[dict[str, Any]]:
        events = w.stripe.pay(session)
        sub_id = w.subscription_of(session)
        w.clock.advance(timedelta(seconds=5))
        events += w.stripe.renew(sub_id)
        w.clock.advance(timedelta(seconds=5))
        events += w.stripe.cancel_at_period_end(sub_id)
        w.clock.advance(timedelta(seconds=5))
        events += w.stripe.cancel_at_period_end(sub_id, cancel=False)
        return events

    sessions = []
    for index in range(7):
        await w.say("/join pro", f"buyer{index}")
        sessions.append(list(w.stripe.sessions)[-1])
    reference = story(sessions[0])
    await w.deliver(reference)
    expected = await _source_state(w, w.subscription_of(sessions[0]))
    orders = [list(reversed(range(len(reference))))] + [
        list(p) for p in itertools.islice(itertools.permutations(range(len(reference))), 1, 400, 80)
    ]
    assert expected == ("active", False, True, 2)
    for index, (session, order) in enumerate(zip(sessions[1:], orders, strict=True), start=1):
        events = story(session)
        for i in order:  # one at a time: a batch would put them back in Stripe's order
            await w.deliver([events[i]])
        assert await _source_state(w, w.subscription_of(session)) == expected, order
        assert await w.holds(f"buyer{index}") == {"pro"}


async def _source_state(w: World, subscription_id: str) -> tuple[Any, ...]:
    async with w.cohort.db.read() as conn:
        row = (
            await conn.execute(
                select(
                    access_sources.c.id,
                    access_sources.c.status,
                    access_sources.c.cancel_at_period_end,
                    access_sources.c.entitled,
                    access_sources.c.member_id,
                ).where(access_sources.c.ref == subscription_id)
            )
        ).one()
    paid = await w.count("purchases", member_id=row.member_id)
    return (row.status, row.cancel_at_period_end, row.entitled, paid)


# --- rule 4: cancel at period end --------------------------------------------------------------


async def test_cancel_at_period_end_keeps_access_until_then_and_ends_it_without_deleted(
    w: World,
) -> None:
    session = await w.buy("bob", "pro")
    sub_id = w.subscription_of(session)
    await w.deliver(w.stripe.cancel_at_period_end(sub_id))
    assert "cancelled, ends at period end" in await w.say("/membership", "bob")
    period_end = datetime.fromtimestamp(
        w.stripe.subscriptions[sub_id]["items"]["data"][0]["current_period_end"], UTC
    )
    w.clock.advance(period_end - w.clock.now() - timedelta(seconds=1))
    await w.gating.run_due()
    assert await w.holds("bob") == {"pro"}
    w.clock.advance(timedelta(seconds=1))
    await w.gating.run_due()  # the scheduled expiry: customer.subscription.deleted never came
    assert await w.holds("bob") == set()
    assert "(access to lounge taken from bob)" in w.read()
    await w.gating.run_due()
    await w.deliver(w.stripe.delete(sub_id))  # when it does come, nothing happens twice
    assert "taken from" not in w.read()
    assert "ended" in await w.say("/membership", "bob")


# --- grace for failed renewals -----------------------------------------------------------------


async def test_a_failed_renewal_keeps_access_for_the_grace_period_and_dms_the_portal(
    w: World,
) -> None:
    session = await w.buy("bob", "club")  # a 14-day trial, 5 days of grace
    sub_id = w.subscription_of(session)
    assert "free trial" in await w.say("/membership", "bob")
    await w.deliver(w.stripe.trial_will_end(sub_id))
    assert "free trial of Club ends" in w.read()
    w.clock.advance(timedelta(days=14))
    await w.deliver(w.stripe.renew(sub_id, paid=False))
    printed = w.read()
    assert "did not go through" in printed
    assert "Manage billing" in printed and "/portal/" in printed  # the DM has the portal link
    assert "in grace period" in await w.say("/membership", "bob")
    w.clock.advance(timedelta(days=5) - timedelta(minutes=1))
    await w.gating.run_due()
    assert await w.holds("bob") == {"club"}
    w.clock.advance(timedelta(minutes=1))
    await w.gating.run_due()
    assert await w.holds("bob") == set()
    assert "(access to club taken from bob)" in w.read()
    await w.deliver(w.stripe.renew(sub_id, paid=True))  # the card works again
    assert await w.holds("bob") == {"club"}


# --- 3. events that come before what places them; reads dated by Stripe ---------------------


def _cancelled(w: World, sessions: list[str], names_buyer: bool) -> list[list[dict[str, Any]]]:
    """Created, checkout, updated (active), updated (cancels at period end), deleted."""
    bought = [w.stripe.pay(s, names_buyer=names_buyer) for s in sessions]
    w.clock.advance(timedelta(seconds=5))
    cancels = [w.stripe.cancel_at_period_end(w.subscription_of(s))[0] for s in sessions]
    w.clock.advance(timedelta(seconds=5))
    deletes = [w.stripe.delete(w.subscription_of(s))[0] for s in sessions]
    return [
        [created, completed, active, cancel, deleted]
        for (created, _paid, active, completed), cancel, deleted in zip(
            bought, cancels, deletes, strict=True
        )
    ]


def _past_due(w: World, sessions: list[str], names_buyer: bool) -> list[list[dict[str, Any]]]:
    """Created, checkout, updated (active), the failed renewal, updated (past due)."""
    bought = [w.stripe.pay(s, names_buyer=names_buyer) for s in sessions]
    w.clock.advance(timedelta(days=30))
    renewals = [w.stripe.renew(w.subscription_of(s), paid=False) for s in sessions]
    return [
        [created, completed, active, failed, past_due]
        for (created, _paid, active, completed), (failed, past_due) in zip(
            bought, renewals, strict=True
        )
    ]


Story = Callable[[World, list[str], bool], list[list[dict[str, Any]]]]


@pytest.mark.parametrize(
    ("story", "names_buyer"),
    [(_cancelled, True), (_cancelled, False), (_past_due, True), (_past_due, False)],
    ids=["cancelled", "cancelled-named-by-checkout", "past-due", "past-due-named-by-checkout"],
)
async def test_every_order_of_a_lapsed_subscriptions_events_ends_without_access(
    w: World, story: Story, names_buyer: bool
) -> None:
    """Each of the 120 orders on its own subscription, no reconciliation.

    Each pass of the worker gets the next event of every subscription, so that each one sees
    its events in its own order. ``names_buyer=False``: the subscription's own metadata does
    not say whose it is, so its events wait for the checkout that does.
    """
    orders = list(itertools.permutations(range(5)))
    sessions = []
    for index in range(len(orders)):
        await w.say("/join pro", f"b{index:03d}")
        sessions.append(list(w.stripe.sessions)[-1])
    stories = story(w, sessions, names_buyer)
    w.clock.advance(timedelta(seconds=2))  # delivered a little after Stripe made them
    for position in range(5):
        for events, order in zip(stories, orders, strict=True):
            assert await w.post(events[order[position]]) == 200
        await w.gating.run_due()
    w.clock.advance(timedelta(days=3))  # past the grace of a failed renewal
    await w.gating.run_due()
    kept = [order for index, order in enumerate(orders) if await w.holds(f"b{index:03d}")]
    assert kept == []
    assert await w.count("stripe_events", status="pending") == 0


async def test_a_subscription_read_from_stripe_is_newer_than_the_events_sent_before_it(
    w: World,
) -> None:
    await w.say("/join pro", "bob")
    session = list(w.stripe.sessions)[-1]
    ((_created, completed, _active, cancel, deleted),) = _cancelled(w, [session], True)
    w.clock.advance(timedelta(seconds=30))
    await w.deliver([completed])  # reads the subscription: cancelled already
    assert await w.holds("bob") == set()
    await w.deliver([cancel])  # older than that read: it must not give access back
    assert await w.holds("bob") == set()
    await w.deliver([deleted])
    assert await w.holds("bob") == set()


async def test_a_purchase_in_stripes_order_reads_only_its_invoices_payments(w: World) -> None:
    await w.say("/join pro", "bob")
    events = w.stripe.pay(list(w.stripe.sessions)[-1])
    w.stripe.requests.clear()
    for event in events:  # created (incomplete), invoice.paid, updated (active), checkout
        await w.deliver([event])
    assert await w.holds("bob") == {"pro"}
    invoice = events[1]["data"]["object"]["id"]
    # The same second's update follows the state held (its previous_attributes say so): no
    # read of the subscription; the invoice is read for the payments events never carry.
    assert [(m, p) for m, p, _params in w.stripe.requests] == [("GET", f"/v1/invoices/{invoice}")]


async def test_events_of_another_api_version_are_applied_and_the_version_logged_once(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    await w.say("/join python", "bob")
    (completed,) = w.stripe.pay(list(w.stripe.sessions)[-1])
    other = {
        **w.stripe.event("customer.tax_id.created", {"id": "txi_1"}),
        "api_version": "2024-06-20",
    }
    await w.deliver([{**completed, "api_version": "2024-06-20"}, other])
    assert await w.holds("bob") == {"python"}
    warned = [r.getMessage() for r in caplog.records if "API version" in r.getMessage()]
    assert len(warned) == 1
    assert "2024-06-20" in warned[0] and API_VERSION in warned[0]
