"""Gating: paid access through Stripe, end to end through the console and the webhook.

The real ``stripe`` library talks to the loopback stand-in in ``tests/stripe_api``; webhooks are
signed as Stripe signs them and posted to the real aiohttp app; platform effects are read from
the console adapter (and, in ``tests/adapters/test_telegram_gating.py``, from Telegram's).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.cogs.gating import BadSignature, SourceKind, SourceState, Standing, entitled, standing
from bot.cogs.gating._stripe import verify
from bot.core.clock import ManualClock
from bot.store.tables import (
    access_sources,
)
from tests.cogs.gating_world import World, world
from tests.stripe_api import DEFAULT_SECRET, sign

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
async def w(tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """Return the gating world: bot, console, web app and Stripe stand-in on one clock."""
    async with world(tmp_path, clock) as it:
        yield it


# --- rule 3: access is a pure function of state ------------------------------------------------

GRACE = timedelta(days=3)
END = NOW + timedelta(days=10)
START = NOW - timedelta(days=1)


def sub(status: str, **extra: Any) -> SourceState:
    return SourceState(SourceKind.SUBSCRIPTION, status, period_start=START, period_end=END, **extra)


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (sub("trialing"), NOW, True),
        (sub("active"), NOW, True),
        (sub("active"), END + DAY, True),  # no event yet about the renewal: never held against
        (sub("active", cancel_at_period_end=True), END - timedelta(seconds=1), True),
        (sub("active", cancel_at_period_end=True), END, False),
        (sub("trialing", cancel_at_period_end=True), END + DAY, False),
        (sub("past_due"), START + GRACE - timedelta(seconds=1), True),
        (sub("past_due"), START + GRACE, False),
        (sub("unpaid"), NOW, False),
        (sub("canceled"), NOW, False),
        (sub("incomplete"), NOW, False),
        (sub("incomplete_expired"), NOW, False),
        (sub("paused"), NOW, False),
        (sub("active", refunded=True), NOW, False),
        (sub("active", disputed=True), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid"), NOW + timedelta(days=9999), True),
        (SourceState(SourceKind.PAYMENT, "processing"), NOW, False),
        (SourceState(SourceKind.PAYMENT, "failed"), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid", refunded=True), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid", disputed=True), NOW, False),
        (SourceState(SourceKind.MANUAL, "granted"), NOW, True),
        (SourceState(SourceKind.MANUAL, "granted", ends_at=NOW), NOW, False),
        (SourceState(SourceKind.MANUAL, "granted", ends_at=NOW + DAY), NOW, True),
        (SourceState(SourceKind.MANUAL, "revoked"), NOW, False),
    ],
)
def test_entitled_is_a_function_of_state(state: SourceState, now: datetime, expected: bool) -> None:
    assert entitled(state, GRACE, now) is expected


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (sub("trialing"), NOW, Standing.TRIAL),
        (sub("active"), NOW, Standing.ACTIVE),
        (sub("active", cancel_at_period_end=True), NOW, Standing.CANCELING),
        (sub("past_due"), NOW, Standing.GRACE),
        (sub("past_due"), END, Standing.ENDED),
        (sub("canceled"), NOW, Standing.ENDED),
        (sub("incomplete"), NOW, Standing.PENDING),
        (sub("active", refunded=True), NOW, Standing.REFUNDED),
        (sub("active", disputed=True), NOW, Standing.DISPUTED),
        (SourceState(SourceKind.PAYMENT, "paid"), NOW, Standing.OWNED),
        (SourceState(SourceKind.PAYMENT, "processing"), NOW, Standing.PENDING),
        (SourceState(SourceKind.MANUAL, "granted"), NOW, Standing.COMPED),
    ],
)
def test_standing_in_words(state: SourceState, now: datetime, expected: Standing) -> None:
    assert standing(state, GRACE, now) is expected


# --- the webhook: signatures -------------------------------------------------------------------


def _event(event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.created",
        "created": int(NOW.timestamp()),
        "livemode": False,
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("genuine", 200),
        ("tampered", 400),
        ("wrong_secret", 400),
        ("missing_header", 400),
        ("garbled_header", 400),
        ("too_old", 400),
        ("too_far_ahead", 400),
        ("not_an_event", 400),
    ],
)
async def test_webhook_signatures(w: World, case: str, status: int) -> None:
    event = _event()
    body = json.dumps(event).encode()
    stamp = int(w.clock.now().timestamp())
    secret = DEFAULT_SECRET
    if case == "too_old":
        stamp -= 5 * 60 + 1
    elif case == "too_far_ahead":
        stamp += 5 * 60 + 1
    elif case == "wrong_secret":
        secret = "whsec_other"
    elif case == "not_an_event":
        body = b'{"hello": "world"}'
    header = sign(body, secret, stamp)
    if case == "tampered":
        body = body.replace(b"cus_1", b"cus_2")
    headers = {"Stripe-Signature": header}
    if case == "missing_header":
        headers = {}
    elif case == "garbled_header":
        headers = {"Stripe-Signature": "v1=abc"}
    response = await w.web.post("/stripe/webhook", data=body, headers=headers)
    assert response.status == status
    assert await w.count("stripe_events") == (1 if status == 200 else 0)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(min_size=1, max_size=300), flip=st.integers(min_value=0, max_value=299))
def test_any_changed_byte_breaks_the_signature(body: bytes, flip: int) -> None:
    event = {**_event(), "data": {"object": {"blob": body.hex()}}}
    payload = json.dumps(event).encode()
    stamp = int(NOW.timestamp())
    header = sign(payload, DEFAULT_SECRET, stamp)
    assert verify(payload, header, DEFAULT_SECRET, now=NOW, tolerance=timedelta(minutes=5))
    index = flip % len(payload)
    changed = payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]
    with pytest.raises(BadSignature):
        verify(changed, header, DEFAULT_SECRET, now=NOW, tolerance=timedelta(minutes=5))


# --- the inbox: stored before the 2xx, drained by the worker, also after a restart -------------


async def test_the_inbox_holds_an_event_before_the_ack_and_a_restart_drains_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/join pro", "bob")
        session = list(w.stripe.sessions)[-1]
        for event in w.stripe.pay(session):
            assert await w.post(event) == 200
        # Acknowledged, not applied: the process "crashes" here.
        assert await w.count("stripe_events", status="pending") == 3
        assert await w.holds("bob") == set()
    async with world(tmp_path, clock) as again:
        await again.cohort.start()  # what the runtime does: the worker's first pass drains
        await _until_applied(again)
        assert await again.holds("bob") == {"pro"}


async def _until_applied(w: World) -> None:
    for _ in range(500):
        if not await w.count("stripe_events", status="pending"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker never drained the inbox")


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
        await w.deliver([events[i] for i in order])
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
