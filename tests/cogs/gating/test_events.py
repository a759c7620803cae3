"""Gating ``_events``: signed events whose object is malformed are rejected once, in one line.

Any object is either refused or read without an error (property test).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.cogs.gating import _events as ev
from bot.store.tables import stripe_events
from tests.cogs.gating._world import World

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
