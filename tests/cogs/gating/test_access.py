"""A lapse pass or a reconciliation and another process's writes to the same members, on PostgreSQL.

Several processes write one PostgreSQL database at once (SQLite has one writer at a time, so
the interleaving below cannot happen there). The worker's lapse pass reads a member's access
sources, decides, and writes the flags and the access rows it decided; a renewal committed by
another process in between must not be undone by those writes. A lapse pass or a
reconciliation that loses a deadlock to another process's transaction is tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from bot.cogs.gating import _access
from bot.cogs.gating._access import AccessState
from bot.core.clock import ManualClock
from bot.store.tables import access_sources, gating_access
from tests import _postgres
from tests.cogs.gating._world import World, access_rows, world

Act = Callable[[World], Coroutine[Any, Any, None]]

pytestmark = pytest.mark.skipif(
    not _postgres.enabled(),
    reason="processes write at once only on PostgreSQL (SQLite: one writer at a time)",
)


class Paused:
    """A connection that stops after its first statement until ``go`` is set."""

    def __init__(self, conn: Any, reached: asyncio.Event, go: asyncio.Event) -> None:
        self.conn, self.reached, self.go = conn, reached, go
        self.first = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Run a statement; after the first, wait until told to go on."""
        result = await self.conn.execute(*args, **kwargs)
        if self.first:
            self.first = False
            self.reached.set()
            await self.go.wait()
        return result


async def waiting_on_a_lock(w: World) -> bool:
    """Tell whether a session of this database waits for a lock another one holds."""
    async with w.cohort.db.read() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(found)


async def until_it_waits(w: World, task: asyncio.Task[Any], what: str) -> None:
    """Wait until ``task`` waits for a lock another session holds; fail if it ends first."""
    while not await waiting_on_a_lock(w):
        done, _ = await asyncio.wait({task}, timeout=0.01)
        assert not done, what


async def loses_no_deadlock(conn: Any) -> None:
    """Make this transaction the last to look for a deadlock it is in: the other one is failed.

    PostgreSQL fails the transaction whose wait reaches ``deadlock_timeout`` first; the other
    process's waits for a second at most, so under load either could. (The test server's owner
    may set it; it lasts until the transaction ends.)
    """
    await conn.execute(text("SET LOCAL deadlock_timeout = '1min'"))


async def bob_access(w: World) -> tuple[list[bool], list[bool]]:
    """Return the entitled flags of Bob's sources and the desired flags of his access rows."""
    bob = await w.member("bob")
    async with w.cohort.db.read() as conn:
        flags = (
            await conn.scalars(
                select(access_sources.c.entitled).where(access_sources.c.member_id == bob)
            )
        ).all()
        desired = (
            await conn.scalars(
                select(gating_access.c.desired).where(gating_access.c.member_id == bob)
            )
        ).all()
    return [bool(f) for f in flags], [bool(d) for d in desired]


async def during_a_lapse_pass(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, act: Act
) -> None:
    """Let another process ``act`` while the lapse pass is inside its recompute.

    The pass stops after its first statement; the other process acts until it is done or
    waits for a lock the pass holds; then the pass goes on. Both must finish.
    """
    reached, go = asyncio.Event(), asyncio.Event()
    chunk = _access._recompute_chunk

    async def paused_chunk(conn: Any, *args: Any) -> int:
        if reached.is_set():  # only the lapse pass's, the first
            return await chunk(conn, *args)
        paused: Any = Paused(conn, reached, go)  # stands in for the connection
        return await chunk(paused, *args)

    monkeypatch.setattr(_access, "_recompute_chunk", paused_chunk)
    lapse = asyncio.create_task(w.gating.run_due())
    await asyncio.wait_for(reached.wait(), 30)
    async with world(tmp_path, w.clock, stripe=w.stripe) as other:
        command = asyncio.create_task(act(other))
        while not await waiting_on_a_lock(w):
            done, _ = await asyncio.wait({command}, timeout=0.01)
            if done:
                break
        go.set()
        await asyncio.wait_for(lapse, 30)  # a deadlock would fail one of the two
        await asyncio.wait_for(command, 30)


def olga(line: str) -> Act:
    """Return the act of Olga typing ``line``, which must not fail."""

    async def act(other: World) -> None:
        reply = await other.say(line, "olga")
        assert "went wrong" not in reply, reply

    return act


async def test_a_renewal_another_process_commits_during_a_lapse_pass_is_not_undone(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/whoami", "bob")
        await w.say("/grant @bob pro 1", "olga")
        assert await bob_access(w) == ([True], [True])
        clock.advance(timedelta(days=1))  # the grant's end: the lapse pass recomputes Bob
        await during_a_lapse_pass(w, tmp_path, monkeypatch, olga("/grant @bob pro 30"))
        assert await w.holds("bob") == {"pro"}
        # The first grant lapsed and the second holds; the pass's decision, made from what it
        # read before the renewal, must not have taken Bob's channel away.
        flags, desired = await bob_access(w)
        assert sorted(flags) == [False, True]
        assert desired == [True]


async def test_a_revoke_of_the_lapsing_grant_in_another_process_waits_instead_of_deadlocking(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/whoami", "bob")
        await w.say("/grant @bob pro 1", "olga")
        clock.advance(timedelta(days=1))
        # The revoke writes the very source the pass is about to write: taking the member
        # first, as the pass does, it waits for the pass instead of holding that row.
        await during_a_lapse_pass(w, tmp_path, monkeypatch, olga("/revoke @bob pro"))
        assert await w.holds("bob") == frozenset()
        assert await bob_access(w) == ([False], [False])


async def test_a_late_payment_another_process_applies_as_grace_ends_keeps_the_member_in(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, clock) as w:
        session = await w.buy("bob", "club")  # a 14-day trial, 5 days of grace
        sub_id = w.subscription_of(session)
        clock.advance(timedelta(days=14))
        await w.deliver(w.stripe.renew(sub_id, paid=False))
        clock.advance(timedelta(days=5))  # the grace ends: the lapse pass recomputes Bob
        paid = w.stripe.renew(sub_id, paid=True)  # the card worked, at that very moment

        async def late_payment(other: World) -> None:
            await other.deliver(paid)

        # The payment updates the very source the pass is about to write.
        await during_a_lapse_pass(w, tmp_path, monkeypatch, late_payment)
        assert await w.holds("bob") == {"club"}
        flags, desired = await bob_access(w)
        assert flags == [True]
        assert desired and all(desired)


async def test_a_lapse_pass_that_loses_a_deadlock_is_tried_again_at_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/whoami", "bob")
        await w.say("/whoami", "carol")
        await w.say("/grant @bob pro 1", "olga")
        await w.say("/grant @carol pro 1", "olga")
        bob, carol = sorted([await w.member("bob"), await w.member("carol")])
        clock.advance(timedelta(days=1))  # both grants end: the pass takes both, in id order
        async with world(tmp_path, clock, stripe=w.stripe) as other:
            # Another process holds the second member and then asks for the first: the pass,
            # holding the first and waiting for the second, is the one PostgreSQL fails.
            async with other.cohort.db.write() as conn:
                await loses_no_deadlock(conn)
                await _access.lock_members(conn, [carol])
                lapse = asyncio.create_task(w.gating.run_due())
                await until_it_waits(w, lapse, "the pass did not wait for the member held")
                await _access.lock_members(conn, [bob])
            assert await asyncio.wait_for(lapse, 30) >= 2  # both lapsed, in the same pass
        assert await w.holds("bob") == frozenset()
        assert await w.holds("carol") == frozenset()
        for user in ("bob", "carol"):
            member = await w.member(user)
            async with w.cohort.db.read() as conn:
                desired = (
                    await conn.scalars(
                        select(gating_access.c.desired).where(gating_access.c.member_id == member)
                    )
                ).all()
            assert desired and not any(desired)


async def park(w: World, member_id: int) -> None:
    """Park the member's access call as one the platform refused (reconciliation re-arms it)."""
    async with w.cohort.db.write() as conn:
        await conn.execute(
            update(gating_access)
            .where(gating_access.c.member_id == member_id)
            .values(state=AccessState.FAILED.value, attempts=1)
        )
    w.read()


async def test_a_reconciliation_that_loses_a_deadlock_is_tried_again_and_counts_once(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/whoami", "bob")
        await w.say("/whoami", "carol")
        await w.say("/grant @bob pro 30", "olga")
        await w.say("/grant @carol pro 30", "olga")
        bob, carol = sorted([await w.member("bob"), await w.member("carol")])
        await park(w, bob)
        caplog.set_level(logging.INFO, logger="bot.cogs.gating._access")
        async with world(tmp_path, clock, stripe=w.stripe) as other:
            # Another process holds the second member and then asks for the first: the
            # reconciliation's recompute, holding the first and waiting for the second, is
            # the one PostgreSQL fails.
            async with other.cohort.db.write() as conn:
                await loses_no_deadlock(conn)
                await _access.lock_members(conn, [carol])
                check = asyncio.create_task(w.gating.reconcile())
                await until_it_waits(
                    w, check, "the reconciliation did not wait for the member held"
                )
                await _access.lock_members(conn, [bob])
            report = await asyncio.wait_for(check, 30)
        assert "gating: a reconciliation lost a race" in caplog.text  # it did lose one
        # Tried again whole: the parked call is counted once and made once.
        assert report.retried == 1
        assert report.access_changes == 1
        assert report.fixed == [] and report.replayed == 0
        assert w.read().count("(access to lounge granted to") == 1
        assert await bob_access(w) == ([True], [True])
        granted = ("lounge", True, AccessState.GRANTED.value, 0)
        assert await access_rows(w) == [granted, granted]


async def test_a_reconciliation_takes_a_member_before_the_members_access_rows(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, clock) as w:
        await w.say("/whoami", "bob")
        await w.say("/grant @bob pro 30", "olga")
        bob = await w.member("bob")
        await park(w, bob)
        caplog.set_level(logging.INFO, logger="bot.cogs.gating._access")
        async with world(tmp_path, clock, stripe=w.stripe) as other:
            # Another process recomputes Bob: it holds him, then writes his access rows. The
            # reconciliation must wait for Bob before it writes those rows itself, or each
            # would wait for the other.
            async with other.cohort.db.write() as conn:
                await loses_no_deadlock(conn)
                await _access.lock_members(conn, [bob])
                check = asyncio.create_task(w.gating.reconcile())
                await until_it_waits(
                    w, check, "the reconciliation did not wait for the member held"
                )
                await conn.execute(
                    update(gating_access)
                    .where(gating_access.c.member_id == bob)
                    .values(attempts=gating_access.c.attempts)
                )
            report = await asyncio.wait_for(check, 30)
        assert "lost a race" not in caplog.text  # no deadlock: nothing to try again
        assert report.retried == 1
        assert w.read().count("(access to lounge granted to") == 1
        assert await bob_access(w) == ([True], [True])
