"""Gating ``_inbox``: stored before the 2xx, applied in batches by the worker, also after a restart.

A crash or an error mid-batch loses nothing; events of the other mode, of unknown types or that
no checkout ever places are recorded and let go. The real ``stripe`` library talks to the
loopback stand-in in ``tests/stripe_api``; webhooks are signed as Stripe signs them and posted
to the real aiohttp app; platform effects are read from the console adapter (and, in
``tests/adapters/test_telegram_gating.py``, from Telegram's).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cogs.gating import Gating, _inbox
from bot.core.clock import ManualClock
from bot.store.tables import access_sources, gating_audit, points_ledger, stripe_events
from tests.cogs.gating._world import World, stand_in, world

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
