"""The ledger (``_ledger``): awards once each, under concurrency; ranks, periods and seasons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import points_ledger, points_period_totals
from tests.cogs.points._helpers import BOB, CAROL, NOW, balance, post, run


async def test_a_repeated_delivery_never_double_awards(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]
    account = await cohort.identity.resolve(demo.id, BOB)
    for _ in range(3):
        await points.award(
            cohort.db,
            demo,
            account.member_id,
            50,
            points.Reason.ACCEPTED_ANSWER,
            "qa:answer:9",
            at=NOW,
        )
    assert await balance(cohort, BOB) == 50
    await post(cohort, BOB, "m1", "a message delivered twice")
    await post(cohort, BOB, "m1", "a message delivered twice")
    async with cohort.db.read() as conn:
        rows = await conn.scalar(select(func.count()).select_from(points_ledger))
    assert rows == 2


async def test_fifty_concurrent_awards_lose_nothing(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]
    account = await cohort.identity.resolve(demo.id, BOB)
    results = await asyncio.gather(
        *(
            points.award(
                cohort.db,
                demo,
                account.member_id,
                n,
                points.Reason.ATTENDANCE,
                f"lecture:{n}",
                at=NOW,
            )
            for n in range(1, 51)
        )
    )
    assert all(results)
    assert await balance(cohort, BOB) == sum(range(1, 51))
    assert await points.rebuild(cohort.db, demo) == []


async def test_ties_share_a_rank_like_sql_rank(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]
    totals = [50, 80, 80, 20, 80, 50, 10]
    ids = []
    for n, amount in enumerate(totals):
        account = await cohort.identity.resolve(
            demo.id, Caller(PlatformName.CONSOLE, f"m{n}", f"M{n}")
        )
        ids.append(account.member_id)
        await points.award(
            cohort.db, demo, account.member_id, amount, points.Reason.MANUAL, f"r{n}", at=NOW
        )
    pages = []
    for page in range(3):
        rows, more = await points.leaderboard(
            cohort.db, demo, points.Period.WEEK, NOW, page=page, size=3
        )
        assert more is (page < 2)
        pages += [(r.rank, r.total) for r in rows]
    assert pages == [(1, 80), (1, 80), (1, 80), (4, 50), (4, 50), (6, 20), (7, 10)]
    async with cohort.db.read() as conn:
        sql = (
            await conn.execute(
                text(
                    "SELECT total, RANK() OVER (ORDER BY total DESC) FROM points_period_totals "
                    "WHERE period = 'w2026-47' ORDER BY total DESC"
                )
            )
        ).all()
    assert [(rank, total) for total, rank in sql] == pages
    assert await points.rank_of(cohort.db, demo, ids[3], points.Period.WEEK, NOW) == (6, 20)
    assert await points.rank_of(cohort.db, demo, ids[1], points.Period.ALL, NOW) == (1, 80)


async def test_weeks_and_months_follow_the_community_time_zone(cohort: Cohort) -> None:
    demo = cohort.communities["demo"]  # Europe/Berlin
    bob = await cohort.identity.resolve(demo.id, BOB)
    sunday_night_utc = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    await points.award(
        cohort.db, demo, bob.member_id, 5, points.Reason.MANUAL, "x", at=sunday_night_utc
    )
    async with cohort.db.read() as conn:
        periods = set(await conn.scalars(select(points_period_totals.c.period)))
    assert periods == {"w2026-49", "m2026-11", "s1"}


async def test_a_season_reset_archives_the_board_and_keeps_balances(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    carol = await cohort.identity.resolve(demo.id, CAROL)
    now = clock.now()
    await points.award(cohort.db, demo, bob.member_id, 50, points.Reason.MANUAL, "a", at=now)
    await points.award(cohort.db, demo, carol.member_id, 20, points.Reason.MANUAL, "b", at=now)
    await run(console, "/as olga")
    asked = await run(console, "/points reset season")
    assert "This ends season 1 (2 members ranked) and starts season 2." in asked
    assert "[1] End season 1" in asked
    clock.advance(timedelta(minutes=5))
    done = await run(console, "/press 1")
    assert "== Season 1 is over ==" in done and "1. Bob — 50" in done and "2. Carol — 20" in done
    assert "Season 2 starts now." in done
    assert "Season 1 has already ended." in await run(console, "/press 1")  # a double press

    clock.advance(timedelta(minutes=5))
    later = clock.now()
    await points.award(cohort.db, demo, carol.member_id, 5, points.Reason.MANUAL, "c", at=later)
    season = await run(console, "/leaderboard season")
    assert "1. Carol — 5" in season and "Bob" not in season
    assert "1. Bob — 50" in await run(console, "/leaderboard all")  # balances stay
    assert await points.balance_of(cohort.db, demo.id, bob.member_id) == 50
    assert await points.rebuild(cohort.db, demo) == []  # seasons are rebuilt from the ledger
    await run(console, "/as bob")
    assert "Only organizers may run /points reset." in await run(console, "/points reset season")
