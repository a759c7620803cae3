"""Steady members counted by index equal the plain computation, over random communities.

Each seed makes a community in New York (west of UTC; the range crosses the end of daylight
saving time) whose members are present all the range, joined in it, left in it, left today,
gone before it, have no stay or no totals row at all, some without an account; with days
before the range, in it and today, and Q&A answers, accepted answers, lectures and kudos in
and out of the range. The engagement page and the members list by engagement, read with the
range of closed days kept (and stays changed after it was kept), must equal a computation in
Python from what was written, and the database's computation with nothing kept.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from bot.cogs import analytics
from bot.cogs.analytics import Engagement, MemberSort, Segment
from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _revenue as revenue_of
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _service as service_module
from bot.cogs.analytics import _top as top
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.store.tables import (
    accounts,
    analytics_member_days,
    analytics_member_totals,
    lecture_attendance,
    lecture_occurrences,
    lectures,
    members,
    points_ledger,
    purchases,
    qa_answers,
    qa_questions,
)
from tests._sql import queries, statements
from tests.cogs.analytics.world import BO, END, MONEY_START, NY, members_over_rows, ny

TODAY = date(2026, 11, 3)
START = date(2026, 10, 18)  # the clocks went back on 2026-11-01
KEPT = TODAY - timedelta(days=1)
NOW = ny(2026, 11, 3, 15)
KINDS = ("steady", "joined", "left", "left today", "gone", "no stay", "no totals")


@dataclass
class Written:
    """What a seed wrote, to compute the pages from in Python."""

    stays: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)  # members with an account
    counts: Counter[int] = field(default_factory=Counter)  # messages + reactions in the range
    extras: Counter[int] = field(default_factory=Counter)  # answers, accepted, lectures, kudos


def instant(rng: random.Random) -> datetime:
    """Return a random instant from three days before the range to a day after it."""
    first = ny(START.year, START.month, START.day, 0) - timedelta(days=3)
    return first + timedelta(minutes=rng.randrange(0, (TODAY - START).days + 5) * 1440)


async def write(bot: Cohort, seed: int) -> Written:
    """Write a random community's members, days and extras; return what went in."""
    rng = random.Random(seed)
    cid = bot.communities["demo"].id
    since, until = rules.window(START, TODAY, NY)
    found = Written()
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
        occurrences = []
        for n in range(3):
            at = NOW - timedelta(days=7 * n + 1)
            result = await conn.execute(
                insert(lecture_occurrences).values(
                    community_id=cid,
                    lecture_id=lecture.inserted_primary_key[0],  # type: ignore[index]
                    original_start=at,
                    start_at=at,
                    duration_s=3600,
                    title="Talk",
                    status="scheduled",
                    checkin_code=f"CODE{n}",
                    announce_at=at,
                    scheduled_at=at,
                )
            )
            occurrences.append(result.inserted_primary_key[0])  # type: ignore[index]
        ids: list[int] = []
        for n in range(rng.randrange(25, 45)):
            result = await conn.execute(insert(members).values(community_id=cid, created_at=NOW))
            member_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            ids.append(member_id)
            if rng.random() < 0.9:
                found.held.add(member_id)
                await conn.execute(
                    insert(accounts).values(
                        community_id=cid,
                        member_id=member_id,
                        platform=rng.choice(["discord", "telegram"]),
                        platform_user_id=f"u{n}",
                        display_name=f"User {n}",
                        created_at=NOW,
                        last_seen_at=NOW,
                    )
                )
            kind = rng.choices(KINDS, weights=(6, 1, 1, 1, 1, 1, 1))[0]
            if kind == "no totals":
                continue
            first = START.toordinal()
            joined: int | None = first - rng.randrange(0, 40)
            left: int | None = None
            if kind == "joined":
                joined = rng.randrange(first + 1, TODAY.toordinal() + 1)
            elif kind == "left":
                left = rng.randrange(max(joined or first, first), TODAY.toordinal())
            elif kind == "left today":
                left = TODAY.toordinal()
            elif kind == "gone":
                left = first - rng.randrange(1, 5)
                joined = min(joined or left, left)
            elif kind == "no stay":
                joined = None
            found.stays[member_id] = (joined, left)
            await conn.execute(
                insert(analytics_member_totals).values(
                    community_id=cid,
                    member_id=member_id,
                    joined_ordinal=joined,
                    left_ordinal=left,
                )
            )
        for member_id in ids:
            # Small counts, so that many members tie on their totals and scores.
            rate = rng.choice([0.0, 0.03, 0.06, 0.25])
            for day in rules.days(START - timedelta(days=3), TODAY):
                if rng.random() < rate:
                    messages = rng.randrange(0, 4)
                    reactions = rng.randrange(0 if messages else 1, 3)
                    await conn.execute(
                        insert(analytics_member_days).values(
                            community_id=cid,
                            member_id=member_id,
                            day=day,
                            messages=messages,
                            thread_messages=rng.randrange(0, messages + 1),
                            reactions=reactions,
                        )
                    )
                    if day >= START:
                        found.counts[member_id] += messages + reactions
        for n in range(rng.randrange(0, 12)):
            author, asker = rng.choice(ids), rng.choice(ids)
            posted, solved = instant(rng), instant(rng)
            question = await conn.execute(
                insert(qa_questions).values(
                    community_id=cid,
                    asker_id=asker,
                    platform="discord",
                    channel_id="help",
                    thread_id=f"t{n}",
                    title="?",
                    body="…",
                    state="solved",
                    created_at=posted,
                    active_at=posted,
                    solved_at=solved,
                )
            )
            deleted = rng.random() < 0.2
            answer = await conn.execute(
                insert(qa_answers).values(
                    community_id=cid,
                    question_id=question.inserted_primary_key[0],  # type: ignore[index]
                    author_id=author,
                    platform="discord",
                    channel_id="help",
                    message_id=f"a{n}",
                    text="…",
                    posted_at=posted,
                    deleted_at=NOW if deleted else None,
                )
            )
            found.extras[author] += since <= posted < until and not deleted
            if rng.random() < 0.5:
                await conn.execute(
                    update(qa_questions)
                    .where(qa_questions.c.id == question.inserted_primary_key[0])  # type: ignore[index]
                    .values(accepted_answer_id=answer.inserted_primary_key[0])  # type: ignore[index]
                )
                found.extras[author] += since <= solved < until
        for occurrence in occurrences:
            for member_id in rng.sample(ids, rng.randrange(0, 6)):
                at = instant(rng)
                await conn.execute(
                    insert(lecture_attendance).values(
                        community_id=cid,
                        occurrence_id=occurrence,
                        member_id=member_id,
                        method="code",
                        at=at,
                    )
                )
                found.extras[member_id] += since <= at < until
        for n in range(rng.randrange(0, 10)):
            member_id, at, delta = rng.choice(ids), instant(rng), rng.choice([5, 5, -5])
            await conn.execute(
                insert(points_ledger).values(
                    community_id=cid,
                    member_id=member_id,
                    delta=delta,
                    reason="kudos",
                    source_ref=f"kudos:{n}",
                    created_at=at,
                )
            )
            found.extras[member_id] += since <= at < until and delta > 0
    return found


async def change_stays(bot: Cohort, found: Written, seed: int) -> None:
    """Let a few members leave today, come back, or join earlier, after the range was kept."""
    rng = random.Random(seed + 1000)
    cid = bot.communities["demo"].id
    t = analytics_member_totals.c
    async with bot.db.write() as conn:
        for member_id in rng.sample(sorted(found.stays), min(4, len(found.stays))):
            joined, left = found.stays[member_id]
            move = rng.choice(["leave today", "return", "joined earlier"])
            if move == "leave today":
                left = TODAY.toordinal()
            elif move == "return":
                left = None
            else:
                joined = START.toordinal() - 1
            found.stays[member_id] = (joined, left)
            await conn.execute(
                update(analytics_member_totals)
                .where(t.community_id == cid, t.member_id == member_id)
                .values(joined_ordinal=joined, left_ordinal=left)
            )


def expected_scores(found: Written) -> dict[int, tuple[float, int, int]]:
    """Return the score, days present and I + D + C of every member present, from Python."""
    scores = {}
    for member_id, (joined, left) in found.stays.items():
        if joined is None:
            continue
        days = rules.days_present(
            date.fromordinal(joined),
            None if left is None else date.fromordinal(left),
            START,
            TODAY,
        )
        if days > 0:
            total = found.counts[member_id] + found.extras[member_id]
            scores[member_id] = (rules.score(total, 0, 0, days), days, total)
    return scores


async def prepared(bot: Cohort, clock: ManualClock, seed: int) -> Written:
    """Write a seed's community, keep its range of closed days, then change a few stays."""
    clock.advance(NOW - clock.now())
    found = await write(bot, seed)
    await analytics.service_of(bot).engagement(bot.communities["demo"].id, START, TODAY, NY)
    await change_stays(bot, found, seed)
    return found


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_engagement_page_equals_the_plain_computation(
    cohort: Cohort, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    shown = (10, 3, 1)[seed % 3]  # few shown: the walks stop inside a run of tied totals
    monkeypatch.setattr(service_module, "TOP", shown)
    found = await prepared(cohort, clock, seed)
    svc = analytics.service_of(cohort)
    cid = cohort.communities["demo"].id
    page = await svc.engagement(cid, START, TODAY, NY)
    scores = expected_scores(found)
    assert page.members == len(scores)
    sums: Counter[int] = Counter()
    for _, days, total in scores.values():
        sums[days] += total
    assert page.mean_score == rules.mean_score(sums, len(scores))
    buckets = Counter(rules.bucket_index(score) for score, _, _ in scores.values())
    assert [b.members for b in page.distribution] == [
        buckets[n] for n in range(len(rules.SCORE_EDGES))
    ]
    ordered = sorted(scores, key=lambda m: (-scores[m][0], m))
    assert [m.member_id for m in page.most_engaged] == ordered[:shown]
    least = sorted(scores, key=lambda m: (scores[m][0], -m))
    assert [m.member_id for m in page.least_engaged] == least[:shown]
    assert [(m.score, m.days) for m in page.most_engaged] == [
        scores[m][:2] for m in ordered[:shown]
    ]
    plain = await _plain(svc, cid, monkeypatch)
    assert page == plain


async def _plain(svc: analytics.Analytics, cid: int, monkeypatch: pytest.MonkeyPatch) -> Engagement:
    """Return the engagement page computed with nothing kept."""
    with monkeypatch.context() as patch:

        async def nothing_kept(*_args: object) -> date | None:
            return None

        patch.setattr(analytics.Analytics, "_keep_closed_days", nothing_kept)
        return await svc.engagement(cid, START, TODAY, NY)


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_members_list_by_engagement_equals_the_list_over_every_member(
    cohort: Cohort, clock: ManualClock, seed: int
) -> None:
    found = await prepared(cohort, clock, seed)
    cid = cohort.communities["demo"].id
    scores = expected_scores(found)
    # Members with an account, by score (0 for those absent, with no stay or no totals row).
    ordered = sorted(found.held, key=lambda m: (-scores.get(m, (0.0,))[0], m))
    since, until = rules.window(START, TODAY, NY)
    async with cohort.db.read() as conn:
        for offset, limit in ((0, 50), (0, 1), (0, 5), (3, 4), (10, 7), (len(ordered) - 2, 5)):
            fast = await top.listing(
                conn,
                cid,
                START,
                TODAY,
                since,
                until,
                kept=KEPT,
                sort=MemberSort.ENGAGEMENT,
                segment=Segment.ALL,
                paying=set(),
                offset=offset,
                limit=limit,
            )
            assert [r.member_id for r, _, _ in fast.rows] == ordered[offset : offset + limit]
            slow = await ranked.listing(
                conn,
                cid,
                ranked.scoring(cid, START, TODAY, since, until, kept=KEPT),
                start=START,
                end=TODAY,
                sort=MemberSort.ENGAGEMENT,
                segment=Segment.ALL,
                paying=set(),
                offset=offset,
                limit=limit,
            )
            assert fast == slow, (offset, limit)


async def test_the_paying_members_are_found_once_while_the_ledger_is_kept(
    world: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paying share follows a refund at once; unchanged, the paying set is not found again."""
    cid = world.communities["demo"].id
    svc = analytics.service_of(world)
    before = await svc.engagement(cid, MONEY_START, END, NY)
    found: list[int] = []
    paying_members = revenue_of.paying_members

    def counted(*args: Any) -> set[int]:
        found.append(1)
        return paying_members(*args)

    monkeypatch.setattr(revenue_of, "paying_members", counted)
    assert await svc.engagement(cid, MONEY_START, END, NY) == before
    await svc.members(cid, MONEY_START, END, NY)
    assert found == []
    async with world.db.write() as conn:  # bo's yearly invoice and his course refunded
        await conn.execute(
            update(purchases)
            .where(purchases.c.member_id == await member_of(world, BO))
            .values(refunded_at=NOW)
        )
    after = await svc.engagement(cid, MONEY_START, END, NY)
    assert found == [1]
    assert after.paying_share != before.paying_share
    uncached = analytics.Analytics(world.db, world.clock)
    assert after.paying_share == (await uncached.engagement(cid, MONEY_START, END, NY)).paying_share


async def test_the_paying_segment_is_cut_in_sql_with_the_members_as_one_parameter(
    world: Cohort,
) -> None:
    cid = world.communities["demo"].id
    svc = analytics.service_of(world)
    await svc.members(cid, MONEY_START, END, NY)
    with statements(world.db) as seen:
        page = await svc.members(cid, MONEY_START, END, NY, segment=Segment.PAYING)
    python = await members_over_rows(world, MONEY_START, END, NY, segment=Segment.PAYING)
    assert page == python
    assert [r.name for r in page.rows]
    listed = [sql for sql in queries(seen) if "points_balances" in sql]
    assert len(listed) == 1
    assert "json_each(" in listed[0] or "unnest(" in listed[0]


async def member_of(bot: Cohort, who: Caller) -> int:
    """Return the member id of a caller."""
    return (await bot.identity.resolve(bot.communities["demo"].id, who)).member_id


async def test_the_steady_members_are_counted_per_total_not_scored(world: Cohort) -> None:
    """With a range kept, only partial stays and moving members are scored, row by row."""
    cid = world.communities["demo"].id
    svc = analytics.service_of(world)
    await svc.engagement(cid, MONEY_START, END, NY)
    with statements(world.db) as seen:
        await svc.engagement(cid, MONEY_START, END, NY)
    read = [" ".join(sql.split()) for sql in queries(seen)]
    scored = [sql for sql in read if "present_scores" in sql]
    assert len(scored) == 1
    assert "analytics_range_members.steady_total IS NULL" in scored[0]
    assert any("GROUP BY analytics_range_members.steady_total" in sql for sql in read)
