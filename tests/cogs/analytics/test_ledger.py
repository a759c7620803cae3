"""The revenue ledger kept in memory: read once, read again after any change it depends on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import Update, update

from bot.cogs import analytics
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.store.db import Database
from bot.store.tables import access_sources, purchases, stripe_payments
from tests._sql import statements
from tests.cogs.analytics.world import END, MONEY_START, NY, utc

STALE = timedelta(seconds=1)  # the test config's [work] cache_staleness


@contextmanager
def purchase_reads(db: Database) -> Iterator[list[str]]:
    """Collect the statements ``db`` sends that read the purchases."""
    with statements(db) as seen:
        reads: list[str] = []
        yield reads
    reads.extend(
        sql for sql in seen if sql.lstrip().upper().startswith("SELECT") and "purchases" in sql
    )


# Each change a revenue figure depends on, made as the gating cog would.
CHANGES: dict[str, Update] = {
    "a dispute": update(stripe_payments)
    .where(stripe_payments.c.purchase_ref == "in_ana_oct")
    .values(dispute_id="dp_new", dispute_status="needs_response", dispute_version=2),
    "a refund": update(purchases)
    .where(purchases.c.source_ref == "in_bo_year")
    .values(refunded_at=utc(10, 28)),
    "a cancellation": update(access_sources)
    .where(access_sources.c.ref == "sub_eve")
    .values(status="canceled", ends_at=utc(10, 25), updated_at=utc(10, 25)),
    "an amount": update(purchases)
    .where(purchases.c.source_ref == "in_ana_oct")
    .values(amount_minor=2500),
    "a payment's invoice": update(stripe_payments)
    .where(stripe_payments.c.purchase_ref == "in_dee_first")
    .values(purchase_ref="in_elsewhere"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_the_revenue_page_sees_a_change_made_here_at_once(world: Cohort, change: str) -> None:
    cid = world.communities["demo"].id
    service = analytics.service_of(world)
    before = await service.revenue(cid, MONEY_START, END, NY)
    with purchase_reads(world.db) as seen:
        assert await service.revenue(cid, MONEY_START, END, NY) == before
        assert await service.engagement(cid, MONEY_START, END, NY) is not None
    assert seen == []  # served from memory
    async with world.db.write() as conn:
        await conn.execute(CHANGES[change])
    after = await service.revenue(cid, MONEY_START, END, NY)
    assert after != before
    assert after == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_change_made_by_another_process_is_seen_after_the_staleness_window(
    world: Cohort, clock: ManualClock, change: str
) -> None:
    cid = world.communities["demo"].id
    service = analytics.service_of(world)
    before = await service.revenue(cid, MONEY_START, END, NY)
    elsewhere = Database(world.db.url.render_as_string(hide_password=False))
    try:
        async with elsewhere.write() as conn:
            await conn.execute(CHANGES[change])
    finally:
        await elsewhere.close()
    assert await service.revenue(cid, MONEY_START, END, NY) == before  # within the window
    clock.advance(STALE)
    after = await service.revenue(cid, MONEY_START, END, NY)
    assert after != before
    assert after == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )
