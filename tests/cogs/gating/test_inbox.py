"""Gating: paid access through Stripe, end to end through the console and the webhook.

The real ``stripe`` library talks to the loopback stand-in in ``tests/stripe_api``; webhooks are
signed as Stripe signs them and posted to the real aiohttp app; platform effects are read from
the console adapter (and, in ``tests/adapters/test_telegram_gating.py``, from Telegram's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.cogs.gating import (
    BadSignature,
    Gating,
    SourceKind,
    SourceState,
    Standing,
    _inbox,
    entitled,
    standing,
)
from bot.cogs.gating._access import AccessState
from bot.cogs.gating._simulate import SimulateError, simulate
from bot.cogs.gating._stripe import sign as gating_sign
from bot.cogs.gating._stripe import verify
from bot.core.clock import ManualClock
from bot.core.config import StripeMode
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from bot.store.tables import (
    access_sources,
    gating_audit,
    points_ledger,
    purchases,
    stripe_events,
)
from tests import _postgres
from tests.cogs.gating._world import (
    DANA,
    GUILD,
    PRO_ROLE,
    RolePlatform,
    World,
    access_rows,
    discord_buys,
    stand_in,
    world,
)
from tests.conftest import make_config
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
    async with stand_in(clock) as stripe:
        async with world(tmp_path, clock, stripe=stripe) as w:
            await w.say("/join pro", "bob")
            session = list(w.stripe.sessions)[-1]
            for event in w.stripe.pay(session):
                assert await w.post(event) == 200
            # Acknowledged, not applied: the process "crashes" here.
            assert await w.count("stripe_events", status="pending") == 4
            assert await w.holds("bob") == set()
        async with world(tmp_path, clock, stripe=stripe) as again:
            await again.cohort.start()  # what the runtime does: the worker's first pass drains
            await _until_applied(again)
            assert await again.holds("bob") == {"pro"}


async def _until_applied(w: World) -> None:
    for _ in range(500):
        if not await w.count("stripe_events", status="pending"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker never drained the inbox")


# --- the worker applies the inbox in batches: a crash or an error mid-batch loses nothing ------


async def _post_purchases(w: World) -> list[str]:
    """Post the paid Checkouts of two courses and one tier, unapplied; return the sessions."""
    sessions = []
    for user, offer in (("bob", "python"), ("carol", "python"), ("dave", "pro")):
        await w.say(f"/join {offer}", user)  # (the worker runs after a command)
        sessions.append(list(w.stripe.sessions)[-1])
    for session in sessions:
        for event in w.stripe.pay(session):
            assert await w.post(event) == 200
    w.read()
    return sessions


async def _each_once(w: World, sessions: list[str]) -> None:
    assert await w.count("stripe_events", status="pending") == 0
    for session in sessions[:2]:
        assert await w.count("purchases", source_ref=session) == 1
    assert await w.count("purchases") == 3  # two courses and the tier's first invoice
    assert await w.count("gating_audit", action="purchase") == 3
    assert await w.count("points_ledger", reason="purchase") == 3
    assert await w.holds("bob") == await w.holds("carol") == {"python"}
    assert await w.holds("dave") == {"pro"}


async def test_a_crash_in_the_middle_of_a_batch_applies_none_of_it_and_a_restart_all_once(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_inbox, "LOOKUP_AHEAD", 1)  # and the rows it read ahead
    monkeypatch.setattr(_inbox, "BATCH_SECONDS", 60)  # one batch, however loaded the machine
    sessions = await _post_purchases(w)
    assert await w.count("stripe_events", status="pending") == 6
    real = w.gating.applier.apply
    calls = 0

    async def dies_on_the_fourth(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise asyncio.CancelledError  # the process is stopped mid-transaction
        return await real(*args)

    monkeypatch.setattr(w.gating.applier, "apply", dies_on_the_fourth)
    with pytest.raises(asyncio.CancelledError):
        await w.gating.run_due()
    # Three events were applied inside the batch's transaction: none of it was committed.
    assert await w.count("stripe_events", status="pending") == 6
    for table in ("purchases", "gating_audit", "points_ledger", "access_sources", "gating_access"):
        assert await w.count(table) == 0, table
    assert "granted" not in w.read()
    restarted = Gating(w.cohort, w.gating.gateway)  # a new process on the same database
    await restarted.run_due()
    await restarted.run_due()
    await _each_once(w, sessions)
    assert w.read().count("granted to") == 3  # bob, carol: python; dave: pro


async def test_an_error_in_one_event_of_a_batch_costs_only_that_event(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_inbox, "LOOKUP_AHEAD", 1)  # and the rows it read ahead
    sessions = await _post_purchases(w)
    real = w.gating.applier.apply

    async def breaks_on_carol(conn: Any, event: dict[str, Any], *args: Any) -> Any:
        if event["data"]["object"].get("id") == sessions[1]:
            raise RuntimeError("a bug")
        return await real(conn, event, *args)

    monkeypatch.setattr(w.gating.applier, "apply", breaks_on_carol)
    await w.gating.run_due()
    assert await w.holds("bob") == {"python"}
    assert await w.holds("dave") == {"pro"}
    assert await w.holds("carol") == set()
    async with w.cohort.db.read() as conn:
        broken = (
            await conn.execute(select(stripe_events).where(stripe_events.c.status == "pending"))
        ).one()
    assert broken.attempts == 1 and "RuntimeError: a bug" in broken.last_error
    monkeypatch.undo()
    w.clock.advance(timedelta(seconds=5))  # past its backoff
    await w.gating.run_due()
    await _each_once(w, sessions)


async def test_a_refund_waiting_for_its_payment_is_applied_as_soon_as_the_payment_is(
    w: World,
) -> None:
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    (completed,) = w.stripe.pay(session)
    (refunded,) = w.stripe.refund(w.stripe.intent_of(session))
    await w.deliver([refunded])
    assert await w.count("stripe_events", status="pending") == 1  # deferred
    await w.deliver([completed])  # no time passes: the refund does not wait for its backoff
    assert await w.count("stripe_events", status="pending") == 0
    assert await w.holds("bob") == set()
    assert await w.count("points_ledger") == 2  # the purchase's points, and their reversal


@pytest.mark.parametrize("ahead", [1, 1000], ids=["read-ahead", "one-by-one"])
async def test_one_batch_that_buys_disputes_and_refunds_a_payment_sees_each_step(
    w: World, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    """A batch may read what its events look up before it starts; each write must show."""
    monkeypatch.setattr(_inbox, "LOOKUP_AHEAD", ahead)
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    events = w.stripe.pay(session)
    intent = w.stripe.intent_of(session)
    w.clock.advance(timedelta(seconds=2))
    _dispute, opened = w.stripe.dispute(intent)
    w.clock.advance(timedelta(seconds=2))
    events += opened + w.stripe.refund(intent)
    await w.deliver(events)  # one batch
    assert await w.count("stripe_events", status="applied") == 3
    assert await w.holds("bob") == set()
    async with w.cohort.db.read() as conn:
        source = (
            await conn.execute(select(access_sources).where(access_sources.c.ref == session))
        ).one()
        deltas = (await conn.execute(select(points_ledger.c.delta))).scalars().all()
        actions = (await conn.execute(select(gating_audit.c.action))).scalars().all()
    assert (source.refunded, source.disputed, source.entitled) == (True, True, False)
    assert sorted(deltas) == [-100, 100]
    assert sorted(actions) == ["dispute", "purchase", "refund"]


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


# --- rule 9: grants are counted per source ------------------------------------------------------


async def test_losing_one_offer_keeps_what_another_still_owes(w: World) -> None:
    await w.buy("bob", "vip")  # lounge + vip
    printed = await w.say("/grant @bob pro 30", "olga")  # lounge, a Discord role, a chat
    assert "now has Pro until" in printed
    pro_session = await w.buy("carol", "pro")
    w.read()
    vip_sub = w.subscription_of(next(iter(w.stripe.sessions)))
    await w.deliver(w.stripe.delete(vip_sub))
    printed = w.read()
    assert "(access to vip taken from bob)" in printed
    assert "lounge taken" not in printed
    assert await w.holds("bob") == {"pro"}
    assert "(access to lounge taken from bob)" in await w.say("/revoke @bob pro", "olga")
    assert await w.holds("carol") == {"pro"}
    assert pro_session


async def test_grant_and_revoke_are_recorded_with_who_did_it(w: World) -> None:
    await w.say("/whoami", "carol")
    assert "organizers" in (await w.say("/grant @carol pro", "bob")).lower()
    await w.say("/whoami", "bob")
    printed = await w.say("/grant @bob python", "olga")
    assert "now has Python 101 for good" in printed
    assert "(access to python granted to bob)" in printed
    olga = await w.member("olga")
    async with w.cohort.db.read() as conn:
        audit = (await conn.execute(select(gating_audit))).all()
    assert [(a.action, a.actor_id) for a in audit] == [("grant", olga)]
    assert "has no manual grant" in await w.say("/revoke @bob pro", "olga")
    assert "no longer has" in await w.say("/revoke @bob python", "olga")
    assert await w.count("gating_audit", action="revoke", actor_id=olga) == 1
    assert await w.count("purchases", source="manual") == 1


async def test_two_grants_of_an_offer_list_the_member_once_with_the_later_end(w: World) -> None:
    await w.say("/whoami", "bob")
    await w.say("/grant @bob pro 30", "olga")
    await w.say("/grant @bob pro", "olga")
    listed = await w.say("/members pro", "olga")
    assert listed.count("Bob —") == 1
    assert "until" not in listed  # the grant for good outlasts the 30 days
    held = await w.say("/membership", "bob")
    assert held.count("Pro —") == 1 and "until" not in held
    await w.say("/grant @bob python 10", "olga")
    await w.say("/grant @bob python 40", "olga")
    held = await w.say("/membership", "bob")
    assert held.count("Python 101 —") == 1
    assert "until 2026-12-31" in held  # 40 days from 2026-11-21, not 10
    assert await w.holds("bob") == {"pro", "python"}


async def test_grant_and_revoke_answer_the_organizer_privately_and_dm_the_member(
    w: World,
) -> None:
    await w.say("/whoami", "bob")
    printed = await w.say("/grant @bob pro", "olga")
    assert "(only you can see this) [#general] cohort:\n  Bob now has Pro for good." in printed
    assert "[#dm-bob] cohort:\n  Olga gave you Pro in Demo Community, for good." in printed
    assert "could not tell" not in printed
    # A shorter second grant changes nothing the member holds: the reply says so.
    printed = await w.say("/grant @bob pro 30", "olga")
    assert "Bob now has Pro for good." in printed and "until" not in printed
    printed = await w.say("/revoke @bob pro", "olga")
    assert "(only you can see this) [#general] cohort:\n  Bob no longer has Pro." in printed
    assert "[#dm-bob] cohort:\n  Olga ended your Pro in Demo Community." in printed


# --- rule 6 (Discord-like roles) and rule 10: the platform port, failing on purpose -------------


async def test_paid_before_joining_gets_the_role_on_join_and_again_on_rejoin(w: World) -> None:
    discord = RolePlatform(w)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    await discord_buys(w)
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.WAITING.value, 0)]
    community = w.cohort.communities["demo"]
    discord.members.add(DANA.user_id)
    await w.cohort.dispatcher.member_joined(community, DANA, GUILD)
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
    await w.cohort.dispatcher.member_left(community, DANA, GUILD)
    await w.cohort.dispatcher.member_joined(community, DANA, GUILD)
    await w.gating.run_due()
    assert [c[0] for c in discord.calls] == ["grant", "grant", "grant"]
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]


async def test_failed_platform_calls_are_retried_with_backoff_and_never_reported_done(
    w: World,
) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    admins = []
    discord.failures = [
        PlatformError(PlatformErrorReason.RATE_LIMITED, "429"),
        PlatformError(PlatformErrorReason.UNAVAILABLE, "502"),
    ]
    await discord_buys(w)
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, 1)]
    assert await w.holds_member(DANA) == {"pro"}  # a platform error is never "not entitled"
    await w.gating.run_due()
    assert len(discord.calls) == 1  # not due yet: backing off
    w.clock.advance(timedelta(seconds=2))
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, 2)]
    w.clock.advance(timedelta(seconds=4))
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
    admins.append(w.read())
    assert "Could not" not in admins[0]


async def test_a_permanent_platform_failure_goes_to_the_admin_channel(w: World) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    discord.failures = [PlatformError(PlatformErrorReason.FORBIDDEN, "50013 Missing Permissions")]
    await discord_buys(w)
    printed = w.read()
    assert "[#admins] cohort:" in printed
    assert "Could not give access for discord:900000000000000001" in printed
    assert "50013 Missing Permissions" in printed
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.FAILED.value, 1)]
    w.clock.advance(timedelta(days=1))
    await w.gating.run_due()
    assert len(discord.calls) == 1  # parked: no hammering
    printed = await w.say("/gating check", "olga")  # fixed the rights: the check retries
    assert "failed platform calls retried: 1" in printed
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]


# --- rule 11: reconciliation -------------------------------------------------------------------


async def test_reconciliation_fixes_missed_events_and_replays_undelivered_ones(w: World) -> None:
    bob = await w.buy("bob", "pro")
    carol = await w.buy("carol", "pro")
    w.read()
    w.clock.advance(timedelta(minutes=5))
    w.stripe.delete(w.subscription_of(bob))  # Stripe sent it; it never arrived
    for event in w.stripe.cancel_at_period_end(w.subscription_of(carol)):
        assert event["id"]  # never delivered either
    await w.say("/join python", "dave")
    w.stripe.pay(list(w.stripe.sessions)[-1])  # a course bought, its webhook lost
    assert await w.holds("bob") == {"pro"}
    printed = await w.say("/gating check", "olga")
    assert "Stripe subscriptions read: 2" in printed
    assert "fixed: 2" in printed
    assert "undelivered events replayed: 3" in printed
    assert "active → canceled" in printed
    assert "(access to lounge taken from bob)" in printed
    assert "(access to python granted to dave)" in printed
    assert await w.holds("bob") == set()
    assert await w.holds("carol") == {"pro"}
    assert "cancelled, ends at period end" in await w.say("/membership", "carol")
    assert await w.holds("dave") == {"python"}
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "replayed: 0" in again


async def test_stripe_down_during_reconciliation_takes_nothing_away(w: World) -> None:
    await w.buy("bob", "pro")
    w.stripe.fail_next("/v1/subscriptions", 500, times=5)
    printed = await w.say("/gating check", "olga")
    assert "Stripe could not be read" in printed
    assert await w.holds("bob") == {"pro"}
    assert "taken from" not in printed
    assert "lounge" not in await w.say("/gating check", "bob")  # members may not run it


# --- modes, types, mistakes ----------------------------------------------------------------


async def test_events_of_the_other_mode_and_unknown_types_are_recorded_and_ignored(
    w: World,
) -> None:
    await w.say("/join pro", "bob")
    session = list(w.stripe.sessions)[-1]
    events = w.stripe.pay(session)
    w.stripe.livemode = True
    live = [dict(e, id=e["id"] + "_live", livemode=True) for e in events]
    await w.deliver(live)
    assert await w.holds("bob") == set()
    assert await w.count("stripe_events", status="ignored") == 4
    await w.deliver([w.stripe.event("customer.tax_id.created", {"id": "txi_1"})])
    assert await w.count("stripe_events", status="ignored") == 5
    w.stripe.livemode = False
    await w.deliver(events)
    assert await w.holds("bob") == {"pro"}


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


async def test_billing_gives_a_portal_link_for_the_members_customer(w: World) -> None:
    assert "no billing account yet" in await w.say("/billing", "bob")
    await w.buy("bob", "pro")
    printed = await w.say("/billing", "bob")
    assert "Manage billing" in printed
    (portal,) = w.stripe.portal_sessions
    assert portal["url"] in printed
    assert portal["customer"] == w.stripe.sessions[next(iter(w.stripe.sessions))]["customer"]


async def test_members_pages_through_the_holders_of_an_offer(w: World) -> None:
    for index in range(12):
        await w.say("/whoami", f"m{index:02d}")
        await w.say(f"/grant @m{index:02d} python", "olga")
    first = await w.say("/members python", "olga")
    assert first.count("given by an organizer") == 10
    assert "Next page" in first
    second = await w.say("/members python 2", "olga")
    assert second.count("given by an organizer") == 2
    assert "There is no page 4" in await w.say("/members python 4", "olga")
    assert "Only organizers" in await w.say("/members python", "bob")


async def test_tier_commands_see_the_members_tiers(w: World) -> None:
    member = await w.member("bob")
    assert await w.gating.tiers_of(member, w.clock.now()) == frozenset()
    await w.buy("bob", "python")
    await w.buy("bob", "pro")
    assert await w.gating.tiers_of(member, w.clock.now()) == {"pro"}
    assert await w.gating.offers_of(member, w.clock.now()) == {"pro", "python"}


async def test_a_revocation_refused_for_good_is_retried_by_the_check(w: World) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    session = await discord_buys(w)
    discord.failures = [PlatformError(PlatformErrorReason.FORBIDDEN, "50013 Missing Permissions")]
    await w.deliver(w.stripe.delete(w.subscription_of(session)))
    assert await access_rows(w) == [(PRO_ROLE, False, AccessState.FAILED.value, 1)]
    assert "Could not take access away" in w.read()
    await w.say("/gating check", "olga")
    assert [c[0] for c in discord.calls] == ["grant", "revoke", "revoke"]
    assert await access_rows(w) == [(PRO_ROLE, False, AccessState.NONE.value, 0)]


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


# --- cohort stripe simulate: signed synthetic events posted to the live web app ----------------


def test_the_simulators_signature_passes_the_stripe_librarys_check() -> None:
    event = {"id": "evt_1", "object": "event", "type": "x", "created": 1, "data": {}}
    payload = json.dumps(event).encode()
    header = gating_sign(payload, DEFAULT_SECRET, int(NOW.timestamp()))
    assert verify(payload, header, DEFAULT_SECRET, now=NOW, tolerance=DAY) == event
    with pytest.raises(BadSignature):
        verify(payload, header, "whsec_other", now=NOW, tolerance=DAY)


async def test_simulated_events_take_a_member_in_and_back_out(w: World) -> None:
    await w.say("/help", "bob")  # the bot has seen bob
    url = str(w.web.make_url("/stripe/webhook"))

    async def simulated(kind: str, offer: str) -> list[tuple[str, int]]:
        sent = await simulate(
            w.cohort.config, kind, member="console:bob", offer_id=offer, now=w.clock.now(), url=url
        )
        await w.gating.run_due()
        return sent

    assert await simulated("checkout.session.completed", "python") == [
        ("checkout.session.completed", 200)
    ]
    assert await w.holds("bob") == {"python"}
    assert "(access to python granted to bob)" in w.read()
    assert await simulated("charge.refunded", "python") == [("charge.refunded", 200)]
    assert await w.holds("bob") == set()
    assert await simulated("checkout.session.completed", "pro") == [
        ("customer.subscription.created", 200),
        ("checkout.session.completed", 200),
    ]
    assert await w.holds("bob") == {"pro"}
    assert await w.count("stripe_events", status="pending") == 0  # nothing asked Stripe
    await simulated("invoice.payment_failed", "pro")
    assert "did not go through" in w.read()
    await simulated("customer.subscription.deleted", "pro")
    assert await w.holds("bob") == set()
    assert "(access to lounge taken from bob)" in w.read()


@pytest.mark.parametrize(
    ("kind", "member", "offer", "overrides", "message"),
    [
        ("checkout.session.completed", "console:bob", "python", {"mode": "live"}, "test mode"),
        ("checkout.session.completed", "console:bob", "nope", {}, "no offer 'nope'"),
        ("checkout.session.completed", "console:zed", "python", {}, "no account console:zed"),
        ("checkout.session.completed", "bob", "python", {}, "platform:user_id"),
        ("customer.subscription.deleted", "console:bob", "pro", {}, "no subscription to pro"),
        ("charge.refunded", "console:bob", "python", {}, "no unrefunded payment"),
        ("invoice.paid", "console:bob", "pro", {}, "unknown event type"),
    ],
)
async def test_a_simulation_that_cannot_be_made_says_why_and_posts_nothing(
    w: World, kind: str, member: str, offer: str, overrides: dict[str, Any], message: str
) -> None:
    await w.say("/help", "bob")
    config = w.cohort.config
    if overrides:
        config = dataclasses.replace(
            config, stripe=dataclasses.replace(config.stripe, mode=StripeMode.LIVE)
        )
    url = str(w.web.make_url("/stripe/webhook"))
    with pytest.raises(SimulateError, match=message):
        await simulate(config, kind, member=member, offer_id=offer, now=w.clock.now(), url=url)
    assert await w.count("stripe_events") == 0


async def test_a_simulation_against_a_database_never_set_up_says_so(tmp_path: Path) -> None:
    python = {"id": "python", "kind": "course", "name": "Python 101", "price_once": "price_py"}
    config = make_config(
        tmp_path,
        stripe={"webhook_secret": DEFAULT_SECRET},
        community={"offers": [python]},
        database={"url": _postgres.database_url(tmp_path, migrated=False)},
    )
    with pytest.raises(SimulateError, match="has the bot run"):
        await simulate(
            config, "checkout.session.completed", member="console:bob", offer_id="python", now=NOW
        )


async def test_cohort_stripe_simulate_posts_to_the_running_bot(w: World, tmp_path: Path) -> None:
    await w.say("/help", "bob")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "{_postgres.database_url(tmp_path)}"

[stripe]
webhook_secret = "{DEFAULT_SECRET}"

[[communities]]
id = "demo"
name = "Demo Community"

[[communities.offers]]
id = "python"
kind = "course"
name = "Python 101"
price_once = "price_py"
""",
        encoding="utf-8",
    )
    url = str(w.web.make_url("/stripe/webhook"))
    w.clock.advance(datetime.now(UTC) - w.clock.now())  # the CLI signs with the wall clock
    args = ["checkout.session.completed", "--member", "console:bob", "--offer", "python"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "stripe",
        "simulate",
        *args,
        "--url",
        url,
        "--config",
        str(config),
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "checkout.session.completed: 200"
    await w.gating.run_due()
    assert await w.holds("bob") == {"python"}
