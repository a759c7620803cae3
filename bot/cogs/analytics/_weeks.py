"""Members active each week, kept over closed days, for the retention page.

Retention asks which cohort members were active in each week since their cohort's. Reading
every cohort member's days for it is what the page cost (a row per member and day, made
distinct per week). Days before today no longer change but by rare events, so each week's
active members on them are kept (``analytics_weeks``) as a bit set (bit ``i`` of the
little-endian integer: member ``i``), made by the first request that needs the week; the
current week's is kept up to yesterday and extended the next day by that day's members. A
kept week stays good while the community's day totals over its kept days (``analytics_days``,
which every message and reaction adds to in the same transaction) add up to those kept beside
it; a merge, an erasure or a rebuild moves or deletes member-day rows, and a trigger then drops
the row's week (migration ``0030_analytics_weeks``). A page then counts a cohort's members
active in a week as the bits its own set and the week's have in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Text, cast, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._pages import fetch, fetch_scalars
from bot.store.db import Database
from bot.store.tables import analytics_days, analytics_member_days, analytics_weeks

COUNTS = ("messages", "thread_messages", "reactions", "active")
Totals = tuple[int, int, int, int]


def joined_ids(conn: AsyncConnection, member_id: ColumnElement[int]) -> ColumnElement[str]:
    """Return an aggregate joining a group's member ids with commas (one text, not a row each)."""
    if conn.dialect.name == "postgresql":
        return func.string_agg(cast(member_id, Text), literal(","))
    return func.group_concat(member_id, literal(","))


def parse_ids(joined: str | None) -> list[int]:
    """Return the member ids an aggregate of ``joined_ids`` made."""
    return [int(i) for i in joined.split(",")] if joined else []


def bits(members: Iterable[int]) -> int:
    """Return a bit set of member ids: bit ``i`` is member ``i``."""
    ids = list(members)
    if not ids:
        return 0
    out = bytearray(max(ids) // 8 + 1)
    for i in ids:
        out[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(out, "little")


def closed_weeks(start: date, end: date, today: date) -> list[tuple[date, date]]:
    """Return the weeks from ``start``'s whose days up to yesterday can be kept for the range.

    Each is (Monday, last day kept): the week's Sunday, or yesterday for the current week. A
    week is left out (with every later one) when its last day kept is after ``end``: the
    range's days after the last one kept are read as member days.
    """
    yesterday = today - timedelta(days=1)
    out = []
    monday = rules.week_of(start)
    while monday <= yesterday and (last := min(monday + timedelta(days=6), yesterday)) <= end:
        out.append((monday, last))
        monday += timedelta(weeks=1)
    return out


async def _day_totals(
    conn: AsyncConnection, community_id: int, first: date, last: date
) -> dict[date, Totals]:
    """Return the community's day totals of each day from ``first`` to ``last`` with any."""
    t = analytics_days.c
    return {
        row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4]))
        for row in await fetch(
            conn,
            select(t.day, *(t[c] for c in COUNTS)).where(
                t.community_id == community_id, t.day >= first, t.day <= last
            ),
        )
    }


def _added(days: dict[date, Totals], first: date, last: date) -> Totals:
    """Return the day totals from ``first`` to ``last`` added up."""
    sums = [0, 0, 0, 0]
    for day, row in days.items():
        if first <= day <= last:
            for n, value in enumerate(row):
                sums[n] += value
    return (sums[0], sums[1], sums[2], sums[3])


async def _members(conn: AsyncConnection, community_id: int, first: date, last: date) -> int:
    """Return the members with a member-day row from ``first`` to ``last``, as a bit set.

    Read a day at a time, each day's members joined into one text by the database.
    """
    d = analytics_member_days.c
    return bits(
        i
        for text in await fetch_scalars(
            conn,
            select(joined_ids(conn, d.member_id))
            .where(d.community_id == community_id, d.day >= first, d.day <= last)
            .group_by(d.day),
        )
        for i in parse_ids(text)
    )


async def keep(
    db: Database, community_id: int, weeks: Sequence[tuple[date, date]]
) -> list[tuple[date, date, int]]:
    """Return each week's members active up to its last day kept, keeping what was not kept.

    A week kept up to an earlier day (yesterday's current week), whose day totals up to there
    are unchanged, is extended by the members of the days since; any other week not kept as
    asked is made from its member days.
    """
    if not weeks:
        return []
    w = analytics_weeks.c
    first, last = weeks[0][0], weeks[-1][1]
    async with db.read() as conn:
        days = await _day_totals(conn, community_id, first, last)
        kept = {
            int(row[0]): row[1:]
            for row in await fetch(
                conn,
                select(w.week_ordinal, w.last_ordinal, *(w[c] for c in COUNTS), w.members).where(
                    w.community_id == community_id,
                    w.week_ordinal >= first.toordinal(),
                    w.week_ordinal <= weeks[-1][0].toordinal(),
                ),
            )
        }
    out: dict[date, int] = {}
    for monday, end in weeks:
        row = kept.get(monday.toordinal())
        if (
            row is not None
            and row[0] == end.toordinal()
            and tuple(row[1:5]) == _added(days, monday, end)
        ):
            out[monday] = int.from_bytes(row[5], "little")
    stale = [(monday, end) for monday, end in weeks if monday not in out]
    if not stale:
        return [(monday, end, out[monday]) for monday, end in weeks]
    try:
        async with db.write() as conn:
            # The totals first: a message landing meanwhile makes them disagree with the
            # members the next time, never agree with members that miss it.
            days = await _day_totals(conn, community_id, stale[0][0], stale[-1][1])
            made = []
            for monday, end in stale:
                row = kept.get(monday.toordinal())
                since = monday
                members = 0
                if row is not None and row[0] < end.toordinal():
                    before = date.fromordinal(int(row[0]))
                    if tuple(row[1:5]) == _added(days, monday, before):
                        since = before + timedelta(days=1)
                        members = int.from_bytes(row[5], "little")
                out[monday] = members | await _members(conn, community_id, since, end)
                made.append(
                    {
                        "community_id": community_id,
                        "week_ordinal": monday.toordinal(),
                        "last_ordinal": end.toordinal(),
                        **dict(zip(COUNTS, _added(days, monday, end), strict=True)),
                        "members": out[monday].to_bytes(
                            (out[monday].bit_length() + 7) // 8, "little"
                        ),
                    }
                )
            await conn.execute(
                delete(analytics_weeks).where(
                    w.community_id == community_id,
                    w.week_ordinal.in_([monday.toordinal() for monday, _ in stale]),
                )
            )
            await conn.execute(insert(analytics_weeks), made)
    except IntegrityError:
        pass  # another process made the same weeks at the same moment; ours are as good
    return [(monday, end, out[monday]) for monday, end in weeks]
