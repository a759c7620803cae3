"""Gating ``_service``: the cached tiers and courses, and the worker's timer.

Held tiers and courses come from a cache that every change to access sources invalidates. The
worker sleeps until the next lapse, platform-call retry or inbox retry, at most the poll, and
reconciliation wakes it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.cogs.gating import Gating, _inbox, _service
from bot.cogs.gating._access import AccessState
from bot.cogs.gating._inbox import EVENT_RETRY_FIRST, FETCH_HOLD
from bot.cogs.gating._queue import ALERT_AFTER, backoff
from bot.cogs.gating._service import POLL
from bot.core.clock import ManualClock
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from bot.runtime import build
from bot.store.tables import stripe_events
from tests._sql import queries, statements
from tests.cogs.gating._world import (
    DANA,
    PRO_ROLE,
    RolePlatform,
    World,
    access_rows,
    discord_buys,
    gating_config,
    until,
    world,
)
from tests.conftest import START

# --- retries of platform calls feed the worker's timer ---------------------------------------


async def test_a_call_failing_once_is_retried_at_its_backoff_not_at_the_next_poll(
    w: World,
) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    discord.failures = [PlatformError(PlatformErrorReason.UNAVAILABLE, "502")]
    await discord_buys(w)
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, 1)]
    first = backoff(1).total_seconds()
    assert first < POLL
    # The worker sleeps until the retry (2 s), not the poll (it was 5 s: the retry waited it).
    assert await w.gating.next_wait() == pytest.approx(first)
    w.clock.advance(timedelta(seconds=first / 2))
    assert await w.gating.next_wait() == pytest.approx(first / 2)
    w.clock.advance(timedelta(seconds=first / 2))
    assert await w.gating.next_wait() == 0
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
    assert len(discord.calls) == 2
    assert await w.gating.next_wait() == POLL  # nothing left to do


async def test_a_call_failing_forever_backs_off_capped_by_the_poll_and_alerts_once(
    w: World,
) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    discord.failures = [PlatformError(PlatformErrorReason.UNAVAILABLE, "502")] * 100
    await discord_buys(w)
    w.read()
    alerts = 0
    for attempts in range(1, ALERT_AFTER + 3):
        assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, attempts)]
        wait = backoff(attempts).total_seconds()
        assert await w.gating.next_wait() == pytest.approx(min(wait, POLL))
        w.clock.advance(timedelta(seconds=wait) - timedelta(milliseconds=1))
        await w.gating.run_due()
        assert len(discord.calls) == attempts  # not before its time
        w.clock.advance(timedelta(milliseconds=1))
        await w.gating.run_due()
        assert len(discord.calls) == attempts + 1
        alerts += w.read().count("Still trying to give access")
    assert alerts == 1  # after ALERT_AFTER tries, once; the row keeps backing off
    # Refused for good: parked as failed (the existing rule), and nothing to wake up for.
    discord.failures = [PlatformError(PlatformErrorReason.FORBIDDEN, "50013")]
    w.clock.advance(backoff(ALERT_AFTER + 3))
    await w.gating.run_due()
    rows = await access_rows(w)
    assert rows == [(PRO_ROLE, True, AccessState.FAILED.value, ALERT_AFTER + 4)]
    assert await w.gating.next_wait() == POLL


# --- retries of inbox events feed it too ------------------------------------------------------


async def test_a_deferred_event_is_retried_at_its_backoff_not_at_the_next_poll(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/join python", "bob")
        session = list(w.stripe.sessions)[-1]
        (completed,) = w.stripe.pay(session)
        (refunded,) = w.stripe.refund(w.stripe.intent_of(session))
        await w.deliver([refunded])  # before its payment: deferred
        assert await w.count("stripe_events", status="pending") == 1
        # The worker sleeps until its retry (0.25 s), not the poll (it was 5 s: it waited it).
        assert await w.gating.next_wait() == pytest.approx(EVENT_RETRY_FIRST)
        async with world(tmp_path, clock, stripe=w.stripe) as other:
            # Another process applies the payment: nothing wakes the refund in this one (the
            # hint is in memory), so its backoff is what brings it back.
            await other.deliver([completed])
            assert await other.holds("bob") == {"python"}
        assert await w.gating.next_wait() == pytest.approx(EVENT_RETRY_FIRST)
        clock.advance(timedelta(seconds=EVENT_RETRY_FIRST / 2))
        assert await w.gating.next_wait() == pytest.approx(EVENT_RETRY_FIRST / 2)
        clock.advance(timedelta(seconds=EVENT_RETRY_FIRST / 2))
        assert await w.gating.next_wait() == 0
        await w.gating.run_due()
        assert await w.count("stripe_events", status="pending") == 0
        assert await w.holds("bob") == frozenset()  # refunded
        assert await w.gating.next_wait() == POLL  # nothing left to do


async def test_an_event_another_process_holds_is_waited_for_until_its_hold_ends(
    w: World,
) -> None:
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    w.stripe.pay(session)
    (refunded,) = w.stripe.refund(w.stripe.intent_of(session))
    await w.deliver([refunded])  # deferred: due again in 0.25 s
    # Another process's batch took it and holds it while it reads from Stripe (``_hold``).
    held_until = w.clock.now() + FETCH_HOLD
    async with w.cohort.db.write() as conn:
        await conn.execute(stripe_events.update().values(next_attempt_at=held_until))
    assert await w.gating.next_wait() == POLL  # not its backoff: that process has it
    w.clock.advance(FETCH_HOLD - timedelta(seconds=1))
    # That process may have died holding it: due for this one when the hold ends.
    assert await w.gating.next_wait() == pytest.approx(1.0)


async def test_an_event_another_process_is_applying_is_not_spun_on(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await w.say("/join python", "bob")
    session = list(w.stripe.sessions)[-1]
    w.stripe.pay(session)
    (refunded,) = w.stripe.refund(w.stripe.intent_of(session))
    await w.deliver([refunded])  # deferred
    w.clock.advance(timedelta(seconds=EVENT_RETRY_FIRST))
    assert await w.gating.next_wait() == 0  # due

    async def skipped(*_: object) -> list[object]:
        return []

    # On PostgreSQL another process's batch has its row locked (``FOR UPDATE SKIP LOCKED``):
    # the pass leaves it to that process, still pending and due until it commits.
    monkeypatch.setattr(_inbox, "_still_due", skipped)
    await w.gating.run_due()
    assert await w.count("stripe_events", status="pending") == 1
    assert await w.gating.next_wait() == POLL  # not 0, pass after pass, until it commits


# --- reconciliation wakes the worker ------------------------------------------------------------


async def test_what_reconciliation_makes_due_runs_at_once_not_on_the_poll(w: World) -> None:
    session = await w.buy("bob", "pro")
    assert ("bob", "lounge") in {(user, t.space_id) for user, t in w.console.access}
    w.stripe.delete(w.subscription_of(session))  # Stripe sent it; it never arrived
    await w.cohort.start()  # the worker runs; with nothing due it sleeps for the poll (5 s)
    assert await until(lambda: _idle(w), 2.0)
    await asyncio.sleep(0.05)
    await w.gating.reconciler.reconcile()  # the scheduled check, without a pass of its own
    assert await w.holds("bob") == frozenset()

    async def taken() -> bool:
        return "bob" not in {user for user, _ in w.console.access}

    # Woken by the reconciliation's writes: well before the poll would have come.
    assert await until(taken, POLL / 3)


async def _idle(w: World) -> bool:
    return not w.gating._pass.locked() and await w.gating.next_wait() == POLL


STALE = timedelta(seconds=1)


async def test_tiers_are_served_without_a_read_until_a_grant_changes_them(w: World) -> None:
    await w.say("/whoami", "bob")
    bob = await w.member("bob")
    assert await w.cohort.entitlements.tiers_of(bob, w.clock.now()) == frozenset()
    with statements(w.cohort.db) as seen:
        assert await w.cohort.entitlements.tiers_of(bob, w.clock.now()) == frozenset()
    assert queries(seen) == []
    await w.say("/grant @bob pro 30", "olga")
    assert await w.cohort.entitlements.tiers_of(bob, w.clock.now()) == {"pro"}  # at once
    w.clock.advance(timedelta(days=31))  # the grant lapses by time alone: no write needed
    assert await w.cohort.entitlements.tiers_of(bob, w.clock.now()) == frozenset()


async def test_a_revoke_in_another_process_is_seen_after_the_staleness_window(
    tmp_path: Path, w: World
) -> None:
    await w.say("/whoami", "bob")
    bob = await w.member("bob")
    await w.say("/grant @bob pro", "olga")
    clock = ManualClock(START)
    second = await build(gating_config(tmp_path, w.stripe), clock=clock)
    try:
        gating = second.entitlements
        assert isinstance(gating, Gating)
        assert await gating.offers_of(bob, clock.now()) == {"pro"}
        await w.say("/revoke @bob pro", "olga")
        assert await w.holds("bob") == frozenset()
        clock.advance(STALE / 2)
        assert await gating.offers_of(bob, clock.now()) == {"pro"}  # within the window
        clock.advance(STALE / 2)
        assert await gating.offers_of(bob, clock.now()) == frozenset()
    finally:
        await second.stop()
        await second.db.close()


async def test_the_worker_waits_until_the_next_lapse_when_it_is_sooner_than_its_poll(
    w: World,
) -> None:
    service = w.cohort.entitlements
    assert isinstance(service, Gating)
    assert await service.next_wait() == POLL  # nothing lapses
    await w.say("/whoami", "bob")
    await w.say("/grant @bob pro 1", "olga")
    lapse = w.clock.now() + timedelta(days=1)
    assert await service.next_wait() == POLL  # a day away
    w.clock.advance(lapse - w.clock.now() - timedelta(seconds=2))
    assert await service.next_wait() == pytest.approx(2.0)
    w.clock.advance(timedelta(seconds=2) - timedelta(milliseconds=1))
    assert await service.next_wait() == pytest.approx(0.001)
    w.clock.advance(timedelta(milliseconds=1))  # due: the pass lets it go, then the full poll
    assert await w.holds("bob") == frozenset()
    await service.run_due()
    assert await service.next_wait() == POLL


async def test_a_lapse_due_since_the_last_pass_looked_is_let_go_at_once_not_after_the_poll(
    w: World,
) -> None:
    service = w.cohort.entitlements
    assert isinstance(service, Gating)
    await w.say("/whoami", "bob")
    await w.say("/grant @bob pro 1", "olga")
    assert {user for user, _ in w.console.access} == {"bob"}
    lapse = w.clock.now() + timedelta(days=1)
    # The pass looks a hair before the lapse (a wake-up a little early, or a pass still running
    # as it falls due); by the time the worker asks how long to sleep, it is due.
    w.clock.advance(lapse - w.clock.now() - timedelta(milliseconds=1))
    await service.run_due()
    w.clock.advance(timedelta(milliseconds=2))
    assert await service.next_wait() == 0  # it was POLL: the lapse waited out the 5 s poll
    await service.run_due()
    assert w.console.access == set()  # taken away on the platform
    assert await service.next_wait() == POLL


async def test_a_lapse_a_pass_left_due_neither_spins_the_worker_nor_hides_a_later_one(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = w.gating
    await w.say("/whoami", "bob")
    await w.say("/whoami", "carol")
    await w.say("/grant @bob pro 1", "olga")
    w.clock.advance(timedelta(seconds=2))
    await w.say("/grant @carol pro 1", "olga")  # lapses 2 s after bob's
    w.clock.advance(timedelta(days=1) - timedelta(seconds=2))  # bob's is due

    async def locked(*_: object, **__: object) -> int:
        raise OperationalError("UPDATE access_sources", {}, Exception("database is locked"))

    # The pass sees bob's lapse but cannot write it (another process kept the write lock past
    # the timeout, say): it stays due, left by that pass.
    monkeypatch.setattr(_service, "recompute_pairs", locked)
    with pytest.raises(OperationalError):
        await service.run_due()
    monkeypatch.undo()
    # Not 0 (that would spin on it), and not POLL: carol's lapse in 2 s waited out the poll
    # behind bob's, the earliest of all.
    assert await service.next_wait() == pytest.approx(2.0)
    w.clock.advance(timedelta(seconds=2))
    assert await service.next_wait() == 0
    await service.run_due()  # both go
    assert await w.holds("bob") == frozenset()
    assert await w.holds("carol") == frozenset()
    assert w.console.access == set()
    assert await service.next_wait() == POLL
