"""Held tiers and courses come from a cache that every change to access sources invalidates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.cogs.gating import Gating, _service
from bot.cogs.gating._service import POLL
from bot.core.clock import ManualClock
from bot.runtime import build
from tests._sql import queries, statements
from tests.cogs.gating._world import World, gating_config, world
from tests.conftest import START

STALE = timedelta(seconds=1)


@pytest.fixture
async def w(tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """Return the gating world."""
    async with world(tmp_path, clock) as it:
        yield it


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
