"""The nightly message-log purge: its boundary, its batches, its day counts and its lease."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.cogs.privacy import Retention
from bot.cogs.privacy import _store as store
from bot.cogs.privacy._retention import LEASE
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import message_days, message_log
from tests.conftest import make_config

BOB = Caller(PlatformName.TELEGRAM, "4242", "Bob")


async def log_at(cohort: Cohort, *when: datetime, channel: str = "-100") -> None:
    cid = cohort.communities["demo"].id
    account = await cohort.identity.resolve(cid, BOB)
    async with cohort.db.write() as conn:
        start = await conn.scalar(select(func.count()).select_from(message_log)) or 0
        for n, at in enumerate(when, start=start):
            await conn.execute(
                insert(message_log).values(
                    community_id=cid,
                    member_id=account.member_id,
                    account_id=account.id,
                    platform="telegram",
                    channel_id=channel,
                    message_id=str(n),
                    text=f"message {n}",
                    posted_at=at,
                )
            )


async def left(cohort: Cohort) -> list[datetime]:
    async with cohort.db.read() as conn:
        return list(
            (await conn.execute(select(message_log.c.posted_at).order_by(message_log.c.posted_at)))
            .scalars()
            .all()
        )


async def days(cohort: Cohort) -> dict[tuple[str, date], int]:
    async with cohort.db.read() as conn:
        rows = await conn.execute(
            select(message_days.c.channel_id, message_days.c.day, message_days.c.messages)
        )
        return {(r.channel_id, r.day): r.messages for r in rows}


@pytest.mark.parametrize(
    ("age", "purged"),
    [
        (timedelta(days=365, seconds=1), True),
        (timedelta(days=365), False),  # exactly the limit: kept
        (timedelta(days=364, hours=23), False),
        (timedelta(days=3000), True),
    ],
)
async def test_the_boundary_is_retention_days_to_the_second(
    cohort: Cohort, clock: ManualClock, age: timedelta, purged: bool
) -> None:
    at = clock.now() - age
    await log_at(cohort, at)
    done = await Retention(cohort.db, clock).run(cohort.communities["demo"], force=True)
    assert done.ran and done.complete
    assert await left(cohort) == ([] if purged else [at])
    assert done.messages == (1 if purged else 0)


async def test_counts_are_kept_per_channel_and_utc_day_across_batches(
    cohort: Cohort, clock: ManualClock
) -> None:
    # 02:00 UTC on 1 October is still 30 September west of UTC: the count goes to the UTC day.
    old = datetime(2025, 10, 1, 2, 0, tzinfo=UTC)
    await log_at(cohort, *(old + timedelta(minutes=i) for i in range(7)))
    await log_at(cohort, old + timedelta(days=1), old + timedelta(days=1), channel="-200")
    await log_at(cohort, clock.now() - timedelta(days=1))
    done = await Retention(cohort.db, clock, batch=3).run(cohort.communities["demo"], force=True)
    assert done.messages == 9 and done.complete
    assert len(await left(cohort)) == 1
    assert await days(cohort) == {("-100", date(2025, 10, 1)): 7, ("-200", date(2025, 10, 2)): 2}
    # A second purge of more old rows adds to the same day.
    await log_at(cohort, old)
    await Retention(cohort.db, clock).run(cohort.communities["demo"], force=True)
    assert (await days(cohort))[("-100", date(2025, 10, 1))] == 8


async def test_one_run_a_night_and_a_lease_another_process_takes_over(
    cohort: Cohort, clock: ManualClock
) -> None:
    community = cohort.communities["demo"]  # Europe/Berlin: UTC+1 in November
    first, second = Retention(cohort.db, clock), Retention(cohort.db, clock)
    assert not (await first.run(community)).ran  # 13:00 in Berlin: not the night
    clock.advance(timedelta(hours=14, minutes=30))  # 03:30 in Berlin
    assert (await first.run(community)).ran
    assert not (await second.run(community)).ran  # done tonight
    clock.advance(timedelta(hours=24))
    assert (await second.run(community)).ran
    # A process that claimed the run and died holds it until its lease runs out.
    clock.advance(timedelta(hours=24))
    assert await store.claim_job(
        cohort.db, community.id, first.claimant, clock.now(), LEASE, timedelta(hours=20)
    )
    assert not (await second.run(community)).ran
    clock.advance(LEASE)
    assert (await second.run(community)).ran


@pytest.mark.parametrize(
    ("utc", "runs"),
    [
        (datetime(2026, 11, 21, 11, 0, tzinfo=UTC), True),  # 03:00 in Los Angeles
        (datetime(2026, 11, 21, 10, 59, 59, tzinfo=UTC), False),  # 02:59:59
        (datetime(2026, 11, 21, 13, 59, 59, tzinfo=UTC), True),  # 05:59:59
        (datetime(2026, 11, 21, 14, 0, tzinfo=UTC), False),  # 06:00
        (datetime(2026, 11, 21, 4, 0, tzinfo=UTC), False),  # 04:00 UTC is 20:00 there
    ],
)
async def test_the_night_is_the_communitys_even_west_of_utc(
    tmp_path: Path, utc: datetime, runs: bool
) -> None:
    clock = ManualClock(utc)
    bot = await build(
        make_config(tmp_path, community={"timezone": "America/Los_Angeles"}), clock=clock
    )
    try:
        done = await Retention(bot.db, clock).run(bot.communities["demo"])
        assert done.ran is runs
    finally:
        await bot.db.close()


async def test_the_purge_is_a_scheduled_job_of_the_bot(cohort: Cohort, clock: ManualClock) -> None:
    [job] = [j for j in cohort.jobs if j.id == "privacy.retention"]
    assert job.every == timedelta(hours=1)
    clock.advance(timedelta(hours=15))  # 04:00 in Berlin
    await log_at(cohort, clock.now() - timedelta(days=400), clock.now())
    await job.run()
    assert await left(cohort) == [clock.now()]


async def test_a_process_whose_lease_was_taken_over_cannot_renew_it(
    cohort: Cohort, clock: ManualClock
) -> None:
    community = cohort.communities["demo"]
    every = timedelta(hours=20)
    assert await store.claim_job(cohort.db, community.id, "first", clock.now(), LEASE, every)
    assert not await store.claim_job(cohort.db, community.id, "second", clock.now(), LEASE, every)
    clock.advance(LEASE)
    assert await store.claim_job(cohort.db, community.id, "second", clock.now(), LEASE, every)
    async with cohort.db.write() as conn:
        assert not await store.renew_job(conn, community.id, "first", clock.now(), LEASE)
        assert await store.renew_job(conn, community.id, "second", clock.now(), LEASE)
    await store.finish_job(cohort.db, community.id, "first", clock.now())  # not its run: no-op
    assert not await store.claim_job(cohort.db, community.id, "third", clock.now(), LEASE, every)
