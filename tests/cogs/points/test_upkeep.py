"""Upkeep of the totals (``_upkeep``): rebuilding from the ledger, merging members, decay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import points_balances, points_ledger, points_period_totals
from tests.cogs.points._helpers import BOB, CAROL, NOW, balance, post
from tests.conftest import make_config


async def test_rebuild_finds_and_fixes_drift(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    carol = await cohort.identity.resolve(demo.id, CAROL)
    await points.award(cohort.db, demo, bob.member_id, 30, points.Reason.MANUAL, "m:1", at=NOW)
    await points.award(cohort.db, demo, carol.member_id, 7, points.Reason.MANUAL, "m:2", at=NOW)
    assert await points.rebuild(cohort.db, demo) == []
    async with cohort.db.write() as conn:
        await conn.execute(update(points_balances).values(balance=999))
        await conn.execute(text("DELETE FROM points_period_totals WHERE total = 7"))
    found = await points.rebuild(cohort.db, demo, fix=False)
    assert {(d.member_id, d.period, d.kept, d.ledger) for d in found} == {
        (bob.member_id, "all", 999, 30),
        (carol.member_id, "all", 999, 7),
        (carol.member_id, "w2026-47", 0, 7),
        (carol.member_id, "m2026-11", 0, 7),
        (carol.member_id, "s1", 0, 7),
    }
    assert len(await points.rebuild(cohort.db, demo)) == 5
    assert await points.rebuild(cohort.db, demo) == []
    assert await balance(cohort, BOB) == 30


async def test_a_merge_keeps_every_entry_and_sums_the_totals(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    bob_tg = await cohort.identity.resolve(demo.id, Caller(PlatformName.TELEGRAM, "600", "Bob T"))
    await points.award(cohort.db, demo, bob.member_id, 40, points.Reason.MANUAL, "a", at=NOW)
    await points.award(cohort.db, demo, bob_tg.member_id, 2, points.Reason.MANUAL, "b", at=NOW)
    code = await cohort.identity.create_link_code(bob)
    survivor = await cohort.identity.redeem_link_code(bob_tg, code.code)
    assert await points.balance_of(cohort.db, demo.id, survivor) == 42
    async with cohort.db.read() as conn:
        owners = set(await conn.scalars(select(points_ledger.c.member_id)))
        weekly = await conn.scalar(
            select(points_period_totals.c.total).where(
                points_period_totals.c.member_id == survivor,
                points_period_totals.c.period == "w2026-47",
            )
        )
    assert owners == {survivor}
    assert weekly == 42
    assert await points.rebuild(cohort.db, demo) == []


async def test_inactive_members_decay_once_a_week(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(
        tmp_path, community={"points": {"decay_percent_per_week": 10, "decay_after_weeks": 4}}
    )
    cohort = await build(config, clock=clock)
    try:
        demo = cohort.communities["demo"]
        await post(cohort, BOB, "1", "I was here once")  # Bob was active now
        bob = await cohort.identity.resolve(demo.id, BOB)
        await points.award(
            cohort.db, demo, bob.member_id, 1000, points.Reason.MANUAL, "gift", at=NOW
        )
        start = await balance(cohort, BOB)
        assert await points.decay(cohort.db, demo, clock.now()) == 0  # active: nothing
        clock.advance(timedelta(weeks=5))
        assert await points.decay(cohort.db, demo, clock.now()) == 1
        assert await points.decay(cohort.db, demo, clock.now()) == 0  # same week: once
        after_one = start - start // 10
        assert await balance(cohort, BOB) == after_one
        clock.advance(timedelta(weeks=1))
        await points.decay(cohort.db, demo, clock.now())
        assert await balance(cohort, BOB) == after_one - after_one // 10
        assert await points.rebuild(cohort.db, demo) == []
    finally:
        await cohort.db.close()


async def test_decay_is_off_by_default(cohort: Cohort, clock: ManualClock) -> None:
    await post(cohort, BOB, "1", "I was here once")
    clock.advance(timedelta(weeks=50))
    assert await points.decay(cohort.db, cohort.communities["demo"], clock.now()) == 0
