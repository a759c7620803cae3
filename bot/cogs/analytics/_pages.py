"""Queries and row shaping the analytics pages share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Executable, Row, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import GrowthDay, Money
from bot.store.tables import (
    accounts,
    analytics_days,
    analytics_hours,
    analytics_member_days,
    analytics_member_totals,
    analytics_presence,
)


@dataclass(frozen=True, slots=True)
class Presence:
    """An account's stay in the community."""

    member_id: int
    platform: str
    joined_at: datetime
    left_at: datetime | None


async def fetch(conn: AsyncConnection, statement: Executable) -> Sequence[Row[Any]]:
    """Run a query and take all its rows in one call (not a round trip to the driver a row)."""
    return (await conn.execute(statement)).all()


async def fetch_scalars(conn: AsyncConnection, statement: Executable) -> Sequence[Any]:
    """Run a query and take the first column of all its rows in one call."""
    return (await conn.scalars(statement)).all()


def money(currency: str, amount: int) -> Money:
    """Return an amount of a currency."""
    return Money(currency, amount)


async def presence(
    conn: AsyncConnection,
    community_id: int,
    until: datetime,
    *,
    members: Sequence[int] | None = None,
) -> list[Presence]:
    """Return the accounts that joined before ``until``: all, or only those of ``members``."""
    p = analytics_presence.c
    query = select(p.member_id, p.platform, p.joined_at, p.left_at).where(
        p.community_id == community_id, p.joined_at < until
    )
    if members is not None:
        query = query.where(p.member_id.in_(members))
    rows = await fetch(conn, query)
    return [Presence(r.member_id, r.platform, r.joined_at, r.left_at) for r in rows]


async def present_members(conn: AsyncConnection, community_id: int, at: datetime) -> set[int]:
    """Return the members with an account present at ``at``."""
    p = analytics_presence.c
    found = await fetch_scalars(
        conn,
        select(p.member_id).where(p.community_id == community_id, _present_at(at)).distinct(),
    )
    return {int(m) for m in found}


@dataclass(frozen=True, slots=True)
class GrowthRows:
    """What growth reads: stays of members who came or went in the range, counts of the rest."""

    moved: list[Presence]  # every account of a member who joined or left in the range
    platforms: tuple[str, ...]
    base_platform: dict[str, int]  # accounts of other members present at the range's start
    base_members: int  # other members present at the range's start
    members_total: int  # present at the range's end
    linked_members: int  # of those, with present accounts on two or more platforms


def _present_at(at: datetime) -> ColumnElement[bool]:
    p = analytics_presence.c
    return and_(p.joined_at < at, or_(p.left_at.is_(None), p.left_at >= at))


async def growth_rows(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> GrowthRows:
    """Read only the stays that change within ``[since, until)``; count the others in SQL."""
    p = analytics_presence.c
    mine = p.community_id == community_id
    moved_ids = select(p.member_id).where(
        mine,
        or_(
            and_(p.joined_at >= since, p.joined_at < until),
            and_(p.left_at >= since, p.left_at < until),
        ),
    )
    moved = [
        Presence(r.member_id, r.platform, r.joined_at, r.left_at)
        for r in await fetch(
            conn,
            select(p.member_id, p.platform, p.joined_at, p.left_at).where(
                mine, p.member_id.in_(moved_ids), p.joined_at < until
            ),
        )
    ]
    steady = and_(mine, _present_at(since), p.member_id.not_in(moved_ids))
    base_platform = {
        str(platform): int(n)
        for platform, n in await fetch(
            conn, select(p.platform, func.count()).where(steady).group_by(p.platform)
        )
    }
    base_members = int(
        await conn.scalar(select(func.count(func.distinct(p.member_id))).where(steady)) or 0
    )
    platforms = tuple(
        sorted(str(x) for x in await fetch_scalars(conn, select(p.platform).where(mine).distinct()))
    )
    present = (
        select(p.member_id, func.count(func.distinct(p.platform)).label("n"))
        .where(mine, _present_at(until))
        .group_by(p.member_id)
        .subquery()
    )
    total, linked = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(case((present.c.n > 1, 1), else_=0)), 0))
        )
    ).one()
    return GrowthRows(moved, platforms, base_platform, base_members, int(total), int(linked))


def growth_days(
    stays: list[Presence],
    start: date,
    end: date,
    zone: ZoneInfo,
    *,
    platforms: Sequence[str] | None = None,
    base_platform: dict[str, int] | None = None,
    base_members: int = 0,
) -> tuple[dict[tuple[date, str], GrowthDay], dict[date, GrowthDay]]:
    """Count members present, new and gone per local day: per platform, and per member.

    ``base_*`` are members present at the start whose stays are not in ``stays``.
    """
    if platforms is None:
        platforms = sorted({s.platform for s in stays})
    span = rules.days(start, end)

    def day_of(at: datetime | None) -> date | None:
        return None if at is None else rules.local_day(at, zone)

    per_platform: dict[tuple[date, str], GrowthDay] = {}
    for platform in platforms:
        mine = [s for s in stays if s.platform == platform]
        per_platform.update(
            _count(mine, span, day_of, platform, (base_platform or {}).get(platform, 0))
        )
    # All platforms together: a member joins with their first account and leaves with their
    # last (a member with one account still present has not left).
    by_member: dict[int, list[Presence]] = {}
    for s in stays:
        by_member.setdefault(s.member_id, []).append(s)
    merged = []
    for member_id, held in by_member.items():
        gone = [s.left_at for s in held]
        merged.append(
            Presence(
                member_id,
                "",
                min(s.joined_at for s in held),
                None if any(g is None for g in gone) else max(g for g in gone if g is not None),
            )
        )
    together = {
        day: row for (day, _), row in _count(merged, span, day_of, "", base_members).items()
    }
    return per_platform, together


def _count(
    stays: list[Presence],
    span: list[date],
    day_of: Callable[[datetime | None], date | None],
    platform: str,
    before: int = 0,
) -> dict[tuple[date, str], GrowthDay]:
    joined: dict[date, int] = {}
    left: dict[date, int] = {}
    first = span[0]
    for s in stays:
        j = day_of(s.joined_at)
        g = day_of(s.left_at)
        assert j is not None
        if j < first:
            if g is None or g >= first:
                before += 1
        else:
            joined[j] = joined.get(j, 0) + 1
        if g is not None and g >= first:
            left[g] = left.get(g, 0) + 1
    out: dict[tuple[date, str], GrowthDay] = {}
    total = before
    for day in span:
        new, gone = joined.get(day, 0), left.get(day, 0)
        total += new - gone
        out[(day, platform)] = GrowthDay(day, platform, total, new, gone)
    return out


async def active_members(conn: AsyncConnection, community_id: int, first: date, last: date) -> int:
    """Return how many distinct members were active from ``first`` to ``last``.

    When no member-day row lies after ``last`` (a range ending today), they are the members
    whose last active day is on or after ``first``: an index range over the member totals.
    Otherwise the member-day rows of the range are counted, distinct.
    """
    latest = await conn.scalar(
        select(func.max(analytics_days.c.day)).where(analytics_days.c.community_id == community_id)
    )
    if latest is None:
        return 0
    if latest <= last:
        t = analytics_member_totals.c
        found = await conn.scalar(
            select(func.count()).where(t.community_id == community_id, t.last_day >= first)
        )
    else:
        d = analytics_member_days.c
        found = await conn.scalar(
            select(func.count(func.distinct(d.member_id))).where(
                d.community_id == community_id, d.day >= first, d.day <= last
            )
        )
    return int(found or 0)


async def day_totals(
    conn: AsyncConnection, community_id: int, first: date, last: date
) -> list[tuple[date, int, int, int]]:
    """Return the community's days from ``first`` to ``last``: messages, reactions, active."""
    t = analytics_days.c
    rows = await fetch(
        conn,
        select(t.day, t.messages, t.reactions, t.active).where(
            t.community_id == community_id, t.day >= first, t.day <= last
        ),
    )
    return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


async def hour_totals(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """Return messages per UTC hour in ``[since, until)``, all channels together."""
    h = analytics_hours.c
    rows = await fetch(
        conn,
        select(h.hour, func.sum(h.messages))
        .where(h.community_id == community_id, h.hour >= since, h.hour < until)
        .group_by(h.hour),
    )
    return [(r[0], int(r[1])) for r in rows]


async def top_channels(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime, limit: int
) -> list[tuple[str, str, int]]:
    """Return the channels with the most messages in ``[since, until)`` (none without any)."""
    h = analytics_hours.c
    total = func.sum(h.messages).label("messages")
    rows = await fetch(
        conn,
        select(h.platform, h.channel_id, total)
        .where(h.community_id == community_id, h.hour >= since, h.hour < until)
        .group_by(h.platform, h.channel_id)
        .having(func.sum(h.messages) > 0)
        .order_by(total.desc(), h.platform, h.channel_id)
        .limit(limit),
    )
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


async def top_members(
    conn: AsyncConnection, community_id: int, first: date, last: date, limit: int
) -> list[tuple[int, str, int, int]]:
    """Return the members with the most messages in the days: id, name, messages, reactions."""
    d = analytics_member_days.c
    total = func.sum(d.messages).label("messages")
    rows = (
        await conn.execute(
            select(d.member_id, total, func.sum(d.reactions))
            .where(d.community_id == community_id, d.day >= first, d.day <= last)
            .group_by(d.member_id)
            .order_by(total.desc(), d.member_id)
            .limit(limit)
        )
    ).all()
    names = await names_of(conn, [r[0] for r in rows])
    return [(int(m), names.get(int(m), ""), int(n), int(r)) for m, n, r in rows if n]


async def names_of(conn: AsyncConnection, member_ids: list[int]) -> dict[int, str]:
    """Return a display name per member (their earliest account's)."""
    if not member_ids:
        return {}
    a = accounts.c
    rows = (
        await conn.execute(
            select(a.member_id, a.display_name)
            .where(a.member_id.in_(member_ids))
            .order_by(a.member_id, a.id)
        )
    ).all()
    names: dict[int, str] = {}
    for member_id, name in rows:
        names.setdefault(int(member_id), name)
    return names
