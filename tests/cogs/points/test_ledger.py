"""Points: the ledger, earning rules, kudos, levels, leaderboards and merges."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage
from sqlalchemy import func, insert, select, text, update

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.points._card import render_card
from bot.cogs.points._ledger import Ranked
from bot.cogs.points._levels import cost_of_next, progress, total_for
from bot.cogs.points._rewards import roles_for
from bot.cogs.points._rules import (
    NoPoints,
    digest,
    ineligible,
    mentions_in,
    message_points,
    says_thanks,
)
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import AccountRef, LevelCurve, LevelReward, PointsConfig
from bot.core.identity import Caller
from bot.core.parsing import parse_mention
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, ChannelRef, PlatformError, PlatformErrorReason
from bot.runtime import build
from bot.store.tables import points_balances, points_ledger, points_period_totals, purchases
from tests.conftest import make_config, output

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob", username="bob")
CAROL = Caller(PlatformName.CONSOLE, "carol", "Carol", username="carol")
GENERAL = ChannelRef(PlatformName.CONSOLE, "general")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# --- levels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "total"), [(0, 0), (1, 100), (2, 255), (10, 4_675), (100, 1_899_250)]
)
def test_the_mee6_curve(level: int, total: int) -> None:
    assert total_for(level, LevelCurve.MEE6, 0) == total
    assert progress(total, LevelCurve.MEE6, 0).level == level
    assert progress(total - 1, LevelCurve.MEE6, 0).level == max(level - 1, 0)


@pytest.mark.parametrize(
    ("curve", "points", "level", "into", "needed"),
    [
        (LevelCurve.LINEAR, 0, 0, 0, 100),
        (LevelCurve.LINEAR, 299, 1, 199, 200),
        (LevelCurve.LINEAR, 300, 2, 0, 300),
        (LevelCurve.FLAT, 250, 2, 50, 100),
        (LevelCurve.MEE6, -40, 0, 0, 100),
    ],
)
def test_other_curves(curve: LevelCurve, points: int, level: int, into: int, needed: int) -> None:
    got = progress(points, curve, 100)
    assert (got.level, got.into, got.needed) == (level, into, needed)
    assert cost_of_next(got.level, curve, 100) == needed


# --- message rules -----------------------------------------------------------------------------

CONFIG = PointsConfig()


@pytest.mark.parametrize(
    ("text", "last_at", "last_text", "expected"),
    [
        ("hi", None, None, NoPoints.TOO_SHORT),
        ("  a b  ", None, None, NoPoints.TOO_SHORT),
        ("hello world", None, "Hello   WORLD", NoPoints.REPEATED),
        ("hello world", NOW - timedelta(seconds=59), None, NoPoints.COOLDOWN),
        ("hello world", NOW - timedelta(seconds=60), None, "points"),
        ("hello world", None, "another text", "points"),
    ],
)
def test_message_rules(
    text: str, last_at: datetime | None, last_text: str | None, expected: object
) -> None:
    got = message_points(
        CONFIG,
        text=text,
        now=NOW,
        last_award_at=last_at,
        last_digest=digest(last_text) if last_text else None,
        rng=random.Random(1),
    )
    if expected == "points":
        assert isinstance(got, int) and 15 <= got <= 25
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("channel", "author", "expected"),
    [
        ("bots", "console:bob", NoPoints.EXCLUDED_CHANNEL),
        ("general", "telegram:600", NoPoints.MUTED),
        ("general", "console:bob", None),
    ],
)
def test_where_and_who_never_earn(channel: str, author: str, expected: NoPoints | None) -> None:
    config = PointsConfig(excluded_channels=("bots",), muted=(AccountRef.parse("telegram:600"),))
    assert ineligible(config, channel_id=channel, author=AccountRef.parse(author)) == expected


def test_message_points_cover_the_whole_range() -> None:
    rng = random.Random(7)
    seen = {
        message_points(
            CONFIG, text="long enough", now=NOW, last_award_at=None, last_digest=None, rng=rng
        )
        for _ in range(500)
    }
    assert seen == set(range(15, 26))


# --- earning through events -------------------------------------------------------------------


async def post(
    cohort: Cohort, caller: Caller, message_id: str, text: str, channel: ChannelRef = GENERAL
) -> bool:
    """Post a message as ``caller``."""
    return await cohort.dispatcher.message_posted(
        cohort.communities["demo"], caller, channel, message_id, text, cohort.clock.now()
    )


async def balance(cohort: Cohort, caller: Caller) -> int:
    """Return ``caller``'s balance."""
    account = await cohort.identity.resolve(cohort.communities["demo"].id, caller)
    return await points.balance_of(cohort.db, account.community_id, account.member_id)


async def test_cooldown_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path)
    first = await build(config, clock=clock)
    await post(first, BOB, "1", "the first thing I say")
    earned = await balance(first, BOB)
    assert 15 <= earned <= 25
    await first.db.close()

    clock.advance(timedelta(seconds=30))
    second = await build(config, clock=clock)  # a restart: nothing kept in memory
    try:
        await post(second, BOB, "2", "something else entirely")
        assert await balance(second, BOB) == earned
        clock.advance(timedelta(seconds=31))
        await post(second, BOB, "3", "and a third message")
        assert await balance(second, BOB) > earned
    finally:
        await second.db.close()


@pytest.mark.parametrize(
    ("overrides", "caller", "channel", "text"),
    [
        (
            {"excluded_channels": ["bots"]},
            BOB,
            ChannelRef(PlatformName.CONSOLE, "bots"),
            "long text",
        ),
        ({"muted": ["console:bob"]}, BOB, GENERAL, "long text here"),
        ({}, BOB, GENERAL, "hey"),
        (
            {},
            Caller(PlatformName.CONSOLE, "robot", "Robot", is_bot=True),
            GENERAL,
            "beep boop beep",
        ),
    ],
    ids=["excluded-channel", "muted", "too-short", "bot"],
)
async def test_no_points_for_spam_cases(
    tmp_path: Path,
    clock: ManualClock,
    overrides: dict[str, object],
    caller: Caller,
    channel: ChannelRef,
    text: str,
) -> None:
    cohort = await build(make_config(tmp_path, community={"points": overrides}), clock=clock)
    try:
        await post(cohort, caller, "1", text, channel)
        async with cohort.db.read() as conn:
            assert await conn.scalar(select(func.count()).select_from(points_ledger)) == 0
    finally:
        await cohort.db.close()


async def test_repeating_yourself_earns_nothing(cohort: Cohort, clock: ManualClock) -> None:
    await post(cohort, BOB, "1", "buy my course now")
    first = await balance(cohort, BOB)
    clock.advance(timedelta(minutes=5))
    await post(cohort, BOB, "2", "Buy my  course NOW")
    assert await balance(cohort, BOB) == first


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


# --- commands through the console ------------------------------------------------------------


async def run(console: ConsoleAdapter, *lines: str) -> str:
    """Type ``lines`` into the console and return what it printed."""
    for line in lines:
        await console.handle_line(line)
    return output(console)


async def test_thanks_limits(cohort: Cohort, console: ConsoleAdapter, clock: ManualClock) -> None:
    for name in ("bob", "carol", "dave", "erin", "fay", "gus"):  # people who have spoken before
        await cohort.identity.resolve(
            cohort.communities["demo"].id, Caller(PlatformName.CONSOLE, name, name.title(), name)
        )
    assert "You cannot thank yourself." in await run(console, "/thanks @alice")
    said = await run(console, "/thanks @bob for the notes")
    assert "Alice thanked Bob (+10) — for the notes" in said
    assert "You already thanked Bob recently" in await run(console, "/thanks @bob")
    for name in ("carol", "dave", "erin", "fay"):
        assert "thanked" in await run(console, f"/thanks @{name}")
    assert "You have given all 5 of today's thanks" in await run(console, "/thanks @gus")
    clock.advance(timedelta(hours=12))  # past midnight in Berlin: a new day
    assert "Alice thanked Gus" in await run(console, "/thanks @gus")
    assert "I do not know the member “nobody”" in await run(console, "/thanks @nobody")


async def test_points_commands_through_the_console(cohort: Cohort, console: ConsoleAdapter) -> None:
    await run(console, "/as bob", "I am posting something useful", "/as alice")
    shown = await run(console, "/points @bob")
    assert "== Points of Bob ==" in shown and "`+" in shown and "message" in shown
    assert "+100 points for Bob" in await run(console, '/points give @bob 100 "great answer"')
    assert "-30 points for Bob" in await run(console, "/points take @bob 30 correction")
    board = await run(console, "/leaderboard all")
    assert "1. Bob —" in board
    assert "You:" not in board  # Alice has no points: no line for her
    errors = await run(
        console,
        "/points give @bob 0 zero",
        "/points give @bob -5 minus",
        "/leaderboard year",
        "/leaderboard week 9",
    )
    assert errors.count("amount must be between 1 and 1000000.") == 2
    assert "period must be one of week, month, season, all, not “year”." in errors
    assert "There is no page 9: the leaderboard has 1." in errors


async def test_the_next_page_button(cohort: Cohort, console: ConsoleAdapter) -> None:
    demo = cohort.communities["demo"]
    for n in range(12):
        account = await cohort.identity.resolve(
            demo.id, Caller(PlatformName.CONSOLE, f"m{n}", f"Member{n}")
        )
        await points.award(
            cohort.db, demo, account.member_id, 100 - n, points.Reason.MANUAL, f"r{n}", at=NOW
        )
    first = await run(console, "/leaderboard")
    assert "10. Member9 — 91" in first and "[1] Next page ▶" in first
    second = await run(console, "/press 1")
    assert "11. Member10 — 90" in second and "12. Member11 — 89" in second
    assert "Next page" not in second
    await run(console, "/as bob")
    assert "Only organizers may run /points give." in await run(console, "/points give @alice 5 x")


async def test_a_level_up_is_announced(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    await points.award(cohort.db, demo, bob.member_id, 95, points.Reason.MANUAL, "near", at=NOW)
    await post(cohort, BOB, "1", "this message crosses into level one")
    assert "Bob reached level 1!" in output(console)


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


# --- seasons and export ------------------------------------------------------------------------


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


async def test_export_sends_a_board_as_csv(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    now = clock.now()
    for n, (name, total) in enumerate([("Bob", 30), ("=HYPERLINK()", 30), ("小明", 10)]):
        account = await cohort.identity.resolve(
            demo.id, Caller(PlatformName.CONSOLE, f"u{n}", name)
        )
        await points.award(
            cohort.db, demo, account.member_id, total, points.Reason.MANUAL, f"{n}", at=now
        )
    await run(console, "/as olga")
    said = await run(console, "/points export")
    assert "The leaderboard as CSV: 3 members." in said
    ((name, data),) = console.files.items()
    assert name == "points-demo-all-20261121.csv" and f"[file: {name}," in said
    rows = data.decode("utf-8-sig").splitlines()
    assert rows[0] == "rank,member_id,name,accounts,points"
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "1", "3"]  # ties share a rank
    assert ",'=HYPERLINK()," in rows[2]  # never a formula in a spreadsheet
    assert rows[3].endswith(",小明,console:u2,10")
    errors = await run(console, "/points export season:9")
    assert "There is no season 9 yet: this is season 1." in errors


@pytest.mark.parametrize("period", ["week", "month", "all"])
async def test_export_refuses_a_period_with_a_season_number(
    cohort: Cohort, console: ConsoleAdapter, period: str
) -> None:
    await run(console, "/as olga")
    said = await run(console, f"/points export {period} 1")
    assert f"A season number goes only with the season board, not “{period}”" in said
    assert "/points export season 1" in said
    assert not console.files
    assert "The leaderboard as CSV" in await run(console, "/points export season 1")
    ((name, _data),) = console.files.items()
    assert name == "points-demo-season-1-20261121.csv"


# --- level changes: announcements and reward roles -----------------------------------------------

GUILD = "111111111111111111"
REWARDS = [
    {"level": 1, "title": "Newcomer", "discord_roles": [f"{GUILD}:201"]},
    {"level": 2, "title": "Regular", "discord_roles": [f"{GUILD}:202"]},
]


class RecordingDiscord:
    """Our Platform port on Discord, recording role changes (the adapter is tested apart)."""

    name = PlatformName.DISCORD

    def __init__(self) -> None:
        self.roles: set[tuple[str, str]] = set()
        self.refuse: set[str] = set()

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        if target.role_id in self.refuse:
            raise PlatformError(PlatformErrorReason.FORBIDDEN, "role above the bot's")
        self.roles.add((user_id, f"{target.space_id}:{target.role_id}"))

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        self.roles.discard((user_id, f"{target.space_id}:{target.role_id}"))


@pytest.mark.parametrize(
    ("level", "stack", "keep"),
    [
        (0, True, set()),
        (1, True, {f"{GUILD}:201"}),
        (5, True, {f"{GUILD}:201", f"{GUILD}:202"}),
        (5, False, {f"{GUILD}:202"}),
    ],
)
def test_reward_roles_for_a_level(level: int, stack: bool, keep: set[str]) -> None:
    rewards = tuple(LevelReward(**r) for r in REWARDS)
    held, dropped = roles_for(rewards, level, stack=stack)
    assert held == keep and held | dropped == {f"{GUILD}:201", f"{GUILD}:202"}
    assert not held & dropped


@pytest.mark.parametrize("stack", [True, False])
async def test_reward_roles_follow_the_level_up_and_down(
    tmp_path: Path, clock: ManualClock, stack: bool
) -> None:
    config = make_config(
        tmp_path,
        community={"points": {"level_rewards": REWARDS, "level_rewards_stack": stack}},
    )
    cohort = await build(config, clock=clock)
    discord = RecordingDiscord()
    cohort.platforms[PlatformName.DISCORD] = discord  # type: ignore[assignment]
    cog = points.PointsCog(cohort)
    try:
        demo = cohort.communities["demo"]
        dana = await cohort.identity.resolve(demo.id, Caller(PlatformName.DISCORD, "42", "Dana"))
        now = clock.now()
        await points.award(cohort.db, demo, dana.member_id, 260, points.Reason.ANSWER, "a", at=now)
        assert await cog.settle_levels() == 1
        expected = {("42", f"{GUILD}:201"), ("42", f"{GUILD}:202")}
        assert discord.roles == (expected if stack else {("42", f"{GUILD}:202")})
        assert await cog.settle_levels() == 0  # handled once
        await points.award(cohort.db, demo, dana.member_id, -150, points.Reason.MANUAL, "b", at=now)
        await cog.settle_levels()
        assert discord.roles == {("42", f"{GUILD}:201")}
    finally:
        await cohort.db.close()


async def test_a_refused_role_is_logged_and_the_rest_still_happens(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, community={"points": {"level_rewards": REWARDS}})
    cohort = await build(config, clock=clock)
    discord = RecordingDiscord()
    discord.refuse.add("201")
    cohort.platforms[PlatformName.DISCORD] = discord  # type: ignore[assignment]
    try:
        demo = cohort.communities["demo"]
        dana = await cohort.identity.resolve(demo.id, Caller(PlatformName.DISCORD, "42", "Dana"))
        await points.award(
            cohort.db, demo, dana.member_id, 260, points.Reason.ANSWER, "a", at=clock.now()
        )
        await points.PointsCog(cohort).settle_levels()
        assert discord.roles == {("42", f"{GUILD}:202")}
        assert "reward role 111111111111111111:201 for 42 not changed" in caplog.text
    finally:
        await cohort.db.close()


async def test_a_level_up_from_another_cog_is_announced_after_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(
        tmp_path,
        community={"points": {"level_rewards": REWARDS, "level_up_channels": ["console:news"]}},
    )
    cohort = await build(config, clock=clock)
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    await points.award(cohort.db, demo, bob.member_id, 120, points.Reason.ANSWER, "a", at=NOW)
    await cohort.db.close()  # stopped before the job ran: the change waits in the database

    cohort = await build(config, clock=clock)
    try:
        console = ConsoleAdapter(
            cohort, cohort.communities["demo"], user="alice", out=io.StringIO()
        )
        cohort.platforms[PlatformName.CONSOLE] = console
        (job,) = [j for j in cohort.jobs if j.id == "points.levels"]
        await job.run()
        said = output(console)
        assert "[#news] cohort:" in said
        assert "Bob reached level 1 and is now Newcomer!" in said
        await job.run()
        assert output(console) == ""
    finally:
        await cohort.db.close()


async def test_level_ups_can_go_by_dm_or_nowhere(tmp_path: Path, clock: ManualClock) -> None:
    for mode, where in (("dm", "[#dm-bob] cohort:"), ("off", None)):
        (tmp_path / mode).mkdir()
        config = make_config(tmp_path / mode, community={"points": {"level_up_message": mode}})
        cohort = await build(config, clock=clock)
        try:
            console = ConsoleAdapter(
                cohort, cohort.communities["demo"], user="alice", out=io.StringIO()
            )
            cohort.platforms[PlatformName.CONSOLE] = console
            bob = await cohort.identity.resolve(cohort.communities["demo"].id, BOB)
            await points.award(
                cohort.db,
                cohort.communities["demo"],
                bob.member_id,
                95,
                points.Reason.MANUAL,
                "n",
                at=NOW,
            )
            await post(cohort, BOB, "1", "this message crosses into level one")
            said = output(console)
            if where is None:
                assert "reached level" not in said
            else:
                assert where in said and "Bob reached level 1!" in said
                assert "[#general] cohort:" not in said
        finally:
            await cohort.db.close()


# --- thanks said in a message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "thanks"),
    [
        ("Thanks!", True),
        ("THANK YOU @bob", True),
        ("no thx.", True),
        ("谢谢你的解释", True),
        ("thanksgiving dinner", False),
        ("that is pretty neat", False),  # "ty" inside a word
        ("I think so", False),
    ],
)
def test_what_says_thanks(text: str, thanks: bool) -> None:
    assert says_thanks(text, PointsConfig().thanks_words) is thanks


def test_mentions_in_a_message() -> None:
    text = "thanks <@123456789> and @bob, @bob. and mail a@b.com"
    assert mentions_in(text) == ["<@123456789>", "@bob"]


@given(st.text())
def test_every_found_mention_parses(text: str) -> None:
    for mention in mentions_in(text):
        assert parse_mention(mention).value


async def test_thanks_in_a_reply_gives_kudos_and_a_deleted_message_takes_them_back(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    demo = cohort.communities["demo"]
    dave = Caller(PlatformName.CONSOLE, "dave", "Dave", username="dave")
    await post(cohort, BOB, "10", "here is how you fix the import error")
    start = await balance(cohort, BOB)
    output(console)

    reply = cohort.dispatcher.message_posted(
        demo, CAROL, GENERAL, "11", "thanks a lot!", cohort.clock.now(), reply_to_message_id="10"
    )
    assert await reply
    assert "Carol thanked Bob (+10)" in output(console)
    assert await balance(cohort, BOB) == start + 10

    # Thanking yourself, or past the pair cooldown, gives nothing and says nothing.
    for caller, message_id in ((BOB, "12"), (CAROL, "13")):
        await cohort.dispatcher.message_posted(
            demo, caller, GENERAL, message_id, "thx", cohort.clock.now(), reply_to_message_id="10"
        )
    assert "thanked" not in output(console)
    await post(cohort, dave, "14", "thank you @bob and @nobody")
    assert "Dave thanked Bob (+10)" in output(console)

    await cohort.dispatcher.message_deleted(demo, GENERAL, "10")
    await cohort.dispatcher.message_deleted(demo, GENERAL, "10")  # reported twice
    assert await balance(cohort, BOB) == start + 10  # Carol's kudos taken back once; Dave's stay
    await cohort.dispatcher.message_deleted(demo, GENERAL, "14")
    assert await balance(cohort, BOB) == start
    async with cohort.db.read() as conn:
        reversals = await conn.scalar(
            select(func.count()).where(points_ledger.c.reason == points.Reason.REVERSAL.value)
        )
    assert reversals == 2
    assert await points.rebuild(cohort.db, demo) == []


# --- referrals -----------------------------------------------------------------------------------


async def test_referrals_pay_once_for_new_members_who_stay_or_buy(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    said = await run(console, "/invite")
    assert "Your invite link:" in said and "stays 1 week" in said and "So far: 0 joined" in said
    link = next(word for word in said.split() if word.startswith("console://invite/"))
    old_timer = Caller(PlatformName.CONSOLE, "ollie", "Ollie")
    await cohort.identity.resolve(demo.id, old_timer)  # known long before joining
    clock.advance(timedelta(hours=1))

    def join(caller: Caller, via: str | None = link) -> Awaitable[None]:
        return cohort.dispatcher.member_joined(demo, caller, "console", invite_link=via)

    newcomers = [Caller(PlatformName.CONSOLE, f"new{n}", f"New{n}") for n in range(4)]
    await join(newcomers[0])  # stays a week: pays
    await join(newcomers[0])  # the join reported twice
    await join(newcomers[1])  # leaves after a day: never pays
    await join(newcomers[2])  # buys on day two: pays at once
    await join(newcomers[3], "https://example.invalid/unknown")  # not one of ours
    await join(old_timer)  # not new
    await join(ALICE)  # inviting yourself
    assert "So far: 3 joined, 0 paid off." in await run(console, "/invite")

    cog = points.PointsCog(cohort)
    clock.advance(timedelta(days=1))
    await cohort.dispatcher.member_left(demo, newcomers[1], "console")
    assert await cog.settle_referrals() == 0
    clock.advance(timedelta(days=1))
    buyer = await cohort.identity.resolve(demo.id, newcomers[2])
    async with cohort.db.write() as conn:
        await conn.execute(
            insert(purchases).values(
                community_id=demo.id,
                member_id=buyer.member_id,
                offer_id="course-python",
                source="stripe",
                source_ref="cs_test_1",
                purchased_at=clock.now(),
            )
        )
    assert await cog.settle_referrals() == 1
    clock.advance(timedelta(days=6))
    assert await cog.settle_referrals() == 1
    assert await cog.settle_referrals() == 0
    assert await balance(cohort, ALICE) == 200
    assert "So far: 3 joined, 2 paid off." in await run(console, "/invite")


# --- the leaderboard card ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 10])
def test_the_card_is_a_png_with_a_row_per_member(count: int) -> None:
    rows = [
        points_ledger_ranked(rank, 1000 - rank, name)
        for rank, name in zip(
            range(1, count + 1), ["小明", "Bob " * 40, *(f"M{n}" for n in range(20))], strict=False
        )
    ]
    data = render_card(
        "This week's leaderboard · 1", rows, highlight=rows[0].member_id, font_path=None
    )
    with PILImage.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (720, 84 + 44 * count + 28)


def points_ledger_ranked(rank: int, total: int, name: str) -> Ranked:
    """Return a leaderboard line."""
    return Ranked(rank=rank, member_id=rank, total=total, name=name)
