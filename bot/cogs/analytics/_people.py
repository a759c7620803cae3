"""Per-member figures: stays, the engagement score's parts, retention cohorts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _weeks as weeks_of
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


@dataclass(frozen=True, slots=True)
class Span:
    """A member's first join and last leave (None: still here), as kept for a range."""

    joined: date
    left: date | None


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
    members: Select[Any] | None = None,
) -> dict[int, Parts]:
    """Count each member's score parts over the range (only those of ``members`` if given).

    ``members`` is a query of member ids (``_ranked.member_list``: one parameter, however
    many they are).
    """
    found: dict[int, Parts] = defaultdict(Parts)
    d = analytics_member_days.c
    in_range: list[ColumnElement[bool]] = [d.day >= start, d.day <= end]
    if members is not None and conn.dialect.name == "sqlite":
        # SQLite, without statistics, would read every member's days of the range by the
        # (community, day) key and test each against the list; told the range holds most
        # days, it seeks each listed member's days by the member index. (Told also that the
        # list is unlikely to hold a member, it read the range by day for a thousand members.)
        in_range = [func.likely(term) for term in in_range]
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
    if members is not None:
        days_q = days_q.where(d.member_id.in_(members))
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


async def cohorts(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    *,
    kept: Sequence[tuple[date, date, int]] = (),
) -> list[tuple[date, int, tuple[int, ...]]]:
    """Return the weekly cohorts joined from ``start`` to ``end``: size, active each week since.

    The joins are the stays kept in the community's zone (``analytics_member_totals``), read
    as each cohort's members. ``kept`` holds, consecutive from ``start``'s week, (Monday, last
    day kept, members active up to it as a bit set: ``_weeks.py``); only the days after the
    last one kept (a week at most) are read as member days. A cohort's members active in a
    week are the bits its set and the week's have in common.
    """
    t = analytics_member_totals.c
    d = analytics_member_days.c
    joiners: dict[date, list[int]] = defaultdict(list)
    for joined, members in await fetch(
        conn,
        select(t.joined_ordinal, weeks_of.joined_ids(conn, t.member_id))
        .where(_joined_in(t, community_id, start, end))
        .group_by(t.joined_ordinal),
    ):
        joiners[rules.week_of(date.fromordinal(int(joined)))].extend(weeks_of.parse_ids(members))
    active = {monday: members for monday, _, members in kept}
    first_live = kept[-1][1] + timedelta(days=1) if kept else rules.week_of(start)
    if first_live <= end:
        live: dict[date, list[int]] = defaultdict(list)
        for day, members in await fetch(
            conn,
            select(d.day, weeks_of.joined_ids(conn, d.member_id))
            .where(d.community_id == community_id, d.day >= first_live, d.day <= end)
            .group_by(d.day),
        ):
            live[rules.week_of(day)].extend(weeks_of.parse_ids(members))
        for monday, members in live.items():
            active[monday] = active.get(monday, 0) | weeks_of.bits(members)
    final = rules.week_of(end)
    out = []
    for monday in sorted(joiners):
        cohort = weeks_of.bits(joiners[monday])
        span = (final - monday).days // 7 + 1
        counts = tuple(
            (cohort & active.get(monday + timedelta(weeks=k), 0)).bit_count() for k in range(span)
        )
        out.append((monday, len(joiners[monday]), counts))
    return out
