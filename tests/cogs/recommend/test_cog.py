"""The recommend commands (``_cog``): suggestions, tiers, Chinese, privacy, stats, the digest."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.recommend import Reason
from bot.runtime import build
from bot.store.tables import recommend_prefs
from tests.cogs.recommend._helpers import (
    FAST,
    Tiers,
    buy,
    cog_of,
    community_of_buyers,
    config_with,
    member,
    run,
    say,
    service,
)
from tests.conftest import output


async def test_without_a_model_everyone_gets_popular_courses(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    text = await run(con, "newbie", "/recommend")
    assert "Courses for you" in text
    assert "community's favourites" in text
    assert text.index("Python Basics") < text.index("SQL for Analysts")
    assert "Founders' Masterclass" not in text  # gold only


async def test_a_warm_member_gets_explained_suggestions_never_an_owned_one(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await service(bot).retrain(FAST)
    text = await run(con, "ann", "/recommend")
    assert "Data Analysis with Pandas" in text
    assert "Members who took Python Basics also took this" in text
    assert ". Python Basics:" not in text
    assert "Founders' Masterclass" not in text


async def test_a_refunded_purchase_is_not_owned(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    bob = await member(bot, "bob")
    await buy(bot, bob, "python", clock.now(), refunded=True)
    found = await cog_of(bot).suggestions_for(bot.communities["demo"], bob, "en")
    assert "python" in [s.course_id for s in found.items]


async def test_tiers_decide_who_sees_a_tier_course(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    gold = await member(bot, "goldie")
    bot.entitlements = Tiers({gold})
    assert "Founders' Masterclass" in await run(con, "goldie", "/recommend")
    assert "Founders' Masterclass" not in await run(con, "plain", "/recommend")


async def test_a_member_who_only_wrote_in_chinese_gets_the_chinese_course(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await say(con, "lin", "大家好，我想系统地学习机器学习，有推荐的入门课程吗？")
    await service(bot).retrain(FAST)
    found = await cog_of(bot).suggestions_for(
        bot.communities["demo"], await member(bot, "lin"), "zh_CN"
    )
    assert found.personalised
    assert found.items[0].course_id == "ml"
    assert found.items[0].reason is Reason.WROTE_ABOUT
    await run(con, "lin", "/lang zh")
    text = await run(con, "lin", "/recommend")
    assert "机器学习入门" in text and "你提到过“机器学习”" in text


async def test_privacy_off_stops_the_use_of_messages(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(con, "lin", "I want to learn machine learning: 机器学习")
    await service(bot).retrain(FAST)
    text = await run(con, "lin", "/privacy recommendations off")
    assert "no longer use your messages" in text
    lin = await member(bot, "lin")
    found = await cog_of(bot).suggestions_for(bot.communities["demo"], lin, "en")
    assert not found.personalised
    assert all(s.reason is Reason.POPULAR for s in found.items)
    await run(con, "lin", "/privacy recommendations on")
    found = await cog_of(bot).suggestions_for(bot.communities["demo"], lin, "en")
    assert found.personalised


async def test_the_join_button_points_at_the_gating_command(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await service(bot).retrain(FAST)
    text = await run(con, "ann", "/recommend")
    assert "Get #1" in text
    number = re.search(r"\[(\d+)\] Get #1", text).group(1)  # type: ignore[union-attr]
    pressed = await run(con, "ann", f"/press {number}")
    assert "/join pandas-course" in pressed


async def test_stats_for_organizers(bot: Cohort, con: ConsoleAdapter, clock: ManualClock) -> None:
    await community_of_buyers(bot, clock)
    await say(con, "lin", "机器学习")
    assert "none yet" in await run(con, "alice", "/recommend stats")
    await service(bot).retrain(FAST)
    clock.advance(timedelta(hours=3))
    text = await run(con, "alice", "/recommend stats")
    assert "trained 3 h ago" in text
    assert "15 members from their purchases, 1 more from their messages" in text
    assert "25 purchases by 15 members" in text
    denied = await run(con, "ann", "/recommend stats")
    assert "Recommender" not in denied


async def test_stats_without_a_model_count_nobody_as_personalised(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await say(con, "lin", "机器学习")
    text = await run(con, "alice", "/recommend stats")
    assert "none yet" in text
    assert "members from their purchases" not in text
    assert "nobody yet: the most popular courses for all 17 members" in text
    con.user = "alice"
    await con.handle_line("/lang zh")
    output(con)
    assert "暂无：全部 17 位成员都看到最热门的课程" in await run(con, "alice", "/recommend stats")


async def test_stats_name_the_algorithm_and_zone_in_the_readers_language(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await service(bot).retrain(FAST)
    english = await run(con, "alice", "/recommend stats")
    assert "(Europe/Berlin)" in english
    await run(con, "alice", "/lang zh")
    chinese = await run(con, "alice", "/recommend stats")
    algorithm = next(line for line in chinese.splitlines() if "算法" in line)
    assert not any(c.isascii() and c.isalpha() for c in algorithm.replace("EASE", "")), algorithm


async def test_the_weekly_digest_is_sent_once_and_honours_the_opt_out(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await service(bot).retrain(FAST)
    demo = bot.communities["demo"]
    output(con)
    cog = cog_of(bot)
    sent = await cog.send_digests(demo)
    assert sent == 1  # only ann's are about her; the others would get what is popular
    text = output(con)
    assert "[#dm-ann] cohort:" in text and "New courses for you" in text
    assert await cog.send_digests(demo) == 0  # within the week
    await run(con, "ann", "/recommend digest off")
    async with bot.db.read() as conn:
        row = (await conn.execute(select(recommend_prefs.c.digest))).first()
    assert row is not None
    clock.advance(timedelta(days=8))
    output(con)
    await cog.send_digests(demo)
    assert "#dm-ann" not in output(con)


async def test_the_digest_switch_needs_the_community_digest(
    tmp_path: Path, clock: ManualClock
) -> None:
    bot = await build(config_with(tmp_path), clock=clock)
    try:
        con = ConsoleAdapter(bot, bot.communities["demo"], user="ann", out=io.StringIO())
        assert "sends no weekly" in await run(con, "ann", "/recommend digest on")
    finally:
        await bot.db.close()


async def test_no_catalog_is_a_clear_error(cohort: Cohort, console: ConsoleAdapter) -> None:
    assert "no courses to suggest" in await run(console, "ann", "/recommend")
