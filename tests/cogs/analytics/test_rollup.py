"""The rollups: folded from the message log, merged with members, rebuilt the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cogs import analytics
from bot.cogs.analytics._fast import FastRollups
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config, load_config
from bot.runtime import build
from bot.store.tables import analytics_days, analytics_hours, analytics_member_days
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
from tests.test_cli import cohort as run_cohort
from tests.test_cli import write_config


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock on the fixture's Saturday."""
    return ManualClock(datetime(2026, 10, 31, 12, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the config of the New York community."""
    return world_config(tmp_path)


async def test_linking_adds_both_accounts_days_together(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    dispatcher = cohort.dispatcher
    at = ny(2026, 10, 31, 9)
    await dispatcher.message_posted(community, ANA_D, GENERAL, "d1", "hi", at)
    await dispatcher.message_posted(community, ANA_T, TOPIC, "t1", "hi", at)
    await dispatcher.message_posted(community, ANA_T, TOPIC, "t2", "again", at)
    await dispatcher.message_posted(community, CY, GENERAL, "c1", "hi", at)
    day = date(2026, 10, 31)
    before = await analytics.service_of(cohort).activity(community.id, day, day, NY)
    assert before.days[0].active_members == 3  # ana's two accounts are two members yet
    ana = await cohort.identity.resolve(community.id, ANA_D)
    code = await cohort.identity.create_link_code(ana)
    await cohort.identity.redeem_link_code(
        await cohort.identity.resolve(community.id, ANA_T), code.code
    )
    after = await analytics.service_of(cohort).activity(community.id, day, day, NY)
    assert after.days[0].active_members == 2
    assert [(c.name, c.messages) for c in after.top_contributors] == [("Ana", 3), ("Cy", 1)]
    async with cohort.db.read() as conn:
        (kept,) = (
            await conn.execute(
                select(analytics_member_days).where(
                    analytics_member_days.c.member_id == ana.member_id
                )
            )
        ).all()
    assert (kept.messages, kept.thread_messages) == (3, 2)
    kept_rows = await rows(cohort)
    assert [r[2:] for r in kept_rows[3]] == [(4, 2, 0, 2)]  # messages, thread, reactions, active
    joined = day.toordinal()  # each member's stay: joined that day, not left
    assert [r[2:] for r in kept_rows[4]] == [(day, day, joined, None)] * 2
    assert ana.member_id in {r[1] for r in kept_rows[4]}
    assert await analytics.rebuild(cohort.db, community.id, NY) == 4
    assert await rows(cohort) == kept_rows


async def test_a_repeated_message_is_counted_once(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    at = ny(2026, 10, 31, 9)
    for _ in range(3):
        await cohort.dispatcher.message_posted(community, CY, GENERAL, "same", "hi", at)
    page = await analytics.service_of(cohort).activity(
        community.id, date(2026, 10, 31), date(2026, 10, 31), NY
    )
    assert page.messages == 1


async def test_messages_arriving_together_share_one_batch(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    at = ny(2026, 10, 31, 9)
    await asyncio.gather(
        *(
            cohort.dispatcher.message_posted(community, CY, GENERAL, f"m{n}", "hi", at)
            for n in range(40)
        )
    )
    kept = await rows(cohort)
    assert await analytics.rebuild(cohort.db, community.id, NY) == 40
    assert await rows(cohort) == kept
    assert kept[0][0][-2:] == (40, 0)


async def test_cli_rebuild_recounts_what_was_lost(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    bot = await build(load_config(path), clock=ManualClock(datetime(2026, 10, 31, tzinfo=UTC)))
    try:
        community = bot.communities["demo"]
        await bot.dispatcher.message_posted(
            community, CY, GENERAL, "m1", "hi", datetime(2026, 10, 31, 9, tzinfo=UTC)
        )
        async with bot.db.write() as conn:
            await conn.execute(analytics_hours.delete())
            await conn.execute(analytics_member_days.delete())
    finally:
        await bot.db.close()
    done = run_cohort("analytics", "rebuild", "--config", "config.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "demo: analytics rebuilt from 1 message(s)" in done.stdout
    bot = await build(load_config(path))
    try:
        page = await analytics.service_of(bot).activity(
            bot.communities["demo"].id,
            date(2026, 10, 31),
            date(2026, 10, 31),
            bot.communities["demo"].tz,
        )
    finally:
        await bot.db.close()
    assert page.messages == 1


async def test_reactions_count_for_the_member_and_the_channel(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "c1", "hi", cohort.clock.now())
    for emoji in ("👍", "🎉"):
        await cohort.dispatcher.reaction_changed(community, ANA_D, GENERAL, "c1", emoji, added=True)
    await cohort.dispatcher.reaction_changed(community, ANA_D, GENERAL, "c1", "👍", added=False)
    day = date(2026, 10, 31)
    page = await analytics.service_of(cohort).activity(community.id, day, day, NY)
    assert (page.days[0].messages, page.days[0].reactions, page.days[0].active_members) == (1, 2, 2)
    assert [(c.name, c.messages, c.reactions) for c in page.top_contributors] == [("Cy", 1, 0)]
    engaged = await analytics.service_of(cohort).engagement(community.id, day, day, NY)
    assert {m.name: m.interactions for m in engaged.most_engaged} == {"Cy": 1, "Ana": 2}


async def test_the_direct_sqlite_path_counts_as_a_rebuild_does(
    cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several members, days, threads and batches: the hook's rows equal the rebuilt ones."""
    taken: list[int] = []
    add = FastRollups.add

    def counted(self: FastRollups, raw: object, batch: list[object]) -> None:
        taken.append(len(batch))
        add(self, raw, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(FastRollups, "add", counted)
    community = cohort.communities["demo"]
    for n, (caller, channel, at) in enumerate(
        [
            (ANA_D, GENERAL, ny(2026, 10, 30, 23)),
            (ANA_T, TOPIC, ny(2026, 10, 30, 23)),
            (ANA_D, GENERAL, ny(2026, 10, 31, 0)),  # the next local day, the same UTC day
            (CY, GENERAL, ny(2026, 10, 31, 9)),
            (CY, TOPIC, ny(2026, 10, 31, 9)),
        ]
    ):
        await cohort.dispatcher.message_posted(community, caller, channel, f"a{n}", "hi", at)
    await asyncio.gather(
        *(
            cohort.dispatcher.message_posted(
                community, (ANA_D, CY)[n % 2], GENERAL, f"b{n}", "hi", ny(2026, 10, 31, 10)
            )
            for n in range(30)
        )
    )
    kept = await rows(cohort)
    assert bool(taken) == (cohort.db.engine.dialect.name == "sqlite")
    assert await analytics.rebuild(cohort.db, community.id, NY) == 35
    assert await rows(cohort) == kept
    assert [r[1:] for r in kept[3]] == [
        (date(2026, 10, 30), 2, 1, 0, 2),
        (date(2026, 10, 31), 33, 1, 0, 2),  # ana (discord) and cy
    ]


async def test_a_member_day_gone_behind_the_hooks_back_is_counted_again(cohort: Cohort) -> None:
    """The hook remembers member-days it wrote; one deleted since is made again, and active."""
    community = cohort.communities["demo"]
    at = ny(2026, 10, 31, 9)
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "m1", "hi", at)
    await folded(cohort)
    async with cohort.db.write() as conn:  # as an erasure or a merge would, elsewhere
        await conn.execute(analytics_member_days.delete())
        await conn.execute(analytics_days.delete())
    await cohort.dispatcher.message_posted(community, CY, GENERAL, "m2", "again", at)
    kept = await rows(cohort)
    assert [r[3:] for r in kept[1]] == [(1, 0, 0)]
    assert [r[2:] for r in kept[3]] == [(1, 0, 0, 1)]
