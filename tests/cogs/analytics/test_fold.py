"""The fold: messages noted as pending in their transaction, added to the rollups once, later."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text

from bot.cogs import analytics
from bot.cogs.analytics import Folder
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.privacy import Requester
from bot.runtime import build
from bot.store.tables import analytics_member_days, analytics_pending, message_log
from tests import _postgres
from tests.cogs.analytics.world import (
    ANA_D,
    ANA_T,
    CY,
    GENERAL,
    NY,
    TOPIC,
    folded,
    ny,
    world_config,
)
from tests.cogs.analytics.world import rollup_rows as rows
from tests.conftest import make_config

AT = ny(2026, 10, 31, 9)
DAY = date(2026, 10, 31)


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock on the fixture's Saturday."""
    return ManualClock(datetime(2026, 10, 31, 12, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the config of the New York community."""
    return world_config(tmp_path)


def folder(bot: Cohort) -> Folder:
    """Return the bot's fold."""
    found = analytics.folder_of(bot)
    assert found is not None
    return found


async def pending(bot: Cohort) -> int:
    """Return how many messages are logged and not folded."""
    p = analytics_pending.c
    async with bot.db.read() as conn:
        return int(
            await conn.scalar(select(func.coalesce(func.sum(p.last_id - p.first_id + 1), 0)))
        )


async def rebuilt(bot: Cohort) -> tuple[list[tuple[object, ...]], ...]:
    """Return the rollups as a rebuild from the message log makes them."""
    await analytics.rebuild(bot.db, bot.communities["demo"].id, NY)
    return await rows(bot)


async def test_the_message_path_only_notes_messages_and_the_fold_adds_them_once(
    cohort: Cohort,
) -> None:
    community = cohort.communities["demo"]
    await asyncio.gather(
        *(
            cohort.dispatcher.message_posted(
                community, (CY, ANA_D)[n % 2], GENERAL, f"m{n}", "hi", AT
            )
            for n in range(30)
        )
    )
    await cohort.dispatcher.message_posted(community, CY, TOPIC, "t", "hi", AT)
    async with cohort.db.read() as conn:
        assert (await conn.execute(select(analytics_member_days))).all() == []
    assert await pending(cohort) == 31
    assert await folder(cohort).catch_up() >= 1
    assert await pending(cohort) == 0
    kept = await rows(cohort)
    assert await folder(cohort).catch_up() == 0  # nothing twice
    assert await rows(cohort) == kept == await rebuilt(cohort)
    assert sorted(r[3] for r in kept[1]) == [15, 16]


async def test_a_fold_takes_at_most_its_bound_of_messages(
    cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.cogs.analytics._fold.FOLD_ROWS", 3)
    community = cohort.communities["demo"]
    for n in range(7):
        await cohort.dispatcher.message_posted(community, CY, GENERAL, f"m{n}", "hi", AT)
    assert (await folder(cohort).fold()).messages == 3
    assert await pending(cohort) == 4
    assert await folder(cohort).catch_up() == 4
    assert await rows(cohort) == await rebuilt(cohort)


async def test_messages_of_a_process_that_died_are_folded_by_the_next_start(
    config: Config, clock: ManualClock
) -> None:
    first = await build(config, clock=clock)
    community = first.communities["demo"]
    for n in range(5):
        await first.dispatcher.message_posted(community, CY, GENERAL, f"m{n}", "hi", AT)
    await first.db.close()  # killed: its messages committed, never folded
    second = await build(config, clock=clock)
    try:
        assert await pending(second) == 5
        await folder(second).start(second.supervisor)
        assert "analytics.fold" in second.supervisor.report()  # shown in /healthz
        await folder(second).stop()  # its first pass, then what is left
        assert await pending(second) == 0
        page = await analytics.service_of(second).activity(community.id, DAY, DAY, NY)
        assert page.messages == 5
        assert await rows(second) == await rebuilt(second)
    finally:
        await second.db.close()


async def test_two_processes_folding_at_once_count_each_message_once(
    config: Config, clock: ManualClock
) -> None:
    one = await build(config, clock=clock)
    two = await build(config, clock=clock)
    try:
        community = one.communities["demo"]
        for n in range(40):
            bot = (one, two)[n % 2]
            await bot.dispatcher.message_posted(
                community, (CY, ANA_D)[n % 3 % 2], GENERAL, f"m{n}", "hi", AT
            )
        await asyncio.gather(*(folder(bot).catch_up() for bot in (one, two, one, two)))
        assert await pending(one) == 0
        kept = await rows(one)
        assert sum(r[3] for r in kept[1]) == 40
        assert kept == await rebuilt(one)
    finally:
        await one.db.close()
        await two.db.close()


async def test_the_pages_fold_what_is_pending_before_they_read(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    service = analytics.service_of(cohort)
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "m1", "hi", AT)
    assert (await service.activity(community.id, DAY, DAY, NY)).messages == 1
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "m2", "hi", AT)
    assert (await service.activity(community.id, DAY, DAY, NY)).messages == 2
    assert await pending(cohort) == 0


async def test_a_merge_before_the_fold_counts_the_messages_for_the_survivor(
    cohort: Cohort,
) -> None:
    community = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(community, ANA_D, GENERAL, "d1", "hi", AT)
    await folded(cohort)
    await cohort.dispatcher.message_posted(community, ANA_T, TOPIC, "t1", "hi", AT)
    await cohort.dispatcher.message_posted(community, ANA_D, GENERAL, "d2", "hi", AT)
    ana = await cohort.identity.resolve(community.id, ANA_D)
    code = await cohort.identity.create_link_code(ana)
    await cohort.identity.redeem_link_code(
        await cohort.identity.resolve(community.id, ANA_T), code.code
    )
    assert await pending(cohort) == 2  # linked before these were folded
    kept = await rows(cohort)
    assert [(r[1], r[3], r[4]) for r in kept[1]] == [(ana.member_id, 3, 1)]
    assert [r[2:] for r in kept[3]] == [(3, 1, 0, 1)]  # one active member
    assert kept == await rebuilt(cohort)


async def test_an_erasure_counts_the_members_messages_not_yet_folded(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(community, ANA_D, GENERAL, "a1", "hi", AT)
    for n in range(3):
        await cohort.dispatcher.message_posted(community, CY, GENERAL, f"c{n}", "hi", AT)
    cy = await cohort.identity.resolve(community.id, CY)
    assert await pending(cohort) == 4
    report = await cohort.privacy.erase(community.id, cy.member_id, Requester.SELF)
    assert await pending(cohort) == 0
    kept = await rows(cohort)
    by_member = {r[1]: r[3] for r in kept[1]}
    assert by_member[report.anonymous_id] == 3  # kept, nameless, as folded ones are
    assert [r[2:] for r in kept[3]] == [(4, 0, 0, 2)]
    async with cohort.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(message_log)) == 1


async def test_a_rebuild_leaves_nothing_pending_that_would_count_twice(tmp_path: Path) -> None:
    bot = await build(
        world_config(tmp_path), clock=ManualClock(datetime(2026, 10, 31, 12, tzinfo=UTC))
    )
    try:
        community = bot.communities["demo"]
        await asyncio.gather(
            *(
                bot.dispatcher.message_posted(community, CY, GENERAL, f"m{n}", "hi", AT)
                for n in range(10)
            )
        )
        assert await pending(bot) == 10
        assert await analytics.rebuild(bot.db, community.id, NY) == 10
        assert await pending(bot) == 0
        kept = await rows(bot)
        assert sum(r[3] for r in kept[1]) == 10
    finally:
        await bot.db.close()


async def test_a_rebuild_keeps_other_communities_pending_messages(tmp_path: Path) -> None:
    other = {
        "id": "other",
        "name": "Other",
        "locale": "en",
        "timezone": "UTC",
        "admins": ["console:alice"],
        "discord_guilds": [222],
    }
    config = make_config(
        tmp_path,
        communities=[
            {
                "id": "demo",
                "name": "Demo",
                "locale": "en",
                "timezone": "America/New_York",
                "admins": ["console:alice"],
                "discord_guilds": [111],
            },
            other,
        ],
    )
    bot = await build(config, clock=ManualClock(datetime(2026, 10, 31, 12, tzinfo=UTC)))
    try:
        here, there = bot.communities["demo"], bot.communities["other"]
        await asyncio.gather(  # one batch, both communities: one pending row spans them
            *(
                bot.dispatcher.message_posted((here, there)[n % 2], CY, GENERAL, f"m{n}", "hi", AT)
                for n in range(10)
            )
        )
        assert await analytics.rebuild(bot.db, here.id, NY) == 5
        assert await pending(bot) == 5  # the other community's, still to fold
        await folded(bot)
        kept = await rows(bot)
        assert sum(r[3] for r in kept[1]) == 10
        await analytics.rebuild(bot.db, there.id, there.tz)
        assert await rows(bot) == kept
    finally:
        await bot.db.close()


@pytest.mark.skipif(not _postgres.enabled(), reason="ids commit out of order on PostgreSQL")
async def test_a_message_whose_transaction_commits_late_is_folded_once(cohort: Cohort) -> None:
    """Two connections log a message each; the later id commits first, and a fold runs between."""
    community = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "m0", "hi", AT)  # members
    cy = await cohort.identity.resolve(community.id, CY)
    fold = folder(cohort)

    def message(n: int) -> dict[str, object]:
        return {
            "community_id": community.id,
            "member_id": cy.member_id,
            "account_id": cy.id,
            "platform": "discord",
            "channel_id": "general",
            "thread_id": None,
            "message_id": f"x{n}",
            "text": "hi",
            "posted_at": AT,
        }

    engine = cohort.db.engine
    async with engine.connect() as early, engine.connect() as late:
        first, second = await early.begin(), await late.begin()
        row = message(1)
        await early.execute(insert(message_log).values(row))
        await fold.logged(early, [row])
        row = message(2)
        await late.execute(insert(message_log).values(row))
        await fold.logged(late, [row])
        ids = {
            conn: await conn.scalar(select(func.max(message_log.c.id))) for conn in (early, late)
        }
        assert ids[early] < ids[late]
        await second.commit()  # the later id commits first
        await fold.catch_up()
        assert sum(r[3] for r in (await rows(cohort))[1]) == 2  # m0 and x2
        await first.commit()
    await fold.catch_up()
    kept = await rows(cohort)
    assert sum(r[3] for r in kept[1]) == 3
    assert kept == await rebuilt(cohort)


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns", "UTC"])
async def test_messages_counted_by_the_minute_fall_on_the_right_hour_and_day(
    tmp_path: Path, zone: str
) -> None:
    """On SQLite the fold counts messages per account, channel and minute: exact at every edge."""
    bot = await build(
        world_config(tmp_path, timezone=zone),
        clock=ManualClock(datetime(2026, 11, 2, 12, tzinfo=UTC)),
    )
    try:
        community = bot.communities["demo"]
        midnight = datetime(2026, 11, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        hour = datetime(2026, 11, 1, 7, tzinfo=UTC)
        offsets = (-61.0, -1.0, -0.000001, 0.0, 0.5, 59.999999, 60.0, 3599.0, 3600.0)
        n = 0
        for base in (midnight, hour):
            for seconds in offsets:
                for who, where in ((CY, GENERAL), (ANA_D, TOPIC), (CY, TOPIC)):
                    at = base + timedelta(seconds=seconds)
                    await bot.dispatcher.message_posted(community, who, where, f"m{n}", "hi", at)
                    n += 1
        kept = await rows(bot)
        assert sum(r[3] for r in kept[1]) == n
        await analytics.rebuild(bot.db, community.id, ZoneInfo(zone))
        assert await rows(bot) == kept
    finally:
        await bot.db.close()


@pytest.mark.skipif(not _postgres.enabled(), reason="folds of other processes run beside a merge")
async def test_a_merge_waits_for_a_fold_that_read_the_absorbed_members_messages(
    cohort: Cohort,
) -> None:
    """A fold elsewhere holds the absorbed member's message uncommitted: the merge waits for it."""
    community = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(community, ANA_D, GENERAL, "d1", "hi", AT)
    await folded(cohort)
    await cohort.dispatcher.message_posted(community, ANA_T, TOPIC, "t1", "hi", AT)
    ana = await cohort.identity.resolve(community.id, ANA_D)
    code = await cohort.identity.create_link_code(ana)
    other_account = await cohort.identity.resolve(community.id, ANA_T)
    async with cohort.db.engine.connect() as other:
        elsewhere = await other.begin()
        await folder(cohort).fold_all(other)  # the other process's fold, not committed yet
        merge = asyncio.create_task(cohort.identity.redeem_link_code(other_account, code.code))
        async with cohort.db.engine.connect() as watch:
            for _ in range(1000):  # until the merge waits on a lock (or, wrongly, is done)
                waiting = await watch.scalar(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                )
                await watch.commit()
                if waiting or merge.done():
                    break
                await asyncio.sleep(0.01)
        assert not merge.done()
        await elsewhere.commit()
    assert await merge == ana.member_id
    kept = await rows(cohort)
    assert [(r[1], r[3]) for r in kept[1]] == [(ana.member_id, 2)]
    assert kept == await rebuilt(cohort)
