"""A search over a range reaching now, read from the kept range, equals the plain computation.

Each seed plays a random community in New York (west of UTC; the range crosses the end of
daylight saving time) through the dispatcher: members present all the range, joined in it,
joined today, left in it, left today, gone before it, quiet ones, one with a second account
linked; messages and thread replies before the range, in it and today (some after the range of
closed days was kept, and a late one on a closed day), reactions today; then Q&A answers,
accepted answers, lectures and kudos in and out of the range. Searches (pieces of the names in
any case), sorts, segments and cuts drawn by hypothesis must give the page that the plain
computation over every member's presence and days gives, on both backends.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from bot.cogs import analytics
from bot.cogs.analytics import MemberSort, Segment
from bot.cogs.analytics import _people as people
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.tables import (
    lecture_attendance,
    lecture_occurrences,
    lectures,
    points_ledger,
    qa_answers,
    qa_questions,
)
from tests._sql import statements
from tests.cogs.analytics.world import NY, folded, members_over_rows, ny

TODAY = date(2026, 11, 3)
START = date(2026, 10, 21)  # the clocks went back on 2026-11-01
KEPT_AT = ny(2026, 11, 3, 9)  # the range of closed days is kept then; later events move it on
NOW = ny(2026, 11, 3, 22)
KINDS = ("steady", "steady", "joined", "joined today", "left", "left today", "gone", "quiet")
NAMES = ["user42", "User421", "user4", "Ana", "ana_42", "Straße", "小明", "bo", "Bö 42"]
CHANNEL = {
    PlatformName.DISCORD: ChannelRef(PlatformName.DISCORD, "general"),
    PlatformName.TELEGRAM: ChannelRef(PlatformName.TELEGRAM, "-1001234567890"),
}
THREAD = {
    PlatformName.DISCORD: ChannelRef(PlatformName.DISCORD, "general", "thread-1"),
    PlatformName.TELEGRAM: ChannelRef(PlatformName.TELEGRAM, "-1001234567890", "7"),
}
Event = tuple[datetime, str, Caller]


def on(rng: random.Random, day: date, first_hour: int = 0, last_hour: int = 23) -> datetime:
    """Return a random instant of a New York day, between two hours."""
    hour = rng.randrange(first_hour, last_hour + 1)
    return ny(day.year, day.month, day.day, hour, rng.randrange(0, 60))


def member_events(rng: random.Random, caller: Caller, kind: str) -> list[Event]:
    """Return one member's joins, leaves, messages and reactions."""
    joined = START - timedelta(days=rng.randrange(1, 6))
    if kind == "joined":
        joined = START + timedelta(days=rng.randrange(1, (TODAY - START).days))
    elif kind == "joined today":
        joined = TODAY
    gone: date | None = None
    if kind == "left":
        gone = START + timedelta(days=rng.randrange(0, (TODAY - START).days))
        joined = min(joined, gone - timedelta(days=1))
    elif kind == "left today":
        gone = TODAY
    elif kind == "gone":
        gone = START - timedelta(days=1)
        joined = gone - timedelta(days=3)
    # Today's joins come after the range of closed days was kept; leaves come last in a day.
    first_hour, last_hour = (10, 12) if joined == TODAY else (0, 8)
    found: list[Event] = [(on(rng, joined, first_hour, last_hour), "join", caller)]
    if gone is not None:
        found.append((on(rng, gone, 20, 21), "leave", caller))
    if kind == "quiet":
        return found
    rate = rng.choice([0.1, 0.3, 0.8])
    day = max(START - timedelta(days=3), joined)
    while day <= (gone or TODAY):
        if rng.random() < rate:
            what = rng.choice(["message", "message", "thread"])
            found.append((on(rng, day, last_hour + 1 if day == joined else 0, 19), what, caller))
        day += timedelta(days=1)
    if (gone is None or gone == TODAY) and rng.random() < 0.4:
        found.append((on(rng, TODAY, 10, 19), "react", caller))
    return found


def community(seed: int) -> tuple[list[Event], list[Caller]]:
    """Return a random community's events in time order (joins first) and its callers."""
    rng = random.Random(seed)
    callers: list[Caller] = []
    found: list[Event] = []
    for n in range(rng.randrange(12, 20)):
        platform = rng.choice([PlatformName.DISCORD, PlatformName.TELEGRAM])
        name = rng.choice(NAMES) + rng.choice(["", "", f" {n}"])
        username = rng.choice([None, f"u{n}_42", f"member{n}"])
        caller = Caller(platform, str(5000 + n), name, username=username)
        callers.append(caller)
        found += member_events(rng, caller, KINDS[(seed + n) % len(KINDS)])
    found.sort(key=lambda e: (e[0], e[1] != "join"))
    return found, callers


async def play(bot: Cohort, clock: ManualClock, found: list[Event]) -> None:
    """Feed ``found`` to the bot as the adapters would, moving the clock along."""
    demo = bot.communities["demo"]
    space = {
        PlatformName.DISCORD: demo.config.discord_guilds[0],
        PlatformName.TELEGRAM: demo.config.telegram_chats[0],
    }
    dispatcher = bot.dispatcher
    for n, (at, what, who) in enumerate(found):
        clock.advance(max(timedelta(0), at - clock.now()))
        if what == "join":
            await dispatcher.member_joined(demo, who, space[who.platform])
        elif what == "leave":
            await dispatcher.member_left(demo, who, space[who.platform])
        elif what == "react":
            await dispatcher.reaction_changed(
                demo, who, CHANNEL[who.platform], "m0", "👍", added=True
            )
        else:
            where = THREAD if what == "thread" else CHANNEL
            posted = await dispatcher.message_posted(
                demo, who, where[who.platform], f"m{n}-{at.timestamp()}", f"hello {n}", at
            )
            assert posted


async def link(bot: Cohort, clock: ManualClock, callers: list[Caller]) -> None:
    """Give the first member a second account, on the other platform, and link the two."""
    demo = bot.communities["demo"]
    first = callers[0]
    other = (
        PlatformName.TELEGRAM if first.platform is PlatformName.DISCORD else PlatformName.DISCORD
    )
    second = Caller(other, "6000", f"{first.display_name} too", username="linked_42")
    space = (
        demo.config.telegram_chats[0]
        if other is PlatformName.TELEGRAM
        else demo.config.discord_guilds[0]
    )
    await bot.dispatcher.member_joined(demo, second, space)
    mine = await bot.identity.resolve(demo.id, first)
    code = await bot.identity.create_link_code(mine)
    theirs = await bot.identity.resolve(demo.id, second)
    await bot.identity.redeem_link_code(theirs, code.code)


async def extras(bot: Cohort, seed: int) -> None:
    """Write Q&A answers, accepted answers, lectures attended and kudos, in and out of range."""
    rng = random.Random(seed + 1000)
    cid = bot.communities["demo"].id
    ids = sorted({(await bot.identity.resolve(cid, c)).member_id for c in community(seed)[1]})

    def instant() -> datetime:
        return on(rng, START + timedelta(days=rng.randrange(-3, (TODAY - START).days + 1)), 0, 19)

    async with bot.db.write() as conn:
        lecture = await conn.execute(
            insert(lectures).values(
                community_id=cid,
                title="Talk",
                timezone="America/New_York",
                start_at=NOW,
                duration_s=3600,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        occurrence = await conn.execute(
            insert(lecture_occurrences).values(
                community_id=cid,
                lecture_id=lecture.inserted_primary_key[0],  # type: ignore[index]
                original_start=NOW,
                start_at=NOW,
                duration_s=3600,
                title="Talk",
                status="scheduled",
                checkin_code="CODE1",
                announce_at=NOW,
                scheduled_at=NOW,
            )
        )
        for member_id in rng.sample(ids, rng.randrange(0, 5)):
            await conn.execute(
                insert(lecture_attendance).values(
                    community_id=cid,
                    occurrence_id=occurrence.inserted_primary_key[0],  # type: ignore[index]
                    member_id=member_id,
                    method="code",
                    at=instant(),
                )
            )
        for n in range(rng.randrange(0, 6)):
            posted = instant()
            question = await conn.execute(
                insert(qa_questions).values(
                    community_id=cid,
                    asker_id=rng.choice(ids),
                    platform="discord",
                    channel_id="help",
                    thread_id=f"t{n}",
                    title="?",
                    body="…",
                    state="solved",
                    created_at=posted,
                    active_at=posted,
                    solved_at=instant(),
                )
            )
            answer = await conn.execute(
                insert(qa_answers).values(
                    community_id=cid,
                    question_id=question.inserted_primary_key[0],  # type: ignore[index]
                    author_id=rng.choice(ids),
                    platform="discord",
                    channel_id="help",
                    message_id=f"a{n}",
                    text="…",
                    posted_at=posted,
                )
            )
            if rng.random() < 0.5:
                await conn.execute(
                    qa_questions.update()
                    .where(qa_questions.c.id == question.inserted_primary_key[0])  # type: ignore[index]
                    .values(accepted_answer_id=answer.inserted_primary_key[0])  # type: ignore[index]
                )
        for n in range(rng.randrange(0, 5)):
            await conn.execute(
                insert(points_ledger).values(
                    community_id=cid,
                    member_id=rng.choice(ids),
                    delta=5,
                    reason="kudos",
                    source_ref=f"kudos:{n}",
                    created_at=instant(),
                )
            )


@pytest.fixture
async def played(cohort: Cohort, clock: ManualClock, seed: int) -> AsyncIterator[list[str]]:
    """Play a seed's community, keeping the range of closed days mid-way; return its names."""
    found, callers = community(seed)
    await play(cohort, clock, [e for e in found if e[0] < KEPT_AT])
    await link(cohort, clock, callers)
    clock.advance(KEPT_AT - clock.now())
    svc = analytics.service_of(cohort)
    cid = cohort.communities["demo"].id
    await svc.members(cid, START, TODAY, NY, search="a")  # keeps the range of closed days
    later = [e for e in found if e[0] >= KEPT_AT]
    rng = random.Random(seed)
    late = (on(rng, TODAY - timedelta(days=2)), "message", rng.choice(callers[1:]))
    await play(cohort, clock, later)
    clock.advance(NOW - clock.now())
    if seed % 2:  # a late message on a closed day: the kept range is made again
        await play(cohort, clock, [late])
    await extras(cohort, seed)
    await folded(cohort)  # as the bot's fold does shortly after: the search reads no messages
    names = [c.display_name for c in callers] + [c.username or "" for c in callers]
    yield [n for n in names if n]


def searches(names: list[str]) -> st.SearchStrategy[str]:
    """Return typed searches: a piece of a name in some case, or a few awkward characters."""

    @st.composite
    def piece(draw: st.DrawFn) -> str:
        name = draw(st.sampled_from(names))
        start = draw(st.integers(0, max(0, len(name) - 1)))
        cut = name[start : start + draw(st.integers(1, 6))]
        return draw(st.sampled_from([cut, cut.upper(), cut.casefold(), f" {cut} "]))

    return st.one_of(piece(), st.text(alphabet="aß_4 2U", min_size=1, max_size=3))


@pytest.mark.parametrize("seed", range(4))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_search_from_the_kept_range_equals_the_plain_computation(
    cohort: Cohort, played: list[str], seed: int, data: st.DataObject
) -> None:
    search = data.draw(searches(played), label="search")
    sort = data.draw(st.sampled_from(MemberSort), label="sort")
    segment = data.draw(st.sampled_from(Segment), label="segment")
    offset = data.draw(st.integers(0, 4), label="offset")
    limit = data.draw(st.sampled_from([1, 3, 50]), label="limit")
    svc = analytics.service_of(cohort)
    cid = cohort.communities["demo"].id
    with statements(cohort.db) as seen:
        page = await svc.members(
            cid,
            START,
            TODAY,
            NY,
            search=search,
            sort=sort,
            segment=segment,
            offset=offset,
            limit=limit,
        )
    plain = await members_over_rows(
        cohort,
        START,
        TODAY,
        NY,
        search=search,
        sort=sort,
        segment=segment,
        offset=offset,
        limit=limit,
    )
    assert page == plain
    if search.strip():
        # Read from the kept range, not from the presence and every day of the range.
        assert not [sql for sql in seen if "analytics_presence" in sql]


@pytest.mark.parametrize("seed", [0, 1])
async def test_the_seeds_hold_every_kind_of_member(
    cohort: Cohort, played: list[str], seed: int
) -> None:
    """The community played has members of each kind the search must read alike."""
    plain = await members_over_rows(cohort, START, TODAY, NY, limit=200)
    rows = plain.rows
    assert any(r.left is not None and START <= r.left < TODAY for r in rows)  # left in range
    assert any(r.left == TODAY for r in rows)  # left today
    assert any(r.joined == TODAY for r in rows)  # joined today
    assert any(r.joined is not None and START < r.joined < TODAY for r in rows)  # mid-range
    assert any(r.left is not None and r.left < START for r in rows)  # gone before the range
    assert any(len(r.platforms) > 1 for r in rows)  # linked
    assert any(r.score > 0 for r in rows) and any(r.score == 0 for r in rows)


@pytest.mark.parametrize("seed", [2])
@pytest.mark.parametrize("search", ["a", "42", "U", "ß"])
async def test_more_matches_than_a_list_holds_read_every_members_kept_row(
    cohort: Cohort,
    played: list[str],
    seed: int,
    search: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(people, "IN_LIMIT", 1)
    cid = cohort.communities["demo"].id
    for sort in MemberSort:
        page = await analytics.service_of(cohort).members(
            cid, START, TODAY, NY, search=search, sort=sort
        )
        assert page == await members_over_rows(cohort, START, TODAY, NY, search=search, sort=sort)


@pytest.mark.parametrize("seed", [3])
@pytest.mark.parametrize(
    "first",
    [TODAY, TODAY - timedelta(days=1)],  # nothing kept (today alone); one closed day kept
)
async def test_a_search_over_the_last_day_or_two_equals_the_plain_computation(
    cohort: Cohort, played: list[str], seed: int, first: date
) -> None:
    cid = cohort.communities["demo"].id
    svc = analytics.service_of(cohort)
    for search in ["a", "42", "U", "user4"]:
        for segment in Segment:
            page = await svc.members(cid, first, TODAY, NY, search=search, segment=segment)
            plain = await members_over_rows(
                cohort, first, TODAY, NY, search=search, segment=segment
            )
            assert page == plain, (search, segment)
