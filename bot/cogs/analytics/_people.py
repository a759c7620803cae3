"""Per-member figures: stays, the engagement score's parts, retention cohorts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._pages import Presence, fetch
from bot.cogs.analytics._rules import day_start
from bot.store.tables import (
    analytics_member_days,
    analytics_presence,
    lecture_attendance,
    points_ledger,
    qa_answers,
    qa_questions,
)

IN_LIMIT = 2000  # above this many members, filter the rows here rather than in the query
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
    days_q = (
        select(
            d.member_id, func.sum(d.messages), func.sum(d.thread_messages), func.sum(d.reactions)
        )
        .where(d.community_id == community_id, d.day >= start, d.day <= end)
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


async def active_weeks(
    conn: AsyncConnection,
    community_id: int,
    member_ids: set[int],
    first: date,
    last: date,
    zone: ZoneInfo,
) -> dict[int, set[date]]:
    """Return the weeks (Mondays) each of ``member_ids`` was active from ``first`` to ``last``."""
    d = analytics_member_days.c
    weeks: dict[int, set[date]] = defaultdict(set)
    if not member_ids:
        return weeks
    query = select(d.member_id, d.day).where(
        and_(d.community_id == community_id, d.day >= first, d.day <= last)
    )
    if len(member_ids) <= IN_LIMIT:
        query = query.where(d.member_id.in_(sorted(member_ids)))
    else:  # the cohort's members, as the query for the first joins finds them
        p = analytics_presence.c
        cohort = (
            select(p.member_id)
            .where(p.community_id == community_id)
            .group_by(p.member_id)
            .having(func.min(p.joined_at) >= day_start(first, zone))
        )
        query = query.where(d.member_id.in_(cohort))
    rows = await fetch(conn, query)
    for member_id, day in rows:
        if member_id in member_ids:
            weeks[int(member_id)].add(rules.week_of(day))
    return weeks


def cohorts(
    joined: dict[int, date], weeks: dict[int, set[date]], last: date
) -> list[tuple[date, int, tuple[int, ...]]]:
    """Group members by join week; count each cohort's members active in each later week."""
    by_week: dict[date, list[int]] = defaultdict(list)
    for member_id, day in joined.items():
        by_week[rules.week_of(day)].append(member_id)
    out = []
    final = rules.week_of(last)
    for week in sorted(by_week):
        members = by_week[week]
        span = (final - week).days // 7 + 1
        counts: Counter[int] = Counter()
        for member_id in members:
            for active in weeks.get(member_id, ()):
                k = (active - week).days // 7
                if 0 <= k < span:
                    counts[k] += 1
        out.append((week, len(members), tuple(counts[k] for k in range(span))))
    return out
