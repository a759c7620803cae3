"""The deletion log pruned after a horizon, without a kept ledger losing a deletion."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import analytics
from bot.cogs.analytics import _ledger
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.versions import Versions
from bot.store.db import Database
from bot.store.tables import ledger_deletions, ledger_pruned, purchases, stripe_payments
from tests.cogs.analytics.test_keeper import passes
from tests.cogs.analytics.test_ledger import STALE
from tests.cogs.analytics.test_ledger_changes import held
from tests.cogs.analytics.world import END, MONEY_START, NY

pytestmark = pytest.mark.copied_world

HORIZON = timedelta(days=1)
FIRST, SECOND = "in_ana_oct", "in_bo_year"  # two purchases revenue counts, deleted in turn


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the whole reads of a ledger (``_ledger.read``), by community."""
    reads: list[int] = []
    read = _ledger.read

    async def counted(conn: AsyncConnection, community_id: int) -> _ledger.Kept:
        reads.append(community_id)
        return await read(conn, community_id)

    monkeypatch.setattr(_ledger, "read", counted)
    return reads


async def delete_purchase(db: Database, ref: str) -> None:
    """Delete the purchase ``ref`` (as an operator or a cascade does: the trigger logs it)."""
    async with db.write() as conn:
        await conn.execute(delete(purchases).where(purchases.c.source_ref == ref))


async def read(db: Database, community_id: int) -> _ledger.Kept:
    """Return the community's whole ledger, read now."""
    async with db.read() as conn:
        return await _ledger.read(conn, community_id)


async def refreshed(db: Database, kept: _ledger.Kept) -> _ledger.Kept:
    """Return ``kept`` brought up to date."""
    async with db.read() as conn:
        return await _ledger.refresh(conn, kept)


async def logged(db: Database) -> list[tuple[str, int]]:
    """Return the deletion log's rows: their table and mark."""
    async with db.read() as conn:
        d = ledger_deletions.c
        rows = await conn.execute(select(d.tbl, d.ledger_mark).order_by(d.tbl, d.ledger_mark))
        return [(str(t), int(m)) for t, m in rows]


async def pruned_marks(db: Database, community_id: int) -> dict[str, int]:
    """Return the highest mark pruned, per table, of the community."""
    async with db.read() as conn:
        lp = ledger_pruned.c
        rows = await conn.execute(
            select(lp.tbl, lp.ledger_mark).where(lp.community_id == community_id)
        )
        return {str(t): int(m) for t, m in rows}


async def first_pruned(world: Cohort, clock: ManualClock) -> int:
    """Delete ``FIRST``, note it, wait the horizon, delete ``SECOND`` and prune: ``FIRST`` goes.

    Return the highest purchases mark pruned (``FIRST``'s deletion).
    """
    await delete_purchase(world.db, FIRST)
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 0  # noted, not yet old
    clock.advance(HORIZON)
    await delete_purchase(world.db, SECOND)
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 1  # SECOND: new, and newest
    marks = await pruned_marks(world.db, world.communities["demo"].id)
    assert list(marks) == [purchases.name]
    return marks[purchases.name]


async def test_a_keeper_asleep_past_the_horizon_reads_whole_and_gets_the_right_totals(
    world: Cohort, clock: ManualClock, whole_reads: list[int]
) -> None:
    """Fails without the rule: applying the log alone would keep the pruned deletion's row."""
    cid = world.communities["demo"].id
    asleep = analytics.Analytics(
        world.db,
        world.clock,
        ledgers=analytics.Ledgers(Versions(world.db, world.clock, staleness=STALE)),
    )
    before = await asleep.revenue(cid, MONEY_START, END, NY)
    stale = await read(world.db, cid)
    await first_pruned(world, clock)
    assert [t for t, _ in await logged(world.db)] == [purchases.name]  # SECOND's only
    reads = len(whole_reads)
    assert held(await refreshed(world.db, stale)) == held(await read(world.db, cid))
    assert len(whole_reads) == reads + 2  # the refresh's whole read, and the one compared with
    clock.advance(STALE)
    after = await asleep.revenue(cid, MONEY_START, END, NY)
    assert after != before
    assert after == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )


async def test_a_keeper_read_after_the_pruned_deletion_applies_the_rest_of_the_log(
    world: Cohort, clock: ManualClock, whole_reads: list[int]
) -> None:
    cid = world.communities["demo"].id
    await delete_purchase(world.db, FIRST)
    fresh = await read(world.db, cid)  # past FIRST's deletion, before SECOND's
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 0
    clock.advance(HORIZON)
    await delete_purchase(world.db, SECOND)
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 1
    highest = (await pruned_marks(world.db, cid))[purchases.name]
    # On PostgreSQL its next read starts at the oldest transaction running in the server as it
    # read, which another database's may hold below the deletion's: then it reads whole.
    past = fresh.marks[2] > highest
    assert past or world.db.engine.dialect.name == "postgresql"
    reads = len(whole_reads)
    brought = await refreshed(world.db, fresh)
    assert len(whole_reads) == reads + (0 if past else 1)  # the log, not a whole read
    assert SECOND not in brought.by_ref and FIRST not in brought.by_ref
    assert held(brought) == held(await read(world.db, cid))


@pytest.mark.parametrize(("past", "whole"), [(0, True), (1, False)])
async def test_a_keeper_exactly_at_the_pruned_mark_reads_whole(
    world: Cohort, clock: ManualClock, whole_reads: list[int], past: int, whole: bool
) -> None:
    """Its next read starting at the highest mark pruned may miss that deletion; one past, not."""
    cid = world.communities["demo"].id
    highest = await first_pruned(world, clock)
    now = await read(world.db, cid)
    sources, payments, _ = now.marks
    at = replace(now, marks=(sources, payments, highest + past))
    reads = len(whole_reads)
    brought = await refreshed(world.db, at)
    assert len(whole_reads) == reads + (1 if whole else 0)
    assert held(brought) == held(now)


async def test_pruning_is_idempotent_and_safe_with_several_processes(
    world: Cohort, clock: ManualClock
) -> None:
    cid = world.communities["demo"].id
    for ref in (FIRST, SECOND, "in_eve_oct"):
        await delete_purchase(world.db, ref)
    async with world.db.write() as conn:  # another table's deletion: its own newest, kept
        await conn.execute(delete(stripe_payments).where(stripe_payments.c.purchase_ref == FIRST))
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 0
    clock.advance(HORIZON)
    others = [Database(world.db.url.render_as_string(hide_password=False)) for _ in range(2)]
    try:
        done = await asyncio.gather(
            *(analytics.prune(db, clock.now(), HORIZON) for db in (world.db, *others))
        )
    finally:
        for db in others:
            await db.close()
    assert sum(done) == 2  # FIRST's and SECOND's rows: each table's newest deletion stays
    marks = await pruned_marks(world.db, cid)
    left = await logged(world.db)
    assert [t for t, _ in left] == [purchases.name, stripe_payments.name]
    assert list(marks) == [purchases.name]
    assert left[0][1] > marks[purchases.name]
    assert await analytics.prune(world.db, clock.now(), HORIZON) == 0  # nothing more
    assert await pruned_marks(world.db, cid) == marks
    async with world.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(ledger_deletions)) == 2


async def test_the_keepers_pass_prunes_the_log_when_due(
    world: Cohort, clock: ManualClock, whole_reads: list[int]
) -> None:
    cid = world.communities["demo"].id
    for ref in (FIRST, SECOND):
        await delete_purchase(world.db, ref)
    pruner = analytics.Pruner(world.db, clock, HORIZON)
    keeper = analytics.Keeper(
        world.db, analytics.ledgers_of(world), [cid], every=timedelta(seconds=0.02), pruner=pruner
    )
    try:
        await keeper.start(world.supervisor)
        await passes(keeper, 1)
        assert pruner.pruned == 0  # noted only
        clock.advance(HORIZON)
        await passes(keeper, keeper.passes + 2)
        assert pruner.pruned == 1  # FIRST's; SECOND's is the newest
        report = world.supervisor.report()["analytics.ledgers"]
        assert report["deletions_pruned"] == 1
        assert len(await logged(world.db)) == 1
    finally:
        await keeper.stop()
