"""The growth page counted in the database: joins and leaves per local day, per platform.

Presence rows hold UTC instants; a page's days are local days of its zone. The database maps
an instant to its local day by the zone's UTC offset at that instant: the offsets over the
range are a few spans (a daylight-saving change starts the next), found here and written into
the query as a ``CASE``, so every zone (whole hours or not) is counted exactly and the page
reads a row per platform and day, never a row per member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    distinct,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import GrowthDay
from bot.cogs.analytics._pages import fetch, fetch_scalars, present_at
from bot.core.platforms import PlatformName
from bot.store.tables import analytics_member_totals, analytics_presence

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_SECONDS = 86_400


def offsets(since: datetime, until: datetime, zone: ZoneInfo) -> list[tuple[int, int]]:
    """Return the zone's UTC offsets over ``[since, until)``: (from epoch second, offset s).

    The first span starts at ``since``; a change is found by bisecting, to the second, between
    two day starts whose offsets differ.
    """

    def offset(at: int) -> int:
        moment = EPOCH + timedelta(seconds=at)
        shift = moment.astimezone(zone).utcoffset()
        return int(shift.total_seconds()) if shift is not None else 0

    first = int((since - EPOCH).total_seconds())
    last = int((until - EPOCH).total_seconds())
    spans = [(first, offset(first))]
    low = first
    while low < last:
        high = min(low + DAY_SECONDS, last)
        if offset(high) != spans[-1][1]:
            before = low
            while high - before > 1:  # offset(before) is the span's, offset(high) is not
                middle = (before + high) // 2
                if offset(middle) == spans[-1][1]:
                    before = middle
                else:
                    high = middle
            spans.append((high, offset(high)))
        low = high
    return spans


def _seconds(conn: AsyncConnection, at: ColumnElement[Any]) -> ColumnElement[int]:
    """Return a timestamp column as whole seconds since 1970-01-01 UTC."""
    if conn.dialect.name == "sqlite":  # stored as UTC text
        return cast(func.strftime("%s", at), BigInteger)
    return cast(func.floor(extract("epoch", at)), BigInteger)


def local_day_number(
    conn: AsyncConnection, at: ColumnElement[Any], spans: list[tuple[int, int]]
) -> ColumnElement[int]:
    """Return the local day of a timestamp column as days since 1970-01-01, by ``spans``.

    The span is chosen by comparing the column with each change's instant, so the column is
    turned into seconds once.
    """
    shift: ColumnElement[int] = literal(spans[0][1])
    if len(spans) > 1:
        shift = case(
            *(
                (at < EPOCH + timedelta(seconds=start), literal(before))
                for (start, _), (_, before) in _pairs(spans)
            ),
            else_=literal(spans[-1][1]),
        )
    return (_seconds(conn, at) + shift) // DAY_SECONDS


def _pairs(spans: list[tuple[int, int]]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Return each span change with the span before it: (next span, span)."""
    return list(zip(spans[1:], spans[:-1], strict=True))


def _day(number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(number))


@dataclass(slots=True)
class Moves:
    """Who was present as a range began, and who came and went on each of its days."""

    before: int = 0
    joined: dict[date, int] = field(default_factory=dict)
    left: dict[date, int] = field(default_factory=dict)

    def days(self, span: list[date], platform: str) -> dict[date, GrowthDay]:
        """Return each day's total, new and left."""
        out: dict[date, GrowthDay] = {}
        total = self.before
        for day in span:
            new, gone = self.joined.get(day, 0), self.left.get(day, 0)
            total += new - gone
            out[day] = GrowthDay(day, platform, total, new, gone)
        return out


@dataclass(slots=True)
class Kept(Moves):
    """``Moves`` counted from the kept stays, with the members present at the range's end."""

    present_at_end: int = 0


async def _kept_stays(conn: AsyncConnection, community_id: int, start: date, end: date) -> Kept:
    """Count members present, joined and gone per day from the kept stays (range reaching now).

    The stays (``analytics_member_totals``: first join, last leave, local days of the
    community's zone) are read by two indexes, joins and leaves per day in the range. Present
    at the end: no leave. Present as the range began: those, less the joins in the range, plus
    its leaves (a member who joined in it and left is in both; one who joined in it and stayed
    was not there; one who left in it and joined before was).
    """
    t = analytics_member_totals.c
    first, last = start.toordinal(), end.toordinal()
    present = int(
        await conn.scalar(
            select(func.count()).where(
                t.community_id == community_id,
                t.left_ordinal.is_(None),
                t.joined_ordinal.is_not(None),
            )
        )
        or 0
    )
    found = Kept(before=present, present_at_end=present)
    for day, n in await fetch(
        conn,
        select(t.joined_ordinal, func.count())
        .where(
            t.community_id == community_id,
            t.joined_ordinal >= first,
            t.joined_ordinal <= last,
        )
        .group_by(t.joined_ordinal),
    ):
        found.joined[date.fromordinal(int(day))] = int(n)
        found.before -= int(n)
    for day, n in await fetch(
        conn,
        select(t.left_ordinal, func.count())
        .where(
            t.community_id == community_id,
            t.left_ordinal >= first,
            t.left_ordinal <= last,
            t.joined_ordinal.is_not(None),
        )
        .group_by(t.left_ordinal),
    ):
        found.left[date.fromordinal(int(day))] = int(n)
        found.before += int(n)
    return found


@dataclass(frozen=True, slots=True)
class Growth:
    """The growth page's counts: per platform (accounts) and together (members)."""

    platforms: tuple[str, ...]
    per_platform: dict[tuple[date, str], GrowthDay]
    together: dict[date, GrowthDay]
    members_total: int  # present at the range's end
    linked_members: int  # of those, with present accounts on two or more platforms


async def growth(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    zone: ZoneInfo,
    *,
    platforms: bool = True,
    present_now: bool = False,
) -> Growth:
    """Count accounts per platform, and members, present, new and gone per local day.

    A member joins with their first account and leaves with their last (a member with one
    account still present has not left); an account that joined after the range is not seen.
    Without ``platforms``, only the members (no platforms, no linked members: the overview).
    With ``present_now`` (the range reaches now; the growth page also asks it in the
    community's zone, the stays' zone), the members present, joined and gone per day are
    counted from the kept stays (``analytics_member_totals``), not folded from every account.
    """
    since, until = rules.window(start, end, zone)
    spans = offsets(since, until, zone)
    span = rules.days(start, end)
    p = analytics_presence.c
    if not platforms:
        if present_now:
            kept = await _kept_stays(conn, community_id, start, end)
            return Growth((), {}, kept.days(span, ""), kept.present_at_end, 0)
        total = (await _present(conn, community_id, until, ()))[0]
        together = await _members(conn, community_id, since, until, spans, total)
        return Growth((), {}, together.days(span, ""), total, 0)
    counted = await _present_now(conn, community_id, until)
    if counted is None:
        names = tuple(
            sorted(
                str(x)
                for x in await fetch_scalars(
                    conn, select(p.platform).where(p.community_id == community_id).distinct()
                )
            )
        )
        total, linked, accounts_present = await _present(conn, community_id, until, names)
    else:
        names, total, linked, accounts_present = counted
    mine = and_(p.community_id == community_id, p.joined_at < until)
    accounts = await _moves(
        conn, p.platform, p.joined_at, p.left_at, mine, (since, until), spans, accounts_present
    )
    members = (
        await _kept_stays(conn, community_id, start, end)
        if present_now
        else await _members(conn, community_id, since, until, spans, total)
    )
    per_platform: dict[tuple[date, str], GrowthDay] = {}
    for platform in names:
        moves = accounts.get(platform, Moves())
        per_platform.update(
            ((day, platform), row) for day, row in moves.days(span, platform).items()
        )
    return Growth(
        platforms=names,
        per_platform=per_platform,
        together=members.days(span, ""),
        members_total=total,
        linked_members=linked,
    )


async def _present_now(
    conn: AsyncConnection, community_id: int, at: datetime
) -> tuple[tuple[str, ...], int, int, dict[str, int]] | None:
    """Return the platforms and ``_present``'s counts when every account with no leave is present.

    With no account joining or leaving at or after ``at`` (a range reaching now: two index
    probes), the accounts present at ``at`` are those with no leave, read flat in the order of
    the index on (community, leave, member, platform): counted, per platform, and as distinct
    members (the index's order makes that count a stream, not a sort). When there are as many
    members as accounts, nobody has two and nobody is linked. Otherwise, with two platforms at
    most, a member is on two exactly when they make two distinct (member, platform) pairs, so
    the linked members are the pairs (counted in index order) less the members. The platforms
    are those of the present accounts and of the accounts that left. None (count as
    ``_present`` does) when an account joins or leaves at or after ``at``, when a platform is
    not one Cohort knows, or when the community has more than two.
    """
    p = analytics_presence.c
    mine = p.community_id == community_id
    later = await conn.scalar(
        select(
            or_(
                exists().where(mine, p.joined_at >= at),
                exists().where(mine, p.left_at >= at),
            )
        )
    )
    if later:
        return None
    known = tuple(name.value for name in PlatformName)
    here = (mine, p.left_at.is_(None))
    row = (
        await conn.execute(
            select(
                func.count(), *(func.sum(case((p.platform == name, 1), else_=0)) for name in known)
            ).where(*here)
        )
    ).one()
    accounts = int(row[0])
    per = {name: int(n or 0) for name, n in zip(known, row[1:], strict=True)}
    if accounts != sum(per.values()):
        return None
    # Alone in its statement, the distinct count streams in index order (beside the sums it
    # sorts every member id).
    members = int(await conn.scalar(select(func.count(distinct(p.member_id))).where(*here)) or 0)
    gone = await fetch_scalars(
        conn, select(p.platform).where(mine, p.left_at.is_not(None)).distinct()
    )
    names = tuple(sorted({name for name, n in per.items() if n} | {str(x) for x in gone}))
    if len(names) > 2 or not set(names) <= set(known):
        return None
    linked = 0
    if accounts != members:
        pairs = select(p.member_id, p.platform).where(*here).distinct().subquery()
        linked = int(await conn.scalar(select(func.count()).select_from(pairs)) or 0) - members
    return names, members, linked, {name: per[name] for name in names}


async def _present(
    conn: AsyncConnection, community_id: int, at: datetime, platforms: tuple[str, ...]
) -> tuple[int, int, dict[str, int]]:
    """Return the members present at ``at``, those on two platforms, and accounts per platform.

    Present accounts are counted per platform of ``platforms`` (every platform of the
    community, or none). The accounts are grouped by member in the order of an index
    (community, member, platform, stay), so the database streams the groups; a member is
    linked when two or more of their platform counts are above zero.
    """
    p = analytics_presence.c
    per = [
        func.sum(case((p.platform == name, 1), else_=0)).label(f"p{n}")
        for n, name in enumerate(platforms)
    ]
    present = (
        select(p.member_id, *per)
        .where(p.community_id == community_id, present_at(at))
        .group_by(p.member_id)
        .subquery()
    )
    # Linked: present on two platforms or more, from the per-platform counts already made
    # (comparing each member's least and greatest platform name cost as much again).
    on = [case((present.c[f"p{n}"] > 0, 1), else_=0) for n in range(len(platforms))]
    linked = case((sum(on, literal(0)) > 1, 1), else_=0) if len(on) > 1 else literal(0)
    row = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(linked), 0),
                *(func.coalesce(func.sum(present.c[f"p{n}"]), 0) for n in range(len(platforms))),
            ).select_from(present)
        )
    ).one()
    return (
        int(row[0]),
        int(row[1]),
        {name: int(row[2 + n]) for n, name in enumerate(platforms)},
    )


async def _moves(
    conn: AsyncConnection,
    key: ColumnElement[Any],
    joined_at: ColumnElement[Any],
    left_at: ColumnElement[Any],
    where: ColumnElement[bool],
    window: tuple[datetime, datetime],
    spans: list[tuple[int, int]],
    present_at_end: dict[str, int],
) -> dict[str, Moves]:
    """Count stays by ``key``: present at the range's start, joins and leaves per local day.

    Those present at the start are those present at the end (``present_at_end``), less the
    joins in the range, plus the leaves (an account leaves after it joined).
    """
    since, until = window
    found: dict[str, Moves] = {k: Moves(n) for k, n in present_at_end.items()}

    def rows(condition: ColumnElement[bool], *columns: ColumnElement[Any]) -> Select[Any]:
        return select(key, *columns, func.count()).where(where, condition).group_by(key, *columns)

    for column, left in ((joined_at, False), (left_at, True)):
        day = local_day_number(conn, column, spans)
        for k, number, n in await fetch(conn, rows(and_(column >= since, column < until), day)):
            moves = found.setdefault(str(k), Moves())
            (moves.left if left else moves.joined)[_day(number)] = int(n)
            moves.before += int(n) if left else -int(n)
    return found


async def _members(
    conn: AsyncConnection,
    community_id: int,
    since: datetime,
    until: datetime,
    spans: list[tuple[int, int]],
    present_at_end: int,
) -> Moves:
    """Count members (all platforms together) present at ``since``, joined and gone a day.

    Only members with an account that joined or left in the range are folded into stays (in
    SQL, one row per pair of days); every account of any other member is outside the range,
    so such a member was present at its start exactly when they were at its end: those present
    at the start are the ``present_at_end``, less the folded ones present at the end, plus the
    folded ones present at the start.
    """
    p = analytics_presence.c
    moved = union(
        select(p.member_id).where(
            p.community_id == community_id, p.joined_at >= since, p.joined_at < until
        ),
        select(p.member_id).where(
            p.community_id == community_id, p.left_at >= since, p.left_at < until
        ),
    )
    stays = (
        select(
            p.member_id,
            func.min(p.joined_at).label("joined_at"),
            case((func.count(p.left_at) == func.count(), func.max(p.left_at))).label("left_at"),
        )
        .where(p.community_id == community_id, p.joined_at < until, p.member_id.in_(moved))
        .group_by(p.member_id)
        .subquery()
    )
    j, g = stays.c.joined_at, stays.c.left_at
    joined = case((j >= since, local_day_number(conn, j, spans)))
    left = case((and_(g >= since, g < until), local_day_number(conn, g, spans)))
    here = case((and_(j < since, or_(g.is_(None), g >= since)), 1), else_=0)
    there = case((or_(g.is_(None), g >= until), 1), else_=0)
    found = Moves(present_at_end)
    for joined_day, left_day, present, stayed, n in await fetch(
        conn,
        select(joined, left, here, there, func.count()).group_by(joined, left, here, there),
    ):
        found.before += int(n) * (int(present) - int(stayed))
        if joined_day is not None:
            found.joined[_day(joined_day)] = found.joined.get(_day(joined_day), 0) + int(n)
        if left_day is not None:
            found.left[_day(left_day)] = found.left.get(_day(left_day), 0) + int(n)
    return found
