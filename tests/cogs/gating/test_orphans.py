"""The gating worker's edges: what wakes it, when it retries, and communities it does not know."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import _inbox
from bot.cogs.gating._access import AccessState
from bot.cogs.gating._inbox import EVENT_RETRY_FIRST, FETCH_HOLD
from bot.cogs.gating._queue import ALERT_AFTER, MAX_BACKOFF, backoff
from bot.cogs.gating._service import POLL
from bot.core.clock import ManualClock
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from bot.store.tables import access_sources, gating_access, stripe_events
from tests.cogs.gating._world import (
    DANA,
    GROUP,
    GUILD,
    OFFERS,
    PAID_CHAT,
    PRO_ROLE,
    RolePlatform,
    World,
    access_rows,
    discord_buys,
    stand_in,
    world,
)
from tests.stripe_api import MONTH


@pytest.fixture
async def w(tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """Return the gating world."""
    async with world(tmp_path, clock) as it:
        yield it


async def _until(check: Any, seconds: float) -> bool:
    """Wait up to ``seconds`` of real time for ``check()`` to hold; return whether it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.01)
    return bool(await check())


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
    assert await _until(lambda: _idle(w), 2.0)
    await asyncio.sleep(0.05)
    await w.gating.reconciler.reconcile()  # the scheduled check, without a pass of its own
    assert await w.holds("bob") == frozenset()

    async def taken() -> bool:
        return "bob" not in {user for user, _ in w.console.access}

    # Woken by the reconciliation's writes: well before the poll would have come.
    assert await _until(taken, POLL / 3)


async def _idle(w: World) -> bool:
    return not w.gating._pass.locked() and await w.gating.next_wait() == POLL


# --- a community taken out of the config --------------------------------------------------------

DEMO: dict[str, Any] = {
    "id": "demo",
    "name": "Demo Community",
    "locale": "en",
    "timezone": "Europe/Berlin",
    "organizers": ["console:olga"],
    "admins": ["console:alice"],
    "discord_guilds": [int(GUILD)],
    "telegram_chats": [int(GROUP), int(PAID_CHAT)],
    "offers": OFFERS,
    "gating": {"admin_channel": "console:admins"},
}
GONE: dict[str, Any] = {
    "id": "gone",
    "name": "Gone Club",
    "locale": "en",
    "timezone": "Europe/Berlin",
    "organizers": ["console:olga"],
    "offers": [
        {
            "id": "gpro",
            "kind": "tier",
            "name": "Gone Pro",
            "price_monthly": "price_gone_m",
            "console_channels": ["gone-lounge"],
        }
    ],
}


def _gone_console(w: World, user: str) -> ConsoleAdapter:
    return ConsoleAdapter(
        w.cohort, w.cohort.communities["gone"], user=user, out=io.StringIO(), echo=True
    )


async def _rows_of(w: World, gone: int, *tables: Table) -> list[tuple[Any, ...]]:
    """Return every row of ``gone`` in ``tables``, as it stands."""
    found: list[tuple[Any, ...]] = []
    async with w.cohort.db.read() as conn:
        for table in tables:
            rows = await conn.execute(
                select(table).where(table.c.community_id == gone).order_by(table.c.id)
            )
            found += [tuple(row) for row in rows]
    return found


async def _kept_events(w: World, gone: int) -> list[tuple[str, int]]:
    """Return the status and tries of ``gone``'s events in the inbox."""
    async with w.cohort.db.read() as conn:
        rows = await conn.execute(
            select(stripe_events.c.status, stripe_events.c.attempts).where(
                stripe_events.c.community_id == gone
            )
        )
        return [(row.status, row.attempts) for row in rows]


async def test_a_community_taken_out_of_the_config_waits_untouched_and_the_rest_runs(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with stand_in(clock) as stripe:
        stripe.add_price("price_gone_m", 700, interval=MONTH)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            gone = w.cohort.communities["gone"].id
            console = _gone_console(w, "erin")
            await console.handle_line("/whoami")
            console.user = "olga"
            await console.handle_line("/grant @erin gpro 1")  # a lapse tomorrow, a call queued
            console.user = "dave"
            await console.handle_line("/join gpro")
            paid = stripe.pay(list(stripe.sessions)[-1])
            for event in paid:  # stored, not applied yet
                assert await w.post(event) == 200
            dave = console.caller("dave")
        clock.advance(timedelta(days=2))  # the grant's lapse is due too
        async with world(tmp_path, clock, stripe=stripe) as w:
            assert "gone" not in w.cohort.communities
            held = await _rows_of(w, gone, access_sources, gating_access)
            caplog.set_level(logging.WARNING, logger="bot.cogs.gating")
            for _ in range(3):  # passes of the worker: none fails
                await w.gating.run_due()
            assert w.gating.orphans.waiting == {
                gone: {"sources": 1, "lapses": 1, "calls": 1, "events": len(paid)}
            }
            # The rest runs: a purchase in the loaded community is applied and granted.
            await w.buy("bob", "pro")
            assert await w.holds("bob") == {"pro"}
            clock.advance(timedelta(hours=2))  # its kept events are looked at again
            await w.gating.run_due()
            assert await _rows_of(w, gone, access_sources, gating_access) == held  # untouched
            assert await _kept_events(w, gone) == [("pending", 0)] * len(paid)  # never expire
            clock.advance(MAX_BACKOFF - timedelta(seconds=1))  # a second before their next look
            assert (
                await w.gating.next_wait() == POLL
            )  # not woken for: this process can't apply them
            said = [r.getMessage() for r in caplog.records if "not in the config" in r.message]
            assert len(said) == 1, said  # once per community per process, not every pass
            assert f"community id {gone} " in said[0]
            assert f"its {2 + len(paid)} rows wait" in said[0]
            await w.cohort.start()

            async def shown() -> bool:
                response = await w.web.get("/healthz")
                task = (await response.json())["tasks"].get("gating.worker", {})
                return bool(task.get("unknown_communities", {}).get(str(gone)))

            assert await _until(shown, 2.0)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            await w.gating.run_due()  # back in the config: its events are due at once
            buyer = await w.cohort.identity.resolve(gone, dave)
            assert await w.gating.offers_of(buyer.member_id, clock.now()) == {"gpro"}
            assert ("pending", 0) not in await _kept_events(w, gone)
            assert not w.gating.orphans.waiting


async def test_a_refund_and_a_dispute_of_a_community_taken_out_wait_for_it_to_come_back(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with stand_in(clock) as stripe:
        stripe.add_price("price_gone_m", 700, interval=MONTH)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            gone = w.cohort.communities["gone"].id
            console = _gone_console(w, "dave")
            await console.handle_line("/join gpro")
            session = list(stripe.sessions)[-1]
            await w.deliver(stripe.pay(session))  # paid: its payment is the community's
            dave = console.caller("dave")
        intent = stripe.intent_of(str(stripe.sessions[session]["subscription"]))
        clock.advance(timedelta(minutes=1))
        later = stripe.refund(intent) + stripe.dispute(intent)[1]
        async with world(tmp_path, clock, stripe=stripe) as w:  # taken out of the config
            await w.deliver(later)
            for _ in range(20):  # hours of passes: more than an event's tries with backoff
                clock.advance(timedelta(hours=1))
                await w.gating.run_due()
            # Kept for the community, tries not counted. They expired as payments not known
            # yet (16 tries), and the community came back with its refund and dispute lost.
            kept = await _kept_events(w, gone)  # the paid checkout's events are there too
            assert kept.count(("pending", 0)) == len(later) == 2
            assert await w.count("stripe_events", status="expired") == 0
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            await w.gating.run_due()  # back in the config: they are due at once
            buyer = await w.cohort.identity.resolve(gone, dave)
            assert await w.gating.offers_of(buyer.member_id, clock.now()) == frozenset()
            assert await w.count("stripe_events", status="pending") == 0
            assert await w.count("stripe_events", status="expired") == 0
