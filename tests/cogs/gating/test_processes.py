"""Three bots on one database drain one Stripe inbox: every event applied once, none lost.

Each bot is built on its own engine (its own connections), as a process of its own would be;
their inbox workers run at the same time. On PostgreSQL the rows are claimed ``FOR UPDATE SKIP
LOCKED``; on SQLite writers take turns and an event applied meanwhile is no longer pending.
2,000 events, each posted twice in a shuffled order, 16 at a time as Stripe does. A worker that
finds the first due events held by another looks past them (``Inbox.drain``), also in the
worker's pass that takes one batch at a time, so on PostgreSQL all three apply events at once.
An event applied alone (after its batch failed) is held back from the others while its Stripe
reads are made, as in a batch. A batch, or an event, whose transaction loses a race with
another's (the same subscription made by both, a deadlock) is applied again at once, not left
pending.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from bot.cogs.gating import _inbox
from bot.cogs.gating._outcomes import EventStatus
from bot.core.clock import ManualClock
from bot.core.ports import AccessTarget
from bot.store.lease import Lease
from bot.store.tables import gating_access, stripe_events
from tests.cogs.gating._world import World, world

BUYERS = 800  # a checkout and its payment each: 2,000 events from Stripe
EVENTS = 2_000
PROCESSES = 3
SEED = 19
POSTS_AT_ONCE = 16  # Stripe delivers events concurrently; the inbox group-commits them


async def _sessions(w: World, count: int = BUYERS) -> tuple[list[str], list[dict[str, Any]]]:
    """Let ``count`` people start a checkout and pay; return them and Stripe's events, unsent.

    Typed on the console without a worker pass after each line (``World.say`` makes one):
    nothing is due until the events come, and the 800 empty passes took this part from 6.4 s
    to 9.4 s (SQLite, 2026-12-08 00:52 UTC, load 3.1-3.5).
    """
    buyers = [f"buyer{n:02d}" for n in range(count)]
    events: list[dict[str, Any]] = []
    for user in buyers:
        offer = "python" if int(user[-2:]) % 2 else "pro"
        printed = await w.type_line(f"/join {offer}", user)
        assert "Pay with Stripe" in printed, printed
        events += w.stripe.pay(list(w.stripe.sessions)[-1])
    return buyers, events


@pytest.mark.slow
async def test_three_bots_apply_shuffled_duplicated_events_exactly_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock) as first:
        buyers, events = await _sessions(first)
        assert len(events) == EVENTS
        sent = events + events  # Stripe retries: every event comes twice, in any order
        random.Random(SEED).shuffle(sent)
        gate = asyncio.Semaphore(POSTS_AT_ONCE)

        async def post(event: dict[str, Any]) -> int:
            async with gate:
                return await first.post(event)

        statuses = await asyncio.gather(*(post(event) for event in sent))
        assert set(statuses) == {200}
        assert await first.count("stripe_events") == len(events)  # stored once each
        async with (
            world(tmp_path, clock, stripe=first.stripe) as second,
            world(tmp_path, clock, stripe=first.stripe) as third,
        ):
            bots = (first, second, third)
            applied: Counter[str] = Counter()
            for bot in bots:

                async def seen(event_id: str) -> None:
                    applied[event_id] += 1

                bot.gating.inbox.hooks.append(seen)
            # The worker's own pass: a batch of events, then the access calls, until done.
            taken = await asyncio.gather(*(bot.gating.run_due() for bot in bots))
            if first.cohort.db.engine.dialect.name == "postgresql":
                assert all(taken), taken  # each worker applied a share
            await first.gating.run_due()
        pending = await first.count("stripe_events", status=EventStatus.PENDING.value)
        assert pending == 0
        assert sorted(applied) == sorted(e["id"] for e in events)  # none lost
        assert set(applied.values()) == {1}  # none doubled
        # The first bot caches what members hold; the others' writes reach it once its cache
        # is older than [work] cache_staleness (bot/core/versions.py).
        clock.advance(timedelta(seconds=first.cohort.config.work.cache_staleness + 1))
        for user in buyers:
            offer = "python" if int(user[-2:]) % 2 else "pro"
            assert await first.holds(user) == {offer}
        assert await first.count("purchases") == BUYERS


def _count_grants(w: World, calls: Counter[tuple[str, str]]) -> None:
    """Count every access ``w``'s console gives, slowly, so that the bots' calls overlap."""
    grant = w.console.grant_access

    async def counted(user_id: str, target: AccessTarget) -> None:
        calls[(user_id, target.space_id)] += 1
        await asyncio.sleep(0.005)
        await grant(user_id, target)

    w.console.grant_access = counted  # type: ignore[method-assign]


async def _paid_not_yet_let_in(w: World, count: int) -> list[str]:
    """Let ``count`` buyers pay and apply Stripe's events, without making the platform calls."""
    buyers, events = await _sessions(w, count)
    w.read()
    for event in events:
        assert await w.post(event) == 200
    await w.gating.inbox.drain()
    return buyers


async def test_three_bots_give_each_paid_access_once(tmp_path: Path, clock: ManualClock) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    async with world(tmp_path, clock) as first:
        # /join runs the queue once per buyer; the access the payments ask for is left due.
        buyers = await _paid_not_yet_let_in(first, 60)
        assert await first.count("gating_access") == 60
        async with (
            world(tmp_path, clock, stripe=first.stripe) as second,
            world(tmp_path, clock, stripe=first.stripe) as third,
        ):
            for bot in (first, second, third):
                _count_grants(bot, calls)
            handled = await asyncio.gather(
                *(bot.gating.queue.run() for bot in (first, second, third))
            )
        assert sum(handled) == 60  # each row handled by one bot
        assert set(calls.values()) == {1} and len(calls) == 60, calls.most_common(3)
        assert await first.count("gating_access", state="granted") == 60
        assert await first.count("gating_access", claimed_by=None) == 60  # every claim let go
        members = {user for user, _ in calls}
        assert len(members) == len(buyers)


async def test_access_a_dead_process_claimed_is_given_once_its_lease_runs_out(
    tmp_path: Path, clock: ManualClock
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    async with world(tmp_path, clock) as bot:
        await _paid_not_yet_let_in(bot, 3)
        _count_grants(bot, calls)
        dead = Lease("dead-host:1:0", bot.cohort.config.work.lease)
        c = gating_access.c
        async with bot.cohort.db.write() as conn:
            claimed = await dead.claim(
                conn,
                gating_access,
                c.next_attempt_at.is_not(None),
                token=dead.token(),
                now=clock.now(),
                order_by=[c.id],
                limit=10,
                returning=[c.id],
            )
        assert len(claimed) == 3
        assert await bot.gating.queue.run() == 0  # another process's claim is its own
        clock.advance(bot.cohort.config.work.lease - timedelta(seconds=1))
        assert await bot.gating.queue.run() == 0
        assert not calls
        clock.advance(timedelta(seconds=1))  # the lease has run out: the work is taken over
        assert await bot.gating.queue.run() == 3
        assert set(calls.values()) == {1} and len(calls) == 3
        assert await bot.gating.queue.run() == 0


async def test_a_batch_that_loses_a_race_is_applied_again_whole(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, clock) as bot:
        _, events = await _sessions(bot, 10)
        for event in events:
            assert await bot.post(event) == 200
        inbox = bot.gating.inbox
        apply = inbox.applier.apply
        calls = 0

        async def deadlocked_once(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 5:  # as PostgreSQL ends a transaction it picked to break a deadlock
                raise DBAPIError("INSERT INTO access_sources", None, Exception("deadlock detected"))
            return await apply(*args, **kwargs)

        one_by_one: list[int] = []

        async def apply_row(row: Any) -> None:
            one_by_one.append(row.id)

        inbox.applier.apply = deadlocked_once  # type: ignore[method-assign]
        inbox._apply_row = apply_row  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO, logger="bot.cogs.gating"):
            assert await inbox.drain() == len(events)
        assert one_by_one == []  # not one transaction per event
        assert await bot.count("stripe_events", status=EventStatus.APPLIED.value) == len(events)
        assert await bot.count("purchases") == 10
        assert [r.levelno for r in caplog.records if "lost a race" in r.getMessage()] == [
            logging.INFO
        ]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def slow_invoice_reads(w: World) -> tuple[asyncio.Event, asyncio.Event]:
    """Make ``w``'s Stripe invoice reads wait: return (a read began, let the reads answer)."""
    gateway = w.gating.gateway
    assert gateway is not None
    reading, read = asyncio.Event(), asyncio.Event()
    invoice = gateway.invoice

    async def slow(invoice_id: str) -> Any:
        reading.set()
        await read.wait()
        return await invoice(invoice_id)

    gateway.invoice = slow  # type: ignore[method-assign]
    return reading, read


async def test_an_event_waiting_for_its_stripe_read_is_left_to_the_process_reading_it(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tier's invoice.paid needs the invoice read from Stripe after its batch commits. Another
    # process must not take it meanwhile (it would ask Stripe too, and hold it when the first
    # comes back with the read: under load, the processes took such events from each other
    # many times over).
    monkeypatch.setattr(_inbox, "BATCH_SECONDS", 60)  # one batch, however loaded the machine
    async with world(tmp_path, clock) as first:
        _, events = await _sessions(first, 2)  # buyer00 takes the tier, buyer01 a course
        for event in events:
            assert await first.post(event) == 200
        async with world(tmp_path, clock, stripe=first.stripe) as second:
            reading, read = slow_invoice_reads(first)
            draining = asyncio.create_task(first.gating.inbox.drain())
            await asyncio.wait_for(reading.wait(), 30)
            assert await first.count("stripe_events", status=EventStatus.PENDING.value) == 1
            assert await second.gating.inbox.drain() == 0  # held back for the first's read
            read.set()
            assert await draining == len(events)
        assert await first.count("stripe_events", status=EventStatus.PENDING.value) == 0
        assert await first.holds("buyer00") == {"pro"}


async def test_an_event_whose_row_another_batch_holds_is_released_once_that_batch_commits(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch that comes back with the Stripe read finds the event's row held by another
    # process's batch (PostgreSQL skips it): the event must be due again once that batch ends,
    # not held back for the rest of FETCH_HOLD (three processes left 52 events so, for a minute).
    monkeypatch.setattr(_inbox, "BATCH_SECONDS", 60)
    async with world(tmp_path, clock) as first:
        _, events = await _sessions(first, 2)
        for event in events:
            assert await first.post(event) == 200
        async with world(tmp_path, clock, stripe=first.stripe) as second:
            reading, read = slow_invoice_reads(first)
            draining = asyncio.create_task(first.gating.inbox.drain())
            await asyncio.wait_for(reading.wait(), 30)
            async with second.cohort.db.write() as conn:
                pending = select(stripe_events.c.id).where(
                    stripe_events.c.status == EventStatus.PENDING.value
                )
                if conn.dialect.name == "postgresql":
                    pending = pending.with_for_update()
                assert len((await conn.execute(pending)).all()) == 1
                read.set()
                await asyncio.sleep(0.5)  # the first comes back and finds the row held
            assert await asyncio.wait_for(draining, 30) >= len(events)
        assert await first.count("stripe_events", status=EventStatus.PENDING.value) == 0
        assert await first.holds("buyer00") == {"pro"}


async def test_an_event_applied_alone_is_left_to_the_process_reading_it_from_stripe(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch that fails (not a race) is applied again one event per transaction; an event
    # that then needs a Stripe read is held back from the other processes while it is read,
    # as in a batch: otherwise another process takes it and asks Stripe too.
    monkeypatch.setattr(_inbox, "BATCH_SECONDS", 60)
    async with world(tmp_path, clock) as first:
        _, events = await _sessions(first, 2)  # buyer00 takes the tier, buyer01 a course
        for event in events:
            assert await first.post(event) == 200
        inbox = first.gating.inbox
        apply = inbox.applier.apply
        failed = False

        async def fails_once(*args: Any, **kwargs: Any) -> Any:
            nonlocal failed
            if args[1]["type"] == "invoice.paid" and not failed:
                failed = True
                raise RuntimeError("a bug in one event")
            return await apply(*args, **kwargs)

        inbox.applier.apply = fails_once  # type: ignore[method-assign]
        async with world(tmp_path, clock, stripe=first.stripe) as second:
            reading, read = slow_invoice_reads(first)
            draining = asyncio.create_task(inbox.drain())
            await asyncio.wait_for(reading.wait(), 30)
            assert await second.gating.inbox.drain() == 0  # held back for the first's read
            read.set()
            assert await asyncio.wait_for(draining, 30) == len(events)
        assert await first.count("stripe_events", status=EventStatus.PENDING.value) == 0
        assert await first.holds("buyer00") == {"pro"}
