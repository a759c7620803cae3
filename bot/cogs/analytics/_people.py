"""Per-member figures: stays, the engagement score's parts, retention cohorts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._pages import Presence, fetch
from bot.store.tables import (
    analytics_member_days,
    analytics_member_totals,
    lecture_attendance,
    points_ledger,
    qa_answers,
    qa_questions,
)

IN_LIMIT = 2000  # above this many members, read every member's rows rather than a list's
JULIAN_DAY_ZERO = 1721424.5  # SQLite's julianday() of the day before 0001-01-01
EPOCH = date(1970, 1, 1)  # a day PostgreSQL counts from (asyncpg sends 0001-01-01 as -infinity)
KUDOS = "kudos"  # the points ledger's reason for peer kudos


@dataclass(frozen=True, slots=True)
class Stay:
    """A member's stay, all platforms together: first join, last leave (None: still here)."""

    member_id: int
    joined: date
    left: date | None
    platforms: tuple[str, ...]
    present_platforms: tuple[str, ...]


def stays(presence: list[Presence], zone: ZoneInfo, until: datetime) -> dict[int, Stay]:
    """Fold account presence into member stays as of ``until``."""
    held: dict[int, list[Presence]] = defaultdict(list)
    for p in presence:
        held[p.member_id].append(p)
    out: dict[int, Stay] = {}
    for member_id, rows in held.items():
        here = [p for p in rows if p.left_at is None or p.left_at >= until]
        gone = [p.left_at for p in rows if p.left_at is not None and p.left_at < until]
        out[member_id] = Stay(
            member_id,
            rules.local_day(min(p.joined_at for p in rows), zone),
            None if here or not gone else rules.local_day(max(gone), zone),
            tuple(sorted({p.platform for p in rows})),
            tuple(sorted({p.platform for p in here})),
        )
    return out


@dataclass(slots=True)
class Parts:
    """The counts behind one member's score."""

    messages: int = 0
    thread_messages: int = 0
    reactions: int = 0
    answers: int = 0
    accepted: int = 0
    attended: int = 0
    kudos: int = 0

    @property
    def interactions(self) -> int:
        """Return I: messages outside threads and reactions given."""
        return self.messages - self.thread_messages + self.reactions

    @property
    def discussions(self) -> int:
        """Return D: thread replies and Q&A answers."""
        return self.thread_messages + self.answers

    @property
    def contributions(self) -> int:
        """Return C: accepted answers, lectures attended, kudos received."""
        return self.accepted + self.attended + self.kudos


async def parts(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    members: Sequence[int] | None = None,
) -> dict[int, Parts]:
    """Count each member's score parts over the range (only those of ``members`` if given)."""
    found: dict[int, Parts] = defaultdict(Parts)
    d = analytics_member_days.c
    in_range: list[ColumnElement[bool]] = [d.day >= start, d.day <= end]
    chosen: ColumnElement[bool] | None = None
    if members is not None:
        chosen = d.member_id.in_(members)
        if conn.dialect.name == "sqlite":
            # SQLite, without statistics, would read every member's days of the range by the
            # (community, day) index; told the range holds most days and few members are
            # listed, it seeks each listed member's days by the key.
            in_range = [func.likely(term) for term in in_range]
            chosen = func.unlikely(chosen)
    days_q = (
        select(
            d.member_id, func.sum(d.messages), func.sum(d.thread_messages), func.sum(d.reactions)
        )
        .where(d.community_id == community_id, *in_range)
        .group_by(d.member_id)
    )
    a = qa_answers.c
    answers_q = (
        select(a.author_id, func.count())
        .where(
            a.community_id == community_id,
            a.deleted_at.is_(None),
            a.posted_at >= since,
            a.posted_at < until,
        )
        .group_by(a.author_id)
    )
    q = qa_questions.c
    accepted_q = (
        select(a.author_id, func.count())
        .select_from(qa_answers.join(qa_questions, q.accepted_answer_id == a.id))
        .where(q.community_id == community_id, q.solved_at >= since, q.solved_at < until)
        .group_by(a.author_id)
    )
    at = lecture_attendance.c
    attended_q = (
        select(at.member_id, func.count())
        .where(at.community_id == community_id, at.at >= since, at.at < until)
        .group_by(at.member_id)
    )
    pl = points_ledger.c
    kudos_q = (
        select(pl.member_id, func.count())
        .where(
            pl.community_id == community_id,
            pl.reason == KUDOS,
            pl.delta > 0,
            pl.created_at >= since,
            pl.created_at < until,
        )
        .group_by(pl.member_id)
    )
    if chosen is not None:
        days_q = days_q.where(chosen)
    if members is not None:
        answers_q = answers_q.where(a.author_id.in_(members))
        accepted_q = accepted_q.where(a.author_id.in_(members))
        attended_q = attended_q.where(at.member_id.in_(members))
        kudos_q = kudos_q.where(pl.member_id.in_(members))
    for mid, m, t, r in await fetch(conn, days_q):
        one = found[int(mid)]
        one.messages, one.thread_messages, one.reactions = int(m), int(t), int(r)
    for query, name in (
        (answers_q, "answers"),
        (accepted_q, "accepted"),
        (attended_q, "attended"),
        (kudos_q, "kudos"),
    ):
        for mid, n in await fetch(conn, query):
            setattr(found[int(mid)], name, int(n))
    return found


def _joined_in(
    t: ReadOnlyColumnCollection[str, ColumnElement[Any]], community_id: int, start: date, end: date
) -> ColumnElement[bool]:
    """Return whether a member totals row's first join is from ``start`` to ``end``."""
    return and_(
        t.community_id == community_id,
        t.joined_ordinal >= start.toordinal(),
        t.joined_ordinal <= end.toordinal(),
    )


def _ordinal(conn: AsyncConnection, day: ColumnElement[date]) -> ColumnElement[int]:
    """Return a date column's day number as ``date.toordinal`` counts (0001-01-01 is 1)."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(day) - JULIAN_DAY_ZERO, Integer)
    return cast(day - literal(EPOCH), Integer) + EPOCH.toordinal()


async def cohorts(
    conn: AsyncConnection, community_id: int, start: date, end: date
) -> list[tuple[date, int, tuple[int, ...]]]:
    """Return the weekly cohorts joined from ``start`` to ``end``: size, active each week since.

    The joins are the stays kept in the community's zone (``analytics_member_totals``); the
    database maps each active day to its week (day numbers: 0001-01-01 was a Monday) and
    counts members per cohort and week, so the page reads O(weeks²) rows.
    """
    t = analytics_member_totals.c
    d = analytics_member_days.c
    joined = t.joined_ordinal
    week = joined - (joined - 1) % 7
    sizes = {
        int(w): int(n)
        for w, n in await fetch(
            conn,
            select(week, func.count())
            .where(_joined_in(t, community_id, start, end))
            .group_by(week),
        )
    }
    # The cohort's days found by member (the member-day key), not every member's days.
    cohort = analytics_member_totals.alias("cohort")
    active_in = (
        select(t.member_id, week.label("week"), ((_ordinal(conn, d.day) - week) // 7).label("k"))
        .select_from(
            analytics_member_days.join(
                analytics_member_totals,
                and_(t.community_id == d.community_id, t.member_id == d.member_id),
            )
        )
        .where(
            d.community_id == community_id,
            d.member_id.in_(
                select(cohort.c.member_id).where(_joined_in(cohort.c, community_id, start, end))
            ),
            d.day >= rules.week_of(start),
            d.day <= end,
        )
        .distinct()
        .subquery()
    )
    a = active_in.c
    active: dict[int, Counter[int]] = defaultdict(Counter)
    for w, k, n in await fetch(conn, select(a.week, a.k, func.count()).group_by(a.week, a.k)):
        active[int(w)][int(k)] = int(n)
    final = rules.week_of(end)
    out = []
    for w in sorted(sizes):
        monday = date.fromordinal(w)
        span = (final - monday).days // 7 + 1
        out.append((monday, sizes[w], tuple(active[w][k] for k in range(span))))
    return out
