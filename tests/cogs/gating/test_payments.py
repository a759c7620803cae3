"""Gating against Stripe as it really behaves for the pinned API version (issue 14).

Refunds and disputes of subscription payments, whose PaymentIntents no event names; events
that come before what places them; Stripe reads dated by Stripe's clock; signed events whose
object is malformed; and a ``/gating check`` that reports exactly what it changed.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.cogs.gating import _events as ev
from bot.cogs.gating import _inbox
from bot.core.clock import ManualClock
from bot.store.tables import points_ledger, purchases, stripe_events
from tests.cogs.gating._world import World, world
from tests.stripe_api import API_VERSION


@pytest.fixture
async def w(tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    async with world(tmp_path, clock) as it:
        yield it


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


async def test_the_check_finds_refunds_and_disputes_whose_events_were_given_up(
    w: World,
) -> None:
    bob = w.subscription_of(await w.buy("bob", "pro"))
    carol = w.subscription_of(await w.buy("carol", "pro"))
    # Stripe cannot be asked about payments for as long as the events try: the renewals'
    # invoice.paid, a refund and a dispute (without a PaymentIntent) are all given up.
    for path in ("/v1/invoices", "/v1/invoice_payments", "/v1/charges"):
        w.stripe.fail_next(path, 503, times=10_000)
    w.clock.advance(timedelta(days=30))
    events = w.stripe.renew(bob) + w.stripe.renew(carol)
    w.clock.advance(timedelta(days=1))
    events += w.stripe.refund(w.stripe.intent_of(bob))
    events += w.stripe.dispute(w.stripe.intent_of(carol), names_intent=False)[1]
    await w.deliver(events)
    for _ in range(_inbox.EVENT_ATTEMPTS):
        w.clock.advance(timedelta(hours=2))
        await w.gating.run_due()
    assert await w.count("stripe_events", status="failed") == 4
    assert await w.holds("bob") == await w.holds("carol") == {"pro"}
    w.stripe.failures.clear()
    w.read()
    printed = await w.say("/gating check", "olga")
    assert "refunded in full" in printed
    assert "dispute - → needs_response" in printed
    assert "fixed: 2" in printed
    assert await w.holds("bob") == await w.holds("carol") == set()
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "refunded" not in again and "dispute" not in again


async def test_the_check_asks_stripe_nothing_about_refunds_to_strangers(w: World) -> None:
    """Another product of the same Stripe account, refunded: no member of ours bought it."""
    session = w.stripe.create_session(
        {
            "mode": "payment",
            "line_items": [{"price": "price_py", "quantity": "1"}],
            "success_url": "https://example.com/ok",
        },
        w.stripe.base_url,
    )
    w.stripe.pay(session["id"])
    w.stripe.refund(w.stripe.intent_of(session["id"]))
    w.stripe.requests.clear()
    printed = await w.say("/gating check", "olga")
    assert "fixed: 0" in printed
    assert not [p for _m, p, _params in w.stripe.requests if p.startswith("/v1/invoice_payments")]


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


async def test_an_event_no_checkout_ever_places_expires_with_a_log(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    await w.say("/join pro", "bob")
    created, *_rest = w.stripe.pay(list(w.stripe.sessions)[-1], names_buyer=False)
    await w.deliver([created])  # its checkout never comes
    for _ in range(_inbox.EVENT_ATTEMPTS):
        w.clock.advance(timedelta(hours=2))
        await w.gating.run_due()
    async with w.cohort.db.read() as conn:
        row = (await conn.execute(select(stripe_events))).one()
    assert row.status == "expired"
    assert "no known member" in row.last_error
    assert [r.levelno for r in caplog.records if "expired" in r.getMessage()] == [logging.WARNING]


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


# --- 4. signed events whose object is malformed ------------------------------------------------

MALFORMED: list[tuple[str, Any]] = [
    ("customer.subscription.updated", "sub_123"),
    ("customer.subscription.deleted", ["sub_123"]),
    ("customer.subscription.created", None),
    ("customer.subscription.updated", {"object": "subscription"}),
    ("customer.subscription.updated", {"id": 42}),
    ("customer.subscription.updated", {"id": "sub_" + "x" * 300}),
    ("customer.subscription.updated", {"id": "sub_1", "items": {"data": ["si_1"]}}),
    ("customer.subscription.updated", {"id": "sub_1", "status": ["active"]}),
    ("customer.subscription.trial_will_end", {"id": ""}),
    ("checkout.session.completed", {"id": "cs_1", "customer": ["cus_1"]}),
    ("checkout.session.completed", {"client_reference_id": "co_1"}),
    ("invoice.paid", {"id": "in_1", "parent": {"subscription_details": {"subscription": 7}}}),
    ("invoice.payment_failed", 12),
    ("charge.refunded", {"payment_intent": "pi_1", "refunded": True}),
    ("charge.dispute.created", {"id": "dp_1", "charge": {"no": "id"}}),
    ("charge.dispute.closed", {"id": "dp_1", "status": {"won": True}}),
]


async def test_a_signed_event_with_a_malformed_object_is_rejected_once_in_one_line(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    events = [w.stripe.event(kind, obj) for kind, obj in MALFORMED]
    for event in events:
        assert await w.post(event) == 200  # genuine deliveries: acknowledged
    caplog.clear()
    await w.gating.run_due()
    w.clock.advance(timedelta(days=1))
    await w.gating.run_due()
    async with w.cohort.db.read() as conn:
        rows = (await conn.execute(select(stripe_events).order_by(stripe_events.c.id))).all()
    assert [(r.status, r.attempts) for r in rows] == [("rejected", 1)] * len(MALFORMED)
    assert all(r.last_error and "data.object" in r.last_error for r in rows)
    lines = [r for r in caplog.records if r.name.startswith("bot.")]
    assert len(lines) == len(MALFORMED)
    assert all(r.levelno == logging.WARNING and "rejected" in r.getMessage() for r in lines)
    assert not any(r.exc_info for r in caplog.records)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = [
    "id",
    "object",
    "customer",
    "status",
    "items",
    "metadata",
    "subscription",
    "payment_intent",
    "charge",
    "client_reference_id",
    "parent",
    "payments",
    "amount",
    "amount_refunded",
    "refunded",
    "current_period_end",
    "cancel_at_period_end",
]


@pytest.mark.backend_free
@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(ev.EventType)),
    obj=_JSON | st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=8),
)
def test_any_object_is_either_refused_or_read_without_an_error(
    kind: ev.EventType, obj: Any
) -> None:
    if ev.problem(kind, obj) is not None:
        return
    assert isinstance(obj, dict)
    ev.subscription(obj)
    ev.invoice_subscription(obj)
    ev.invoice_payment_intents(obj)
    ev.payments_included(obj)
    ev.paid_at(obj)
    ev.payment_intent_of(obj)
    ev.fully_refunded(obj)
    ev.customer_of(obj)
    ev.metadata(obj)
    ev.id_of(obj, "subscription")
    ev.amount(obj, "amount_paid")


# --- 5. /gating check reports what it changed, and counts the access it changed ---------------


async def test_the_check_reports_only_what_it_changed_and_counts_the_access_it_changed(
    w: World,
) -> None:
    bob = await w.buy("bob", "pro")
    carol = await w.buy("carol", "pro")
    w.read()
    w.clock.advance(timedelta(minutes=5))
    w.stripe.delete(w.subscription_of(bob))  # events Stripe sent that never arrived
    w.stripe.cancel_at_period_end(w.subscription_of(carol))
    await w.say("/join python", "dave")
    w.stripe.pay(list(w.stripe.sessions)[-1])
    printed = await w.say("/gating check", "olga")
    assert "active → canceled" in printed
    assert "now cancels at the end of its period" in printed
    assert "active → active" not in printed and "active -> active" not in printed
    changes = len(re.findall(r"\(access to \w+ (?:granted to|taken from) \w+\)", printed))
    assert changes == 2  # lounge taken from bob; python granted to dave
    assert f"access changes: {changes}" in printed
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "access changes: 0" in again and "•" not in again
