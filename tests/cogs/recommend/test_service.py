"""The recommend cog through the console: suggestions, tiers, text, privacy, digest, retraining."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot import recommend as bot_recommend
from bot.adapters.console import ConsoleAdapter
from bot.cogs import recommend
from bot.cogs.recommend._service import TEXT_STALENESS
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.recommend import Algorithm, Reason, TrainParams
from bot.recommend._store import member_inputs, owned_courses, recent_text
from bot.runtime import build
from bot.store.tables import courses, purchases, recommend_prefs
from tests._sql import queries, statements
from tests.conftest import make_config, output
from tests.core.test_versions import STALE

FAST = TrainParams(validation_members=50, text_members=50, ease_lambdas=(5.0,), knn_ks=(10,))

CATALOG: list[dict[str, Any]] = [
    {"id": "python", "title": "Python Basics", "tags": ["code"], "language": "en"},
    {
        "id": "pandas",
        "title": "Data Analysis with Pandas",
        "description": "dataframes, groupby, cleaning data with pandas",
        "tags": ["code", "data"],
        "language": "en",
        "offer": "pandas-course",
    },
    {"id": "sql", "title": "SQL for Analysts", "tags": ["data"], "language": "en"},
    {
        "id": "ml",
        "title": "机器学习入门",
        "description": "机器学习 模型 训练 与 评估",
        "tags": ["ai"],
        "language": "zh_CN",
    },
    {
        "id": "vip",
        "title": "Founders' Masterclass",
        "tags": ["business"],
        "tiers": ["gold"],
    },
]


class Tiers:
    """Entitlements that say a fixed set of members hold ``gold``."""

    def __init__(self, gold: set[int]) -> None:
        self.gold = gold

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        return frozenset({"gold"}) if member_id in self.gold else frozenset()


def config_with(tmp_path: Path, **recommend_settings: Any) -> Any:
    return make_config(tmp_path, community={"courses": CATALOG, "recommend": recommend_settings})


@pytest.fixture
async def bot(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cohort]:
    cohort = await build(config_with(tmp_path, digest=True), clock=clock)
    try:
        yield cohort
    finally:
        await cohort.db.close()


@pytest.fixture
def con(bot: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(bot, bot.communities["demo"], user="alice", out=io.StringIO())
    bot.platforms[PlatformName.CONSOLE] = adapter
    return adapter


def service(bot: Cohort) -> recommend.Recommender:
    spec = bot.registry.get("recommend show")
    assert spec is not None
    cog = spec.handler.__self__  # type: ignore[attr-defined]
    return cog.services[bot.communities["demo"].id]


def cog_of(bot: Cohort) -> recommend.RecommendCog:
    spec = bot.registry.get("recommend show")
    assert spec is not None
    return spec.handler.__self__  # type: ignore[attr-defined,no-any-return]


async def member(bot: Cohort, name: str) -> int:
    caller = Caller(PlatformName.CONSOLE, name, name.title(), username=name)
    account = await bot.identity.resolve(bot.communities["demo"].id, caller)
    return account.member_id


async def buy(
    bot: Cohort, member_id: int, offer: str, at: datetime, refunded: bool = False
) -> None:
    async with bot.db.write() as conn:
        await conn.execute(
            insert(purchases).values(
                community_id=bot.communities["demo"].id,
                member_id=member_id,
                offer_id=offer,
                source="manual",
                source_ref=f"{member_id}:{offer}",
                purchased_at=at,
                refunded_at=at if refunded else None,
            )
        )


async def say(con: ConsoleAdapter, name: str, text: str) -> None:
    con.user = name
    await con.handle_line(text)


async def run(con: ConsoleAdapter, name: str, line: str) -> str:
    con.user = name
    output(con)
    await con.handle_line(line)
    return output(con)


async def community_of_buyers(bot: Cohort, clock: ManualClock) -> None:
    """Ten members who took python then pandas; four who took sql alone; ann took python."""
    start = clock.now() - timedelta(days=30)
    for i in range(10):
        who = await member(bot, f"p{i}")
        await buy(bot, who, "python", start + timedelta(hours=i))
        await buy(bot, who, "pandas-course", start + timedelta(days=1, hours=i))
    for i in range(4):
        await buy(bot, await member(bot, f"s{i}"), "sql", start)
    await buy(bot, await member(bot, "ann"), "python", start)


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


async def test_a_community_never_trained_serves_popularity_without_a_warning(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await community_of_buyers(bot, clock)
    assert not service(bot).path.exists()
    with caplog.at_level(logging.INFO):
        text = await run(con, "ann", "/recommend")
    assert "Popular in the community" in text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "no model yet, serving popularity" in caplog.text


async def test_a_corrupt_model_file_falls_back_to_popularity_and_is_logged(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_with(tmp_path)
    first = await build(config, clock=clock)
    try:
        await community_of_buyers(first, clock)
        path = service(first).path
        await service(first).retrain(FAST)
        assert path.exists()
    finally:
        await first.db.close()
    path.write_bytes(path.read_bytes()[:100])
    second = await build(config, clock=clock)
    try:
        con = ConsoleAdapter(second, second.communities["demo"], user="ann", out=io.StringIO())
        with caplog.at_level(logging.WARNING):
            text = await run(con, "ann", "/recommend")
        assert "no usable model, serving popularity" in caplog.text
        assert "Data Analysis with Pandas" in text
        assert "Popular in the community" in text
        assert service(second).model is None
        assert await service(second).due()
    finally:
        await second.db.close()


async def test_the_previous_model_serves_while_a_new_one_trains(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await community_of_buyers(bot, clock)
    old = await service(bot).retrain(FAST)
    release = threading.Event()
    started = threading.Event()
    real_train = bot_recommend.train

    def slow_train(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(bot_recommend, "train", slow_train)
    clock.advance(timedelta(hours=1))
    task = asyncio.create_task(service(bot).retrain(FAST))
    assert await asyncio.to_thread(started.wait, 10)
    text = await run(con, "ann", "/recommend")  # the event loop is free: this answers
    assert "Members who took Python Basics" in text
    assert service(bot).model is old
    assert "running now" in await run(con, "alice", "/recommend stats")
    release.set()
    new = await task
    assert service(bot).model is new is not old
    assert new.info.trained_at == clock.now()


def purchase_reads(seen: list[str]) -> list[str]:
    return [sql for sql in queries(seen) if "purchases" in sql]


async def test_popularity_is_counted_only_while_no_model_fits_the_catalog(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Counting who kept each course is a pass over every purchase (3.6 s at 2,000,000), for a
    # fallback that is served only while no trained model fits the catalog.
    config = config_with(tmp_path)
    first = await build(config, clock=clock)
    try:
        await community_of_buyers(first, clock)
        svc = service(first)
        with statements(first.db) as seen:
            await svc.open()  # no model yet: popularity is served
        assert purchase_reads(seen)
        assert svc.current() is svc.fallback
        with statements(first.db) as seen:
            model = await svc.retrain(FAST)  # its data is read on a connection of its own
        assert purchase_reads(seen) == []
        assert svc.current() is model
    finally:
        await first.db.close()
    second = await build(config, clock=clock)  # a restart with the model on disk
    try:
        with statements(second.db) as seen:
            await service(second).open()
        assert purchase_reads(seen) == []
        assert service(second).fallback is None
        assert service(second).current() is service(second).model
    finally:
        await second.db.close()
    extra = {"id": "rust", "title": "Rust", "tags": ["code"], "language": "en"}
    changed = make_config(tmp_path, community={"courses": [*CATALOG, extra]})
    third = await build(changed, clock=clock)  # another catalog: the model does not fit
    try:
        await service(third).open()
        fallback = service(third).fallback
        assert fallback is not None
        assert service(third).current() is fallback
        assert fallback.info.algorithm is Algorithm.POPULARITY
        ids = [c.id for c in service(third).catalog]
        popular = dict(zip(ids, fallback.popularity.tolist(), strict=True))
        assert popular == {"python": 11, "pandas": 10, "sql": 4, "ml": 0, "vip": 0, "rust": 0}
    finally:
        await third.db.close()


async def test_training_is_due_when_the_data_changed_and_the_model_is_old(
    bot: Cohort, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    svc = service(bot)
    assert await svc.due()
    await svc.retrain(FAST)
    assert not await svc.due()
    clock.advance(timedelta(days=2))
    assert not await svc.due()  # old, but nothing changed
    await buy(bot, await member(bot, "zed"), "sql", clock.now())
    assert await svc.due()


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


async def test_one_query_reads_what_serving_a_member_needs(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = bot.communities["demo"].id
    await service(bot).open()  # the catalog reaches the store
    start = clock.now() - timedelta(days=3)
    ann = await member(bot, "ann")
    await buy(bot, ann, "python", start)
    await buy(bot, ann, "pandas-course", start + timedelta(hours=1))
    await buy(bot, ann, "sql", start + timedelta(hours=2), refunded=True)
    for n in range(4):
        await say(con, "ann", f"message {n}: pandas groupby")
        clock.advance(timedelta(minutes=1))
    since = clock.now() - timedelta(days=1)
    async with bot.db.read() as conn:
        owned, taken, text = await member_inputs(conn, demo, ann, since=since, limit=3)
        assert sorted(owned) == sorted(await owned_courses(conn, demo, ann)) == ["pandas", "python"]
        # Oldest first, with when each was taken: recency weighting needs the order.
        assert owned == ["python", "pandas"]
        assert taken == [start.timestamp(), (start + timedelta(hours=1)).timestamp()]
        assert text == await recent_text(conn, ann, since=since, limit=3)
        assert text is not None and text.splitlines()[0].startswith("message 1")
        assert await member_inputs(conn, demo, ann, since=None, limit=3) == (owned, taken, None)
        nobody = await member(bot, "nobody")
        assert await member_inputs(conn, demo, nobody, since=since, limit=3) == ([], [], "")
    await run(con, "ann", "/privacy recommendations off")
    async with bot.db.read() as conn:
        owned_now, taken_now, text_now = await member_inputs(conn, demo, ann, since=since, limit=3)
    assert (owned_now, taken_now, text_now) == (owned, taken, None)


async def test_serving_weighs_a_members_courses_by_when_they_were_taken(
    bot: Cohort, clock: ManualClock
) -> None:
    import numpy as np  # noqa: PLC0415

    rec = service(bot)
    await rec.open()
    ids = [c.id for c in rec.catalog]
    weights = np.zeros((len(ids), len(ids)), dtype=np.float32)
    weights[ids.index("python"), ids.index("ml")] = 1.0  # the older course points at ml
    weights[ids.index("sql"), ids.index("pandas")] = 0.8  # the latest one at pandas
    rec.model = bot_recommend.Model(
        rec.catalog,
        info=bot_recommend.ModelInfo(clock.now(), "v", rec.digest, bot_recommend.Algorithm.EASE),
        weights=weights,
        popularity=np.ones(len(ids), np.float32),
        text=None,
        recency=1.0,  # the older course weighs half: ml 0.5, pandas 0.8
    )
    ann = await member(bot, "ann")
    await buy(bot, ann, "python", clock.now() - timedelta(days=9))
    await buy(bot, ann, "sql", clock.now() - timedelta(days=1))
    found = await rec.suggest(ann, tiers=frozenset(), language="en")
    assert suggested(found)[:2] == ["pandas", "ml"]  # unweighted: ml 1.0 before pandas 0.8
    assert found.items[0].because == "sql"


def suggested(found: recommend.Suggestions) -> list[str]:
    return [s.course_id for s in found.items]


async def test_a_purchase_here_drops_the_course_from_the_next_top_5_at_once(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    await service(bot).retrain(FAST)
    bob = await member(bot, "bob")
    demo = bot.communities["demo"]
    assert "python" in suggested(await cog_of(bot).suggestions_for(demo, bob, "en"))
    with statements(bot.db) as seen:  # nothing changed: served from memory
        again = await service(bot).suggest(bob, tiers=frozenset(), language="en")
    assert queries(seen) == []
    assert "python" in suggested(again)
    await buy(bot, bob, "python", clock.now())  # this process's write: seen at once
    after = await service(bot).suggest(bob, tiers=frozenset(), language="en")
    assert "python" not in suggested(after)
    assert "pandas" in suggested(after)  # and the model now knows bob took python


async def test_a_purchase_by_another_process_counts_within_the_staleness(
    bot: Cohort, tmp_path: Path, clock: ManualClock
) -> None:
    await community_of_buyers(bot, clock)
    bob = await member(bot, "bob")
    here = service(bot)
    assert "python" in suggested(await here.suggest(bob, tiers=frozenset(), language="en"))
    other = await build(config_with(tmp_path, digest=True), clock=ManualClock(clock.now()))
    try:
        await buy(other, bob, "python", clock.now())
    finally:
        await other.db.close()
    stale = await here.suggest(bob, tiers=frozenset(), language="en")  # within the bound
    assert "python" in suggested(stale)
    clock.advance(STALE)
    assert "python" not in suggested(await here.suggest(bob, tiers=frozenset(), language="en"))


async def test_a_refund_and_the_privacy_switch_reach_the_cached_inputs(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    await service(bot).open()  # the catalog reaches the store
    ann = await member(bot, "ann")
    await buy(bot, ann, "python", clock.now())
    await say(con, "ann", "pandas groupby dataframes")
    first = await service(bot).inputs(ann)
    assert (first.owned, first.text) == (["python"], "pandas groupby dataframes")
    async with bot.db.write() as conn:
        await conn.execute(update(purchases).values(refunded_at=clock.now()))
    assert (await service(bot).inputs(ann)).owned == []
    await run(con, "ann", "/privacy recommendations off")
    assert (await service(bot).inputs(ann)).text is None


async def test_new_messages_count_once_the_cached_text_is_a_minute_old(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock
) -> None:
    ann = await member(bot, "ann")
    await say(con, "ann", "first words")
    assert (await service(bot).inputs(ann)).text == "first words"
    clock.advance(timedelta(seconds=30))
    await say(con, "ann", "second words")
    assert (await service(bot).inputs(ann)).text == "first words"  # messages bump no version
    clock.advance(TEXT_STALENESS - timedelta(seconds=30))
    assert (await service(bot).inputs(ann)).text == "first words\nsecond words"


@pytest.mark.parametrize("micro", [0, 1, 999_600, 999_999])  # SQLite rounds .9996 s up
async def test_training_reads_each_kept_purchase_to_the_microsecond(
    bot: Cohort, con: ConsoleAdapter, clock: ManualClock, micro: int
) -> None:
    from bot.recommend._load import load_dataset  # noqa: PLC0415 (numpy, as the cog does)

    await service(bot).open()
    demo = bot.communities["demo"].id
    at = clock.now().replace(microsecond=micro) - timedelta(days=2)
    ann, bob = await member(bot, "ann"), await member(bot, "bob")
    await buy(bot, ann, "pandas-course", at)
    await buy(bot, ann, "python", at + timedelta(hours=1))
    await buy(bot, bob, "sql", at, refunded=True)
    await buy(bot, bob, "ml", at + timedelta(seconds=1))
    await say(con, "ann", "pandas groupby")
    data = await load_dataset(
        bot.db, demo, now=clock.now(), text_window=timedelta(days=7), messages_per_member=5
    )
    events = sorted(
        zip(
            data.member_ids[data.event_rows].tolist(),
            [data.courses[i].id for i in data.event_items],
            data.event_times.tolist(),
            strict=True,
        )
    )
    stamp = at.timestamp()
    assert events == sorted(
        [
            (ann, "pandas", stamp),
            (ann, "python", stamp + 3600),
            (bob, "ml", stamp + 1),
        ]
    )
    assert [data.member_ids[r] for r in data.message_rows] == [ann]
    assert data.message_texts == ["pandas groupby"]
    assert data.message_times.tolist() == [clock.now().timestamp()]
