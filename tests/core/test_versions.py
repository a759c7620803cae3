"""Cached profiles and tiers: no read when nothing changed, changes seen locally and elsewhere."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.core.versions import CacheName, VersionedCache
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import access_sources, accounts, cache_versions, members
from tests import _postgres
from tests._sql import queries, statements
from tests.conftest import START, make_config, output

STALE = timedelta(seconds=1)  # the default [work] cache_staleness
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob")


async def versions(db: Database) -> dict[tuple[int, str], int]:
    """Return every cache version row."""
    async with db.read() as conn:
        rows = (await conn.execute(select(cache_versions))).all()
    return {(r.community_id, r.name): r.version for r in rows}


@pytest.fixture
async def other(config: Config) -> AsyncIterator[tuple[Cohort, ManualClock]]:
    """Return a second bot on the same database file, with its own clock."""
    clock = ManualClock(START)
    bot = await build(config, clock=clock)
    try:
        yield bot, clock
    finally:
        await bot.db.close()


def test_the_default_staleness_is_one_second(config: Config) -> None:
    assert config.work.cache_staleness == STALE.total_seconds()


async def test_a_command_reads_nothing_from_the_database_when_nothing_changed(
    console: ConsoleAdapter, cohort: Cohort
) -> None:
    for line in ("/help", "/whoami", "/help link"):  # warm: the profile and tiers are read once
        await console.handle_line(line)
    output(console)
    for line in ("/help", "/whoami", "/help link"):
        with statements(cohort.db) as seen:
            await console.handle_line(line)
        assert queries(seen) == [], line
    assert "/whoami" in output(console)


async def test_after_the_staleness_window_a_command_reads_only_the_versions(
    console: ConsoleAdapter, cohort: Cohort, clock: ManualClock
) -> None:
    await console.handle_line("/help")
    clock.advance(STALE)
    before = cohort.versions.reads
    with statements(cohort.db) as seen:
        await console.handle_line("/help")
    assert len(queries(seen)) == 1 and "cache_versions" in queries(seen)[0]
    assert cohort.versions.reads == before + 1


async def test_a_local_write_is_seen_at_once(console: ConsoleAdapter, cohort: Cohort) -> None:
    await console.handle_line("/help")
    await console.handle_line("/lang zh")
    output(console)
    await console.handle_line("/help")  # no clock movement: the write itself invalidated
    assert "命令" in output(console)
    account = await cohort.identity.resolve(cohort.communities["demo"].id, BOB)
    await cohort.identity.set_locale(account.member_id, "zh")
    member, _ = await cohort.identity.profile(account.member_id)
    assert member.locale == "zh"


async def test_a_write_in_another_process_is_seen_after_the_staleness_window(
    cohort: Cohort, clock: ManualClock, other: tuple[Cohort, ManualClock]
) -> None:
    second, _ = other
    community = cohort.communities["demo"].id
    account = await cohort.identity.resolve(community, BOB)
    member, _ = await cohort.identity.profile(account.member_id)
    assert member.locale is None
    await second.identity.set_locale(account.member_id, "zh")
    clock.advance(STALE - timedelta(milliseconds=1))
    member, _ = await cohort.identity.profile(account.member_id)
    assert member.locale is None  # within the window: served from the cache
    clock.advance(timedelta(milliseconds=1))
    member, _ = await cohort.identity.profile(account.member_id)
    assert member.locale == "zh"


async def test_a_link_in_another_process_is_seen_after_the_window(
    cohort: Cohort, clock: ManualClock, other: tuple[Cohort, ManualClock]
) -> None:
    second, _ = other
    community = cohort.communities["demo"].id
    bob = await cohort.identity.resolve(community, BOB)
    tg = await cohort.identity.resolve(community, Caller(PlatformName.TELEGRAM, "77", "Bob T"))
    assert [a.platform for a in await cohort.identity.accounts_of(bob.member_id)] == ["console"]
    code = await second.identity.create_link_code(bob)
    survivor = await second.identity.redeem_link_code(tg, code.code)
    assert survivor == bob.member_id
    clock.advance(STALE)
    linked = await cohort.identity.accounts_of(bob.member_id)
    assert [a.platform for a in linked] == ["console", "telegram"]
    assert await cohort.identity.accounts_of(tg.member_id) == []  # merged away


@pytest.mark.parametrize(
    ("table", "values", "bumps"),
    [
        ("members", {"locale": "zh"}, True),
        ("members", {"timezone": "America/Los_Angeles"}, True),
        ("members", {"locale": None}, False),  # unchanged: no bump
        ("accounts", {"display_name": "Robert"}, True),
        ("accounts", {"username": "bobby"}, True),
        ("accounts", {"locale": "en"}, True),
        ("accounts", {"last_seen_at": START + timedelta(hours=1)}, False),
        ("accounts", {"display_name": "Bob"}, False),
    ],
)
async def test_the_triggers_bump_the_profile_version_only_for_what_a_profile_shows(
    cohort: Cohort, table: str, values: dict[str, Any], bumps: bool
) -> None:
    community = cohort.communities["demo"].id
    account = await cohort.identity.resolve(community, BOB)
    before = (await versions(cohort.db)).get((community, "profile"), 0)
    target = members if table == "members" else accounts
    key = account.member_id if table == "members" else account.id
    async with cohort.db.write() as conn:
        await conn.execute(update(target).where(target.c.id == key).values(**values))
    after = (await versions(cohort.db)).get((community, "profile"), 0)
    assert after == before + (1 if bumps else 0)


async def test_new_members_and_their_messages_do_not_bump(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    before = await versions(cohort.db)
    for n in range(3):
        caller = Caller(PlatformName.CONSOLE, f"m{n}", f"M {n}")
        channel = ChannelRef(PlatformName.CONSOLE, "general")
        await cohort.dispatcher.message_posted(community, caller, channel, f"x{n}", "hi", START)
    assert await versions(cohort.db) == before


async def test_zero_staleness_reads_the_versions_on_every_use(tmp_path: Path) -> None:
    config = make_config(tmp_path, work={"cache_staleness": 0})
    bot = await build(config, clock=ManualClock(START))
    try:
        console = ConsoleAdapter(bot, bot.communities["demo"], user="alice", out=io.StringIO())
        bot.platforms[PlatformName.CONSOLE] = console
        await console.handle_line("/whoami")
        before = bot.versions.reads
        await console.handle_line("/whoami")
        assert bot.versions.reads > before
    finally:
        await bot.db.close()


async def test_a_member_merged_away_by_another_process_is_looked_up_again(
    cohort: Cohort, clock: ManualClock, other: tuple[Cohort, ManualClock]
) -> None:
    second, _ = other
    community = cohort.communities["demo"]
    telegram = await cohort.identity.resolve(
        community.id, Caller(PlatformName.TELEGRAM, "77", "Bob T")
    )  # the older member: it survives the link
    console = ConsoleAdapter(cohort, community, user="bob", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    await console.handle_line("/whoami")  # bob's console account is cached in this process
    bob = await cohort.identity.resolve(community.id, console.caller("bob"))  # the cached one
    code = await second.identity.create_link_code(telegram)
    assert await second.identity.redeem_link_code(bob, code.code) == telegram.member_id
    clock.advance(STALE)
    output(console)
    await console.handle_line("/whoami")
    printed = output(console)
    assert "telegram" in printed.lower() and "incident" not in printed.lower()


DAY_ONE = "'2026-01-01 00:00:00.000000'"
SETUP = (
    "INSERT INTO courses (community_id, course_id, offer_id, position, title, description,"
    f" tags, tiers, updated_at) VALUES (1, 'python', 'python', 0, 'Python', '', '', '', {DAY_ONE})",
    "INSERT INTO purchases (community_id, member_id, offer_id, source, source_ref,"
    f" purchased_at) VALUES (1, 1, 'python', 'manual', 'r0', {DAY_ONE})",
)
PREFS = (
    "INSERT INTO recommend_prefs (community_id, member_id, use_messages, digest, last_digest,"
    f" updated_at) VALUES (1, 1, FALSE, TRUE, '', {DAY_ONE})"
)


@pytest.mark.parametrize(
    ("statement", "bumps"),
    [
        (SETUP[1].replace("'r0'", "'r1'"), True),
        ("UPDATE purchases SET refunded_at = '2026-01-02 00:00:00.000000'", True),
        ("UPDATE purchases SET amount_minor = 100", False),
        ("DELETE FROM purchases", True),
        (PREFS, True),
        ("UPDATE recommend_prefs SET last_digest = 'python'", False),
        ("UPDATE recommend_prefs SET use_messages = TRUE", True),
        ("UPDATE courses SET title = 'Other'", False),
        ("UPDATE courses SET tiers = 'gold'", True),
        ("DELETE FROM courses", True),
    ],
)
async def test_what_changes_recommend_inputs_bumps_the_recommend_version(
    console: ConsoleAdapter, cohort: Cohort, statement: str, bumps: bool
) -> None:
    await console.handle_line("/help")  # bob is member 1 of community 1
    output(console)
    async with cohort.db.write() as conn:
        for setup in (*SETUP, *(() if statement == PREFS else (PREFS,))):
            await conn.execute(text(setup))
    before = (await versions(cohort.db)).get((1, "recommend"), 0)
    async with cohort.db.write() as conn:
        await conn.execute(text(statement))
    after = (await versions(cohort.db)).get((1, "recommend"), 0)
    assert (after > before) is bumps


def _source(community: int, member: int, ref: str) -> dict[str, Any]:
    """Return an ``access_sources`` row: a subscription ``ref`` of ``member``."""
    return {
        "community_id": community,
        "member_id": member,
        "offer_id": "pro",
        "kind": "subscription",
        "ref": ref,
        "status": "active",
        "cancel_at_period_end": False,
        "refunded": False,
        "disputed": False,
        "version": 1,
        "entitled": True,
        "created_at": START,
        "updated_at": START,
    }


@pytest.mark.skipif(not _postgres.enabled(), reason="SQLite has one writer at a time")
async def test_writers_of_access_sources_do_not_wait_for_each_other(cohort: Cohort) -> None:
    # Two processes' inbox batches, each writing a subscription: the second must not wait for
    # the first to commit (the version row is bumped at commit, not held from the write on).
    community = cohort.communities["demo"].id
    bob = await cohort.identity.resolve(community, BOB)
    ann = await cohort.identity.resolve(community, Caller(PlatformName.CONSOLE, "ann", "Ann"))
    before = (await versions(cohort.db)).get((community, "access"), 0)
    async with cohort.db.write() as first:
        await first.execute(insert(access_sources).values(_source(community, bob.member_id, "a")))
        async with cohort.db.write() as second:
            await second.execute(text("SET LOCAL lock_timeout = '1s'"))  # fail, do not hang
            row = _source(community, ann.member_id, "b")
            await second.execute(insert(access_sources).values(row))
        assert (await versions(cohort.db)).get((community, "access"), 0) == before + 1
    assert (await versions(cohort.db)).get((community, "access"), 0) == before + 2


async def test_another_process_sees_the_new_version_with_the_data_never_before(
    cohort: Cohort, other: tuple[Cohort, ManualClock]
) -> None:
    second, second_clock = other
    community = cohort.communities["demo"].id
    bob = await cohort.identity.resolve(community, BOB)
    before = await second.versions.stamp((CacheName.ACCESS,))
    rows = [_source(community, bob.member_id, ref) for ref in ("a", "b")]
    async with cohort.db.write() as conn:
        await conn.execute(insert(access_sources), rows)
        second_clock.advance(STALE)
        assert await second.versions.stamp((CacheName.ACCESS,)) == before  # not committed
    second_clock.advance(STALE)
    after = await second.versions.stamp((CacheName.ACCESS,))
    assert after != before
    async with second.db.read() as conn:  # the data the new version covers is there with it
        held = await conn.scalar(select(func.count()).select_from(access_sources))
    assert held == 2


async def test_a_cache_given_an_update_brings_its_kept_value_up_to_date(
    cohort: Cohort, clock: ManualClock
) -> None:
    """A value whose data changed is handed to ``update``; one never loaded is loaded."""
    community = cohort.communities["demo"].id
    cache: VersionedCache[str, int] = VersionedCache(cohort.versions, (CacheName.ACCESS,), size=1)
    calls: list[str] = []

    async def load() -> int:
        calls.append("load")
        return 1

    async def update_kept(kept: int) -> int:
        calls.append(f"update {kept}")
        return kept + 1

    assert await cache.get("a", load, update=update_kept) == 1
    assert await cache.get("a", load, update=update_kept) == 1  # nothing changed
    async with cohort.db.write() as conn:
        await conn.execute(
            insert(cache_versions).values(community_id=community, name="access", version=7)
        )
    clock.advance(STALE)
    assert await cache.get("a", load, update=update_kept) == 2
    assert await cache.get("b", load, update=update_kept) == 1  # pushes "a" out (size 1)
    assert await cache.get("a", load, update=update_kept) == 1
    assert calls == ["load", "update 1", "load", "load"]
