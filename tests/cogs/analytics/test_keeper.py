"""The kept revenue ledgers: shared by a process's services, read at start, off requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import analytics
from bot.cogs.analytics import _ledger
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.versions import Versions
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import purchases
from tests.cogs.analytics.test_ledger import STALE, purchase_reads
from tests.cogs.analytics.world import END, MONEY_START, NY, utc

pytestmark = pytest.mark.copied_world


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the whole reads of a ledger (``_ledger.read``), by community, slowed a little."""
    reads: list[int] = []
    read = _ledger.read

    async def counted(conn: AsyncConnection, community_id: int) -> _ledger.Kept:
        reads.append(community_id)
        await asyncio.sleep(0.05)  # long enough for the requests racing it to arrive
        return await read(conn, community_id)

    monkeypatch.setattr(_ledger, "read", counted)
    return reads


@pytest.fixture
async def keeper(world: Cohort) -> AsyncIterator[analytics.Keeper]:
    """Return the bot's ledger keeper, not started, stopped at the end."""
    ids = [c.id for c in world.communities.values()]
    kept = analytics.Keeper(
        world.db, analytics.ledgers_of(world), ids, every=timedelta(seconds=0.02)
    )
    try:
        yield kept
    finally:
        await kept.stop()


async def passes(keeper: analytics.Keeper, n: int) -> None:
    """Wait until the keeper made ``n`` passes."""
    async with asyncio.timeout(30):
        await keeper.passed(n)


async def test_after_the_start_the_first_revenue_figure_reads_no_purchase(
    world: Cohort, keeper: analytics.Keeper
) -> None:
    cid = world.communities["demo"].id
    await keeper.start(world.supervisor)
    await passes(keeper, 1)
    assert world.supervisor.report()["analytics.ledgers"]["state"] == "running"
    service = analytics.service_of(world)
    with purchase_reads(world.db) as seen:
        page = await service.revenue(cid, MONEY_START, END, NY)
    assert seen == []  # read by the keeper, not by the request
    assert page == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )


async def test_requests_during_the_first_read_await_it(
    world: Cohort, keeper: analytics.Keeper, whole_reads: list[int]
) -> None:
    cid = world.communities["demo"].id
    await keeper.start(world.supervisor)
    services = [analytics.service_of(world) for _ in range(3)]  # the dashboard's, /stats's...
    pages = await asyncio.gather(*(s.revenue(cid, MONEY_START, END, NY) for s in services))
    assert whole_reads == [cid]  # one read, the keeper's or the first request's
    assert pages[0] == pages[1] == pages[2]


async def test_the_services_of_one_bot_share_one_ledger_a_community(
    world: Cohort, whole_reads: list[int]
) -> None:
    cid = world.communities["demo"].id
    dashboard, stats = analytics.service_of(world), analytics.service_of(world)
    await dashboard.revenue(cid, MONEY_START, END, NY)
    await stats.overview(cid, MONEY_START, END, NY)
    assert whole_reads == [cid]
    other = Database(world.db.url.render_as_string(hide_password=False))
    try:  # another process's services keep their own (its own versions)
        clock = ManualClock(world.clock.now())
        versions = analytics.Ledgers(Versions(other, clock, staleness=timedelta(seconds=1)))
        async with other.read() as conn:
            await versions.get(conn, cid)
    finally:
        await other.close()
    assert whole_reads == [cid, cid]


async def test_two_bots_in_one_process_keep_their_own_ledgers(
    world: Cohort, clock: ManualClock
) -> None:
    """Two ``build`` calls on one database: each its own ``Ledgers``, each sees the other write."""
    cid = world.communities["demo"].id
    other = await build(world.config, clock=clock)
    try:
        mine, theirs = analytics.ledgers_of(world), analytics.ledgers_of(other)
        assert mine is not theirs
        assert analytics.ledgers_of(world) is mine  # one per bot, whoever asks
        here, there = analytics.service_of(world), analytics.service_of(other)
        before = await here.revenue(cid, MONEY_START, END, NY)
        assert await there.revenue(cid, MONEY_START, END, NY) == before
        for writer, refund in ((other, "in_bo_year"), (world, "in_ana_oct")):
            async with writer.db.write() as conn:
                await conn.execute(
                    update(purchases)
                    .where(purchases.c.source_ref == refund)
                    .values(refunded_at=utc(10, 28))
                )
            clock.advance(STALE)
            pages = [await s.revenue(cid, MONEY_START, END, NY) for s in (here, there)]
            assert pages[0] == pages[1] != before
            assert pages[0] == await analytics.Analytics(world.db, world.clock).revenue(
                cid, MONEY_START, END, NY
            )
            before = pages[0]
        async with world.db.read() as conn:
            kept_here = await mine.get(conn, cid)
        async with other.db.read() as conn:
            kept_there = await theirs.get(conn, cid)
        assert kept_here is not kept_there and kept_here.ledger == kept_there.ledger
    finally:
        await other.db.close()


async def test_the_keeper_brings_the_ledger_up_to_date_off_the_request_path(
    world: Cohort, clock: ManualClock, keeper: analytics.Keeper
) -> None:
    cid = world.communities["demo"].id
    await keeper.start(world.supervisor)
    await passes(keeper, 1)
    service = analytics.service_of(world)
    before = await service.revenue(cid, MONEY_START, END, NY)
    other = Database(world.db.url.render_as_string(hide_password=False))
    try:
        async with other.write() as conn:  # a refund written by another process
            await conn.execute(
                update(purchases)
                .where(purchases.c.source_ref == "in_bo_year")
                .values(refunded_at=utc(10, 28))
            )
    finally:
        await other.close()
    clock.advance(STALE)
    done = keeper.passes
    await passes(keeper, done + 2)
    with purchase_reads(world.db) as seen:
        after = await service.revenue(cid, MONEY_START, END, NY)
    assert seen == []  # brought up to date by the keeper
    assert after != before
    assert after == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )


async def test_a_failed_pass_is_reported_and_tried_again(
    world: Cohort, keeper: analytics.Keeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _ledger.read
    failures = [RuntimeError("the store went away")]

    async def failing(conn: AsyncConnection, community_id: int) -> _ledger.Kept:
        if failures:
            raise failures.pop()
        return await read(conn, community_id)

    monkeypatch.setattr(_ledger, "read", failing)
    await keeper.start(world.supervisor)  # tried again after the supervisor's backoff (~1 s)
    await passes(keeper, 1)
    report = world.supervisor.report()["analytics.ledgers"]
    assert report["last_error"] is not None
    assert report["state"] == "running"
    assert report["failures"] == 0  # the pass after it kept every ledger
