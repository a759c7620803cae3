"""Member sums kept per range of closed days, for the engagement page and the members list.

Summing every member's days over a range is what those pages cost (a row per member and day).
The days before today no longer change but by rare events, so their sums are kept per range
(``analytics_range_members``), made by a sweep shortly after each community's local midnight
(``sweep``, a scheduled job; a request whose range is not kept, or no longer valid, makes it
itself), and a request adds only the rows of the days since. A kept range stays good while
the community's day totals over it (``analytics_days``, which every message and reaction adds
to in the same transaction) add up to what they were when it was made, kept beside it
(``analytics_ranges``); a merge, an erasure or a rebuild moves or deletes member-day rows, and
a trigger then drops the community's ranges.
A range also holds every member's stay (triggers on ``analytics_member_totals`` keep it
current), so a page reads the range's rows alone, one per member, in key order; and, for a
member present all the range, their total (``steady_total``), which an index orders
(``_steady``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.store.db import Database
from bot.store.tables import (
    analytics_days,
    analytics_member_days,
    analytics_member_totals,
    analytics_range_members,
    analytics_ranges,
)

COUNTS = ("messages", "thread_messages", "reactions")
# The range the sweep keeps: the dashboard's and /stats' default, the last 30 days.
KEPT_DAYS = 30


def steady_total(
    joined: ColumnElement[int | None],
    left: ColumnElement[int | None],
    first: int,
    total: ColumnElement[int],
) -> ColumnElement[int | None]:
    """Return a member's kept total if present every day from ``first`` on, -1 if never, NULL.

    As the triggers of migration ``0029_analytics_steady_totals`` write it: -1 for no stay or
    a leave before ``first``; the total for a join by ``first`` and no leave; NULL otherwise.
    """
    return case(
        (or_(joined.is_(None), and_(left.is_not(None), left < first)), -1),
        (and_(joined <= first, left.is_(None)), total),
        else_=null(),
    )


async def _totals(
    conn: AsyncConnection, community_id: int, first: date, last: date
) -> tuple[int, int, int, int]:
    """Return the community's day totals from ``first`` to ``last``, added up."""
    t = analytics_days.c
    row = (
        await conn.execute(
            select(
                *(func.coalesce(func.sum(t[c]), 0) for c in (*COUNTS, "active")),
            ).where(t.community_id == community_id, t.day >= first, t.day <= last)
        )
    ).one()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def _kept(
    conn: AsyncConnection, community_id: int, first: date, last: date
) -> tuple[int, int, int, int] | None:
    """Return the day totals a kept range was made from, or None if none is kept."""
    r = analytics_ranges.c
    row = (
        await conn.execute(
            select(r.messages, r.thread_messages, r.reactions, r.active).where(
                r.community_id == community_id,
                r.first_ordinal == first.toordinal(),
                r.last_ordinal == last.toordinal(),
            )
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def keep(db: Database, community_id: int, first: date, last: date) -> None:
    """Make sure members' sums from ``first`` to ``last`` (closed days) are kept and current.

    The range holds a row for every member with a totals row: their sums (0 without days in
    the range) and their stay, which triggers keep current from then on. Ranges of the
    community that end earlier are dropped as a new one is made: the pages ask for ranges
    ending yesterday, and yesterday moves on.
    """
    async with db.read() as conn:
        if await _kept(conn, community_id, first, last) == await _totals(
            conn, community_id, first, last
        ):
            return
    start, end = first.toordinal(), last.toordinal()
    d = analytics_member_days.c
    t = analytics_member_totals.c
    summed = (
        select(d.member_id, *(func.sum(d[c]).label(c) for c in COUNTS))
        .where(d.community_id == community_id, d.day >= first, d.day <= last)
        .group_by(d.member_id)
        .subquery()
    )
    try:
        async with db.write() as conn:
            # The totals first: a message landing between the two reads makes them disagree
            # with the sums the next time, never agree with sums that miss it.
            totals = await _totals(conn, community_id, first, last)
            # Made while this write waited its turn (the engagement page asks for its two
            # parts at once; the sweep; another tab): read, not made a second time.
            if await _kept(conn, community_id, first, last) == totals:
                return
            for table in (analytics_range_members, analytics_ranges):
                c = table.c
                await conn.execute(
                    delete(table).where(
                        c.community_id == community_id,
                        or_(
                            c.last_ordinal < end,
                            (c.first_ordinal == start) & (c.last_ordinal == end),
                        ),
                    )
                )
            await conn.execute(
                insert(analytics_ranges).values(
                    community_id=community_id,
                    first_ordinal=start,
                    last_ordinal=end,
                    **dict(zip((*COUNTS, "active"), totals, strict=True)),
                )
            )
            await conn.execute(
                insert(analytics_range_members).from_select(
                    [
                        "community_id",
                        "first_ordinal",
                        "last_ordinal",
                        "member_id",
                        *COUNTS,
                        "joined_ordinal",
                        "left_ordinal",
                        "steady_total",
                    ],
                    select(
                        t.community_id,
                        literal(start, Integer()),
                        literal(end, Integer()),
                        t.member_id,
                        *(func.coalesce(summed.c[c], 0) for c in COUNTS),
                        t.joined_ordinal,
                        t.left_ordinal,
                        steady_total(
                            t.joined_ordinal,
                            t.left_ordinal,
                            start,
                            func.coalesce(summed.c.messages, 0)
                            + func.coalesce(summed.c.reactions, 0),
                        ),
                    )
                    .select_from(
                        analytics_member_totals.outerjoin(summed, summed.c.member_id == t.member_id)
                    )
                    .where(t.community_id == community_id)
                    .order_by(t.member_id),
                )
            )
    except IntegrityError:
        pass  # another process made the same range at the same moment


async def forget(conn: AsyncConnection, community_id: int) -> None:
    """Drop every kept range of a community."""
    for table in (analytics_range_members, analytics_ranges):
        await conn.execute(delete(table).where(table.c.community_id == community_id))


async def sweep(
    db: Database, clock: Clock, zones: Mapping[int, ZoneInfo], days: int = KEPT_DAYS
) -> None:
    """Keep each community's range of its last ``days`` days before today, in its zone.

    Run every minute or so by the scheduler, it makes the day's range shortly after each
    community's local midnight (and again after a late message changed a closed day), so the
    dashboard's default range (the last 30 days, today included) finds it kept.
    """
    now = clock.now()
    for community_id, zone in zones.items():
        today = now.astimezone(zone).date()
        await keep(db, community_id, today - timedelta(days=days - 1), today - timedelta(days=1))
