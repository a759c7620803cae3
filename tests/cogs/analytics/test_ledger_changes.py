"""A kept revenue ledger brought up to date by the rows changed since its read equals a new read."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import analytics
from bot.cogs.analytics import _ledger, _revenue
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.privacy import Requester
from bot.store.db import Database
from bot.store.tables import access_sources, purchases, stripe_payments
from tests.cogs.analytics.world import END, MONEY_START, NY, utc

pytestmark = pytest.mark.copied_world

Step = Callable[[Cohort, Database], Awaitable[None]]


def held(kept: _ledger.Kept) -> _ledger.Kept:
    """Return what a kept ledger holds, without where its next read starts.

    On PostgreSQL that is the oldest transaction running at the read, which moves between two
    reads as other connections' transactions end.
    """
    return replace(kept, marks=(0, 0, 0))


async def _source(conn: AsyncConnection, ref: str) -> tuple[int, int]:
    """Return the id and the member of the access source ``ref``."""
    row = (
        await conn.execute(
            select(access_sources.c.id, access_sources.c.member_id).where(
                access_sources.c.ref == ref
            )
        )
    ).one()
    return int(row.id), int(row.member_id)


async def _paid(
    conn: AsyncConnection, source_ref: str, ref: str, amount: int, at_day: tuple[int, int]
) -> None:
    """Write a paid invoice (or Checkout payment) ``ref`` of the source ``source_ref``."""
    source_id, member_id = await _source(conn, source_ref)
    community_id = await conn.scalar(
        select(access_sources.c.community_id).where(access_sources.c.id == source_id)
    )
    at = utc(*at_day)
    await conn.execute(
        insert(purchases).values(
            community_id=community_id,
            member_id=member_id,
            offer_id="pro",
            source="stripe",
            source_ref=ref,
            amount_minor=amount,
            currency="usd",
            purchased_at=at,
        )
    )
    await conn.execute(
        insert(stripe_payments).values(
            community_id=community_id,
            payment_intent=f"pi_{ref}",
            source_id=source_id,
            purchase_ref=ref,
            paid_at=int(at.timestamp()),
            refunded=False,
        )
    )


async def _new_source(conn: AsyncConnection, ref: str, kind: str, status: str) -> None:
    """Write a new access source ``ref`` of ana's, created on 2026-10-22."""
    _, member_id = await _source(conn, "sub_ana")
    community_id = await conn.scalar(
        select(access_sources.c.community_id).where(access_sources.c.ref == "sub_ana")
    )
    await conn.execute(
        insert(access_sources).values(
            community_id=community_id,
            member_id=member_id,
            offer_id="pro",
            kind=kind,
            ref=ref,
            status=status,
            cancel_at_period_end=False,
            period_start=utc(10, 22),
            period_end=utc(11, 22),
            refunded=False,
            disputed=False,
            version=1,
            entitled=True,
            created_at=utc(10, 22),
            updated_at=utc(10, 22),
        )
    )


def written(*statements: Callable[[AsyncConnection], Awaitable[object]]) -> Step:
    """Return a step writing ``statements`` in one transaction of the given database."""

    async def step(_world: Cohort, db: Database) -> None:
        async with db.write() as conn:
            for statement in statements:
                await statement(conn)

    return step


def run(statement: object) -> Callable[[AsyncConnection], Awaitable[object]]:
    """Return a writer executing one statement."""
    return lambda conn: conn.execute(statement)  # type: ignore[arg-type]


async def _erase_eve(world: Cohort, _db: Database) -> None:
    async with world.db.read() as conn:
        _, eve = await _source(conn, "sub_eve")
    await world.privacy.erase(world.communities["demo"].id, eve, Requester.SELF)


p, sp, s = purchases.c, stripe_payments.c, access_sources.c
# Each change revenue reads, as steps: the ledger is brought up to date after each step.
CHANGES: dict[str, list[Step]] = {
    "a new invoice": [written(lambda c: _paid(c, "sub_ana", "in_ana_nov", 2500, (11, 1)))],
    "a one-time payment": [
        written(
            lambda c: _new_source(c, "cs_ana_new", "payment", "paid"),
            lambda c: _paid(c, "cs_ana_new", "cs_ana_new", 7000, (10, 22)),
        )
    ],
    "a refund": [
        written(
            run(
                update(purchases)
                .where(p.source_ref == "in_bo_year")
                .values(refunded_at=utc(10, 28))
            )
        )
    ],
    "a dispute": [
        written(
            run(
                update(stripe_payments)
                .where(sp.purchase_ref == "in_ana_oct")
                .values(dispute_id="dp_new", dispute_status="needs_response", dispute_version=2)
            )
        )
    ],
    "a new price (the plan made yearly)": [
        written(
            run(
                update(access_sources)
                .where(s.ref == "sub_ana")
                .values(period_end=utc(10, 15, y=2027), updated_at=utc(10, 30))
            ),
            lambda c: _paid(c, "sub_ana", "in_ana_year", 20000, (10, 30)),
        )
    ],
    "a status change (unpaid)": [
        written(
            run(
                update(access_sources)
                .where(s.ref == "sub_eve")
                .values(status="unpaid", updated_at=utc(10, 29))
            )
        )
    ],
    "a trial converted": [
        written(lambda c: _new_source(c, "sub_ana_trial", "subscription", "trialing")),
        written(
            run(update(access_sources).where(s.ref == "sub_ana_trial").values(status="active")),
            lambda c: _paid(c, "sub_ana_trial", "in_ana_trial", 3000, (10, 29)),
        ),
    ],
    "a cancellation": [
        written(
            run(
                update(access_sources)
                .where(s.ref == "sub_eve")
                .values(status="canceled", ends_at=utc(10, 25), updated_at=utc(10, 25))
            )
        )
    ],
    "an invoice's payment moved to another invoice": [
        written(
            run(
                update(stripe_payments)
                .where(sp.purchase_ref == "in_dee_first")
                .values(purchase_ref="in_eve_oct")
            )
        )
    ],
    "a purchase no longer with money": [
        written(run(update(purchases).where(p.source_ref == "in_ana_oct").values(currency=None)))
    ],
    "an amount, then back": [
        written(run(update(purchases).where(p.source_ref == "in_ana_oct").values(amount_minor=1))),
        written(
            run(update(purchases).where(p.source_ref == "in_ana_oct").values(amount_minor=2000))
        ),
    ],
    "a payment deleted": [
        written(run(delete(stripe_payments).where(sp.purchase_ref == "in_eve_oct")))
    ],
    "a purchase deleted and another bought": [
        written(
            run(delete(purchases).where(p.source_ref == "in_ana_sep")),
            lambda c: _paid(c, "sub_ana", "in_ana_nov", 2500, (11, 1)),
        )
    ],
    # On SQLite the next row inserted takes the highest id again: dropped, then read anew.
    "the last purchase deleted and another bought": [
        written(
            run(delete(purchases).where(p.source_ref == "cs_bo_course")),
            lambda c: _paid(c, "sub_ana", "in_ana_nov", 2500, (11, 1)),
        )
    ],
    "a subscription deleted (its payments go with it)": [
        written(run(delete(access_sources).where(s.ref == "sub_eve")))
    ],
    "a one-time payment's source deleted": [
        written(run(delete(access_sources).where(s.ref == "cs_ana_course")))
    ],
    "a trial deleted, another subscription made": [
        written(
            run(delete(access_sources).where(s.ref == "sub_dee_trial")),
            lambda c: _new_source(c, "sub_ana_next", "subscription", "active"),
        )
    ],
    "a purchase deleted, then its payment": [
        written(run(delete(purchases).where(p.source_ref == "in_ana_oct"))),
        written(run(delete(stripe_payments).where(sp.purchase_ref == "in_ana_oct"))),
    ],
}
ERASED = "an erased member"


HERE = "here"
# Each change written by this process and by another one (an erasure only here).
CASES = [
    *((change, process) for change in sorted(CHANGES) for process in (HERE, "another process")),
    (ERASED, HERE),
]


@pytest.fixture
async def writer(process: str, world: Cohort) -> AsyncIterator[Database]:
    """Return the database the changes are written with: the bot's, or another process's."""
    if process == HERE:
        yield world.db
        return
    elsewhere = Database(world.db.url.render_as_string(hide_password=False))
    try:
        yield elsewhere
    finally:
        await elsewhere.close()


@pytest.mark.parametrize(("change", "process"), CASES)
async def test_a_kept_ledger_brought_up_to_date_equals_a_new_read(
    world: Cohort, writer: Database, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = world.communities["demo"].id
    async with world.db.read() as conn:
        kept = await _ledger.read(conn, cid)
    first = kept
    whole_reads: list[int] = []
    read = _ledger.read

    async def counted(conn: AsyncConnection, community_id: int) -> _ledger.Kept:
        whole_reads.append(community_id)
        return await read(conn, community_id)

    steps = [_erase_eve] if change == ERASED else CHANGES[change]
    for step in steps:
        await step(world, writer)
        monkeypatch.setattr(_ledger, "read", counted)
        async with world.db.read() as conn:
            kept = await _ledger.refresh(conn, kept)
        monkeypatch.setattr(_ledger, "read", read)
        async with world.db.read() as conn:
            assert held(kept) == held(await _ledger.read(conn, cid))
    assert kept.ledger != first.ledger or change == "an amount, then back"
    # No change makes the ledger read whole again: a deletion is read from the log.
    assert whole_reads == []


@pytest.mark.parametrize(("change", "process"), CASES)
async def test_the_pages_after_a_change_equal_those_read_from_the_store(
    world: Cohort, clock: ManualClock, writer: Database, change: str
) -> None:
    """The kept ledger's figures (MRR, paying members) are computed again after a change."""
    cid = world.communities["demo"].id
    service = analytics.service_of(world)
    plain = analytics.Analytics(world.db, world.clock)
    pages = (
        lambda a: a.revenue(cid, MONEY_START, END, NY),
        lambda a: a.overview(cid, MONEY_START, END, NY),
        lambda a: a.engagement(cid, MONEY_START, END, NY),
    )
    for page in pages:  # kept, with its figures remembered
        assert await page(service) == await page(plain)
    for step in [_erase_eve] if change == ERASED else CHANGES[change]:
        await step(world, writer)
        clock.advance(timedelta(seconds=1))  # past the staleness window of another process
        for page in pages:
            assert await page(service) == await page(plain)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(st.sampled_from(sorted(CHANGES)), min_size=2, max_size=5, unique=True),
    elsewhere=st.lists(st.booleans(), min_size=5, max_size=5),
)
async def test_a_kept_ledger_after_any_sequence_of_changes_equals_a_new_read(
    world: Cohort, changes: list[str], elsewhere: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes and deletions one after another, by this process or another, then each refresh.

    The world is shared by the examples: each starts where the last left it, and a step the
    store refuses there (an invoice written twice) leaves nothing and is skipped.
    """
    cid = world.communities["demo"].id
    other = Database(world.db.url.render_as_string(hide_password=False))
    try:
        async with world.db.read() as conn:
            kept = await _ledger.read(conn, cid)
        for change, far in zip(changes, elsewhere, strict=False):
            for step in CHANGES[change]:
                try:
                    await step(world, other if far else world.db)
                except IntegrityError:
                    continue
                async with world.db.read() as conn:
                    with monkeypatch.context() as patched:  # brought up to date, not read whole
                        patched.setattr(_ledger, "read", None)
                        kept = await _ledger.refresh(conn, kept)
                    assert held(kept) == held(await _ledger.read(conn, cid)), change
    finally:
        await other.close()


def rows_tracked(kept: _ledger.Kept) -> list[object]:
    """Return the rows of a kept ledger the garbage collector still tracks (walks)."""
    rows: list[object] = [
        *kept.ledger.paid,
        *kept.ledger.subs.values(),
        *kept.bought.values(),
        *kept.intents.values(),
        *kept.refs.values(),
        *kept.links.values(),
    ]
    return [row for row in rows if gc.is_tracked(row)]


@pytest.mark.parametrize(
    "change", ["none", "a new invoice", "a refund", "a dispute", "a trial converted"]
)
async def test_a_kept_ledger_holds_no_row_the_collector_walks(world: Cohort, change: str) -> None:
    """Once collected, a kept ledger's rows are untracked: full collections skip them.

    The dashboard keeps each community's ledger as long as the process runs; rows the
    collector tracks made each full collection walk tens of thousands of them.
    """
    cid = world.communities["demo"].id
    async with world.db.read() as conn:
        kept = await _ledger.read(conn, cid)
    for step in [] if change == "none" else CHANGES[change]:
        await step(world, world.db)
        async with world.db.read() as conn:
            kept = await _ledger.refresh(conn, kept)
    gc.collect()
    assert kept.ledger.paid and kept.ledger.subs and kept.intents
    assert rows_tracked(kept) == []


async def test_a_transaction_committing_after_a_read_is_read_the_next_time(world: Cohort) -> None:
    """A change whose transaction began before a read and committed after it is not skipped.

    On PostgreSQL a later transaction (a higher id) commits first; a read that started past
    the highest mark it saw would skip the earlier one.
    """
    cid = world.communities["demo"].id
    async with world.db.read() as conn:
        kept = await _ledger.read(conn, cid)
    url = world.db.url.render_as_string(hide_password=False)
    early, late = Database(url), Database(url)
    try:
        async with early.write() as slow:
            await slow.execute(
                update(purchases)
                .where(p.source_ref == "in_bo_year")
                .values(refunded_at=utc(10, 28))
            )
            if world.db.engine.dialect.name != "sqlite":  # SQLite has one writer at a time
                async with late.write() as quick:
                    await _paid(quick, "sub_ana", "in_ana_nov", 2500, (11, 1))
            async with world.db.read() as conn:
                kept = await _ledger.refresh(conn, kept)
        async with world.db.read() as conn:
            kept = await _ledger.refresh(conn, kept)
            assert held(kept) == held(await _ledger.read(conn, cid))
        assert any(x[_revenue.REFUNDED_AT] == utc(10, 28) for x in kept.ledger.paid)
    finally:
        await early.close()
        await late.close()


async def test_a_change_revenue_does_not_read_keeps_the_ledger_and_what_it_remembers(
    world: Cohort,
) -> None:
    """The gating cog's evaluations (an access source's entitlement) leave the figures alone."""
    cid = world.communities["demo"].id
    async with world.db.read() as conn:
        kept = await _ledger.read(conn, cid)
    async with world.db.write() as conn:
        await conn.execute(update(access_sources).where(s.ref == "sub_ana").values(entitled=False))
        await _paid(conn, "sub_ana", "in_ana_nov", 2500, (11, 1))
    async with world.db.read() as conn:
        changed = await _ledger.refresh(conn, kept)
    assert changed.ledger is not kept.ledger
    async with world.db.write() as conn:
        await conn.execute(update(access_sources).where(s.ref == "sub_ana").values(entitled=True))
    async with world.db.read() as conn:
        again = await _ledger.refresh(conn, changed)
        assert held(again) == held(await _ledger.read(conn, cid))
    assert again.ledger is changed.ledger
