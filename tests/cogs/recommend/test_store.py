"""The cog's rows (``_store``): the catalog synced from config, settings kept in a merge."""

from __future__ import annotations

from sqlalchemy import insert, select

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import courses, recommend_prefs
from tests.cogs.recommend._helpers import run


async def test_the_catalog_is_stored_from_config(bot: Cohort, con: ConsoleAdapter) -> None:
    await run(con, "ann", "/recommend")
    async with bot.db.read() as conn:
        rows = (await conn.execute(select(courses.c.course_id, courses.c.offer_id))).all()
    assert sorted(rows) == sorted(
        [
            ("python", "python"),
            ("pandas", "pandas-course"),
            ("sql", "sql"),
            ("ml", "ml"),
            ("vip", "vip"),
        ]
    )


async def test_merging_members_keeps_the_more_private_setting(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await run(con, "ann", "/privacy recommendations off")
    demo = bot.communities["demo"].id
    ann = await bot.identity.resolve(demo, con.caller("ann"))
    bea = await bot.identity.resolve(demo, Caller(PlatformName.TELEGRAM, "77", "Bea"))
    async with bot.db.write() as conn:
        await conn.execute(
            insert(recommend_prefs).values(
                community_id=demo,
                member_id=bea.member_id,
                use_messages=True,
                digest=False,
                last_digest="",
                updated_at=clock.now(),
            )
        )
    issued = await bot.identity.create_link_code(ann)
    survivor = await bot.identity.redeem_link_code(bea, issued.code)
    async with bot.db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    recommend_prefs.c.member_id,
                    recommend_prefs.c.use_messages,
                    recommend_prefs.c.digest,
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [(survivor, False, False)]
