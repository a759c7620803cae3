"""Queries and row shaping the analytics pages share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Row, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics._figures import Money
from bot.store.tables import (
    accounts,
    analytics_days,
    analytics_hours,
    analytics_member_days,
    analytics_member_totals,
    analytics_presence,
    analytics_range_members,
    qa_questions,
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


async def fetch_plain(conn: AsyncConnection, statement: Select[Any]) -> Sequence[Sequence[Any]]:
    """Run a big read and take its rows as the driver's tuples, without a ``Row`` per row.

    On SQLite the statement goes to the DBAPI cursor, compiled once here: SQLAlchemy's result
    builds a ``Row`` per row, about 1 µs (60 ms of the revenue ledger's whole read of 60,000
    rows at full size). Nothing is processed by the column types: the caller reads the
    columns as the driver gives them (``_revenue._stored``). Elsewhere, ``fetch``.
    """
    if conn.dialect.name != "sqlite":
        return await fetch(conn, statement)
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    bound = compiled.construct_params()
    sql, parameters = str(compiled), tuple(bound[name] for name in compiled.positiontup or ())

    def run(sync: Any) -> list[Any]:
        cursor = sync.connection.cursor()
        try:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return await conn.run_sync(run)


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
    members: Sequence[int] | Select[Any] | None = None,
) -> list[Presence]:
    """Return the accounts that joined before ``until``: all, or only those of ``members``.

    ``members`` is a list or a query of member ids (``_ranked.member_list``).
    """
    p = analytics_presence.c
    joined: ColumnElement[bool] = p.joined_at < until
    chosen: ColumnElement[bool] | None = None
    if members is not None:
        chosen = p.member_id.in_(members)
        if conn.dialect.name == "sqlite":
            # SQLite, without statistics, would read every account joined before ``until``
            # by the join index and test each against the list; told most accounts joined
            # before it and few are listed, it seeks each listed member's rows instead.
            joined, chosen = func.likely(joined), func.unlikely(chosen)
    query = select(p.member_id, p.platform, p.joined_at, p.left_at).where(
        p.community_id == community_id, joined
    )
    if chosen is not None:
        query = query.where(chosen)
    rows = await fetch(conn, query)
    return [Presence(r.member_id, r.platform, r.joined_at, r.left_at) for r in rows]


def present_at(at: datetime) -> ColumnElement[bool]:
    """Return whether a presence row's account was present at ``at``."""
    p = analytics_presence.c
    return and_(p.joined_at < at, or_(p.left_at.is_(None), p.left_at >= at))


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
    conn: AsyncConnection,
    community_id: int,
    first: date,
    last: date,
    limit: int,
    *,
    kept: date | None = None,
) -> list[tuple[int, str, int, int]]:
    """Return the members with the most messages in the days: id, name, messages, reactions.

    With ``kept``, the sums from ``first`` to ``kept`` come from the range kept for them
    (``_ranges.keep``: a row per member) and only the days after it are summed here.
    """
    d = analytics_member_days.c
    if kept is None:
        total = func.sum(d.messages).label("messages")
        query = (
            select(d.member_id, total, func.sum(d.reactions))
            .where(d.community_id == community_id, d.day >= first, d.day <= last)
            .group_by(d.member_id)
            .order_by(total.desc(), d.member_id)
        )
    else:
        live = (
            select(
                d.member_id,
                func.sum(d.messages).label("messages"),
                func.sum(d.reactions).label("reactions"),
            )
            .where(d.community_id == community_id, d.day > kept, d.day <= last)
            .group_by(d.member_id)
            .subquery()
        )
        k = analytics_range_members.c
        messages = k.messages + func.coalesce(live.c.messages, 0)
        query = (
            select(k.member_id, messages, k.reactions + func.coalesce(live.c.reactions, 0))
            .select_from(analytics_range_members.outerjoin(live, live.c.member_id == k.member_id))
            .where(
                k.community_id == community_id,
                k.first_ordinal == first.toordinal(),
                k.last_ordinal == kept.toordinal(),
                messages > 0,
            )
            .order_by(messages.desc(), k.member_id)
        )
    rows = (await conn.execute(query.limit(limit))).all()
    names = await names_of(conn, [r[0] for r in rows])
    return [(int(m), names.get(int(m), ""), int(n), int(r)) for m, n, r in rows if n]


async def questions(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> tuple[int, int]:
    """Return how many questions were asked in ``[since, until)``, and how many are solved."""
    q = qa_questions.c
    asked, solved = (
        await conn.execute(
            select(func.count(), func.count(q.solved_at)).where(
                q.community_id == community_id, q.created_at >= since, q.created_at < until
            )
        )
    ).one()
    return int(asked), int(solved)


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
