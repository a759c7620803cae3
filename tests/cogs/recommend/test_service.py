"""One community's recommender (``_service``): the model served, retraining, the cached inputs."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot import recommend as bot_recommend
from bot.adapters.console import ConsoleAdapter
from bot.cogs.recommend._service import TEXT_STALENESS
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.recommend import Algorithm
from bot.recommend._store import member_inputs, owned_courses, recent_text
from bot.runtime import build
from bot.store.tables import purchases
from tests._sql import queries, statements
from tests.cogs.recommend._helpers import (
    CATALOG,
    FAST,
    buy,
    cog_of,
    community_of_buyers,
    config_with,
    member,
    run,
    say,
    service,
    suggested,
)
from tests.conftest import make_config
from tests.core.test_versions import STALE


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
