"""The revenue ledger kept in memory: read once, read again after any change it depends on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Delete, Update, delete, select, update

from bot.cogs import analytics
from bot.cogs.analytics import _ledger, _pages, _revenue
from bot.cogs.analytics._rules import format_money
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.store.db import Database
from bot.store.tables import access_sources, purchases, stripe_payments
from tests._sql import statements
from tests.cogs.analytics.test_stats import console_of, say
from tests.cogs.analytics.world import END, MONEY_START, NY, START, utc

pytestmark = pytest.mark.copied_world

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


DELETIONS: dict[str, Delete] = {
    "a purchase": delete(purchases).where(purchases.c.source_ref == "in_ana_oct"),
    "a payment": delete(stripe_payments).where(stripe_payments.c.purchase_ref == "in_eve_oct"),
    "a subscription": delete(access_sources).where(access_sources.c.ref == "sub_eve"),
}


@pytest.mark.parametrize("process", ["here", "another process"])
@pytest.mark.parametrize("deleted", sorted(DELETIONS))
async def test_a_deletion_reads_only_the_rows_deleted_and_changed_since(
    world: Cohort, clock: ManualClock, deleted: str, process: str
) -> None:
    """A deleted row is dropped from the kept ledger: no read of the whole purchases table."""
    cid = world.communities["demo"].id
    service = analytics.service_of(world)
    before = await service.revenue(cid, MONEY_START, END, NY)
    writer = world.db
    if process != "here":
        writer = Database(world.db.url.render_as_string(hide_password=False))
    try:
        async with writer.write() as conn:
            await conn.execute(DELETIONS[deleted])
    finally:
        if writer is not world.db:
            await writer.close()
    clock.advance(STALE)
    with purchase_reads(world.db) as seen:
        after = await service.revenue(cid, MONEY_START, END, NY)
    assert after != before
    assert after == await analytics.Analytics(world.db, world.clock).revenue(
        cid, MONEY_START, END, NY
    )
    # Beside where the next read starts, one read of the purchases changed since (by their
    # mark), none of them all.
    reads = [sql for sql in seen if "cache_versions" not in sql]
    assert len(reads) == 1
    assert "purchases.ledger_mark >=" in reads[0]


# /stats and the weekly report keep the ledger as the dashboard does (one service for both).
STATS = "/stats 2026-10-01..2026-11-03"


async def mrr_line(world: Cohort) -> str:
    """Return the MRR line of the overview read from the store now (no kept ledger)."""
    page = await analytics.Analytics(world.db, world.clock).overview(
        world.communities["demo"].id, MONEY_START, END, NY
    )
    amounts = ", ".join(format_money(m.amount, m.currency) for m in page.mrr if m.amount)
    return f"Monthly recurring revenue: {amounts}" if amounts else "No monthly recurring revenue"


async def test_stats_reads_the_payments_once(world: Cohort) -> None:
    console = console_of(world, "olga")
    first = await say(console, STATS)
    assert await mrr_line(world) in first
    with purchase_reads(world.db) as seen:
        assert await say(console, STATS) == first
    assert seen == []


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_stats_sees_another_process_change_after_the_staleness_window(
    world: Cohort, clock: ManualClock, change: str
) -> None:
    console = console_of(world, "olga")
    before = await say(console, STATS)
    elsewhere = Database(world.db.url.render_as_string(hide_password=False))
    try:
        async with elsewhere.write() as conn:
            await conn.execute(CHANGES[change])
    finally:
        await elsewhere.close()
    with purchase_reads(world.db) as seen:
        assert await say(console, STATS) == before  # within the window: from memory
    assert seen == []
    clock.advance(STALE)
    with purchase_reads(world.db) as seen:
        after = await say(console, STATS)
    assert seen != []  # read again
    assert await mrr_line(world) in after


async def test_the_weekly_report_reads_the_ledger_stats_keeps(world: Cohort) -> None:
    """``setup`` hands /stats's service to the report: one kept ledger a community."""
    await say(console_of(world, "olga"), STATS)
    job = next(j for j in world.jobs if j.id == "analytics.weekly_report")
    report = job.run.__self__  # type: ignore[attr-defined]
    assert isinstance(report, analytics.WeeklyReport)
    with purchase_reads(world.db) as seen:
        reply = await report.render(world.communities["demo"], MONEY_START, with_image=False)
    assert seen == []
    assert "Monthly recurring revenue" in (reply.text or "")


@pytest.mark.parametrize("earliest", [None, utc(9, 12)])
async def test_the_ledger_reads_timestamps_as_the_column_types_do(
    world: Cohort, earliest: datetime | None
) -> None:
    """``load`` reads timestamps without SQLAlchemy's processing: the same aware UTC instants."""
    cid = world.communities["demo"].id
    p = purchases.c
    async with world.db.read() as conn:
        ledger = await _revenue.load(conn, cid, earliest)
        bought = {
            r.id: (r.purchased_at, r.refunded_at)
            for r in (await conn.execute(select(p.id, p.purchased_at, p.refunded_at))).all()
        }
        sources = {
            r.id: r
            for r in (await conn.execute(select(access_sources))).all()
            if r.kind == "subscription"
        }
    assert ledger.paid and ledger.subs
    r = _revenue
    assert [x[r.PAID_AT] for x in ledger.paid] == sorted(x[r.PAID_AT] for x in ledger.paid)
    for paid in ledger.paid:
        assert (paid[r.PAID_AT], paid[r.REFUNDED_AT]) == bought[paid[r.ID]]
        assert paid[r.PAID_AT].utcoffset() == timedelta(0)
        assert earliest is None or paid[r.PAID_AT] >= earliest
    assert ledger.subs.keys() == sources.keys()
    for sub in ledger.subs.values():
        row = sources[sub[r.ID]]
        assert sub[r.CREATED_AT] == row.created_at
        assert sub[r.CREATED_AT].utcoffset() == timedelta(0)
        assert sub[r.PERIOD] == row.period_end - row.period_start
        ended = row.ends_at or row.updated_at if row.status == "canceled" else None
        assert sub[r.ENDED_AT] == ended


RANGES = [(MONEY_START, END), (START, END), (END, END), (MONEY_START, START)]


async def test_a_kept_ledger_computes_each_figure_once_and_the_same(
    world: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept ledger's windows remember MRR and paying members by window and instant."""
    cid = world.communities["demo"].id
    computed: list[datetime] = []
    paying = _revenue._paying_members

    def counted(ledger: _revenue.Ledger, at: datetime) -> frozenset[int]:
        computed.append(at)
        return paying(ledger, at)

    monkeypatch.setattr(_revenue, "_paying_members", counted)
    kept, fresh = analytics.service_of(world), analytics.Analytics(world.db, world.clock)
    for _round in range(2):
        for start, end in RANGES:
            assert await kept.revenue(cid, start, end, NY) == await fresh.revenue(
                cid, start, end, NY
            )
            assert await kept.overview(cid, start, end, NY) == await fresh.overview(
                cid, start, end, NY
            )
            for segment in (analytics.Segment.PAYING, analytics.Segment.ALL):
                assert await kept.members(
                    cid, start, end, NY, segment=segment, search="a"
                ) == await fresh.members(cid, start, end, NY, segment=segment, search="a")
    # Paying members at a range's end: once per end by the kept ledger (both rounds, every
    # range ending then), each time by the fresh reads.
    ends = {end for _, end in RANGES}
    assert len(computed) == len(ends) + 2 * 2 * len(RANGES)
    assert len(set(computed)) == len(ends)


async def test_the_whole_read_takes_the_drivers_rows_on_sqlite(world: Cohort) -> None:
    """The ledger's three big reads skip SQLAlchemy's result (a ``Row`` a row) on SQLite."""
    cid = world.communities["demo"].id
    sqlite = world.db.engine.dialect.name == "sqlite"
    async with world.db.read() as conn:
        with statements(world.db) as seen:
            kept = await _ledger.read(conn, cid)
        rows = await _pages.fetch_plain(conn, _revenue.intent_query(cid))
        assert [tuple(r) for r in rows] == [
            tuple(r) for r in await _pages.fetch(conn, _revenue.intent_query(cid))
        ]
    assert rows and all(type(r) is tuple for r in rows) == sqlite
    # Through SQLAlchemy: where the next read starts, and on PostgreSQL the three reads too.
    assert len([sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]) == (
        1 if sqlite else 4
    )
    assert kept.ledger.paid and kept.ledger.subs
