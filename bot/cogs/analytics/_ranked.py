"""Per-member figures over a range, computed in SQL: the engagement page and the members list.

Used when the range reaches now (the dashboard's default: the last N days), so each member's
stay as kept in ``analytics_member_totals`` is their stay at the range's end. Each member's
score parts are summed in the database (the member-day sums from a covering index, the Q&A,
lecture and kudos counts grouped by member), and the score U = (I + D + C) / T with them, so a
page sorts, cuts, counts and buckets there and reads O(top-N) rows, never O(members x days).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import Bucket, MemberSort, Segment
from bot.cogs.analytics._pages import fetch
from bot.cogs.analytics._people import KUDOS
from bot.store.tables import (
    accounts,
    analytics_member_days,
    analytics_member_totals,
    lecture_attendance,
    points_balances,
    points_ledger,
    qa_answers,
    qa_questions,
)

PARTS = ("messages", "thread_messages", "reactions", "answers", "accepted", "attended", "kudos")


@dataclass(frozen=True, slots=True)
class Ranked:
    """One member's parts, days present and score, as the database computed them."""

    member_id: int
    messages: int
    thread_messages: int
    reactions: int
    answers: int
    accepted: int
    attended: int
    kudos: int
    days: int
    score: float
    joined: date | None
    left: date | None


EXTRAS = ("answers", "accepted", "attended", "kudos")


def _one_of(member: Any, name: str) -> list[Any]:
    """Return the columns of a row that counts one ``name`` for ``member``."""
    return [
        member.label("member_id"),
        *(literal_column("1" if n == name else "0").label(n) for n in EXTRAS),
    ]


def _extras(community_id: int, since: datetime, until: datetime) -> Subquery:
    """Return Q&A answers, accepted answers, lectures attended and kudos per member."""
    a = qa_answers.c
    q = qa_questions.c
    at = lecture_attendance.c
    pl = points_ledger.c
    parts = union_all(
        select(*_one_of(a.author_id, "answers")).where(
            a.community_id == community_id,
            a.deleted_at.is_(None),
            a.posted_at >= since,
            a.posted_at < until,
        ),
        select(*_one_of(a.author_id, "accepted"))
        .select_from(qa_answers.join(qa_questions, q.accepted_answer_id == a.id))
        .where(q.community_id == community_id, q.solved_at >= since, q.solved_at < until),
        select(*_one_of(at.member_id, "attended")).where(
            at.community_id == community_id, at.at >= since, at.at < until
        ),
        select(*_one_of(pl.member_id, "kudos")).where(
            pl.community_id == community_id,
            pl.reason == KUDOS,
            pl.delta > 0,
            pl.created_at >= since,
            pl.created_at < until,
        ),
    ).subquery()
    c = parts.c
    return (
        select(c.member_id, *(func.sum(c[n]).label(n) for n in EXTRAS))
        .group_by(c.member_id)
        .subquery()
    )


def scores(community_id: int, start: date, end: date, since: datetime, until: datetime) -> Subquery:
    """Return every member with a kept stay: parts, days present in the range and score."""
    d = analytics_member_days.c
    days = (
        select(
            d.member_id,
            func.sum(d.messages).label("messages"),
            func.sum(d.thread_messages).label("thread_messages"),
            func.sum(d.reactions).label("reactions"),
        )
        .where(d.community_id == community_id, d.day >= start, d.day <= end)
        .group_by(d.member_id)
        .subquery()
    )
    extra = _extras(community_id, since, until)
    t = analytics_member_totals.c
    first, last = start.toordinal(), end.toordinal()
    present = (
        case(
            (and_(t.left_ordinal.is_not(None), t.left_ordinal < last), t.left_ordinal),
            else_=literal(last),
        )
        - case((t.joined_ordinal > first, t.joined_ordinal), else_=literal(first))
        + 1
    )
    counts = {
        "messages": func.coalesce(days.c.messages, 0),
        "thread_messages": func.coalesce(days.c.thread_messages, 0),
        "reactions": func.coalesce(days.c.reactions, 0),
        "answers": func.coalesce(extra.c.answers, 0),
        "accepted": func.coalesce(extra.c.accepted, 0),
        "attended": func.coalesce(extra.c.attended, 0),
        "kudos": func.coalesce(extra.c.kudos, 0),
    }
    # I + D + C: messages outside threads and reactions, thread replies and answers, accepted
    # answers, lectures and kudos; the thread messages cancel out.
    total = (
        counts["messages"]
        + counts["reactions"]
        + counts["answers"]
        + counts["accepted"]
        + counts["attended"]
        + counts["kudos"]
    )
    score = case((present > 0, cast(total, Float) / present), else_=literal(0.0, Float))
    return (
        select(
            t.member_id,
            *(value.label(name) for name, value in counts.items()),
            present.label("days"),
            score.label("score"),
            t.joined_ordinal,
            t.left_ordinal,
        )
        .select_from(
            analytics_member_totals.outerjoin(days, days.c.member_id == t.member_id).outerjoin(
                extra, extra.c.member_id == t.member_id
            )
        )
        .where(t.community_id == community_id, t.joined_ordinal.is_not(None))
        .subquery()
    )


def _day(ordinal: int | None) -> date | None:
    return None if ordinal is None else date.fromordinal(int(ordinal))


def ranked(row: Any) -> Ranked:
    """Return a row of ``scores`` as a ``Ranked``."""
    return Ranked(
        member_id=int(row.member_id),
        messages=int(row.messages),
        thread_messages=int(row.thread_messages),
        reactions=int(row.reactions),
        answers=int(row.answers),
        accepted=int(row.accepted),
        attended=int(row.attended),
        kudos=int(row.kudos),
        days=int(row.days),
        score=float(row.score),
        joined=_day(row.joined_ordinal),
        left=_day(row.left_ordinal),
    )


@dataclass(frozen=True, slots=True)
class Spread:
    """The engagement page's figures over the members present in the range."""

    population: int
    mean: float
    distribution: tuple[Bucket, ...]
    most: list[Ranked]
    least: list[Ranked]
    paying_present: int


async def spread(
    conn: AsyncConnection, ranked_members: Subquery, top: int, paying: set[int]
) -> Spread:
    """Count, average and bucket the scores of members present; take the top and bottom."""
    r = ranked_members.c
    here = r.days > 0
    edges = rules.SCORE_EDGES
    bucket = case(
        *((r.score >= edge, literal(n)) for n, edge in reversed(list(enumerate(edges)))),
        else_=literal(0),
    ).label("bucket")
    counts = {
        int(n): int(k)
        for n, k in await fetch(
            conn, select(bucket, func.count()).where(here).group_by(bucket.element)
        )
    }
    population = sum(counts.values())
    total = await conn.scalar(select(func.coalesce(func.sum(r.score), 0.0)).where(here))
    most = [
        ranked(x)
        for x in await fetch(
            conn,
            select(ranked_members).where(here).order_by(r.score.desc(), r.member_id).limit(top),
        )
    ]
    least = [
        ranked(x)
        for x in await fetch(
            conn,
            select(ranked_members).where(here).order_by(r.score, r.member_id.desc()).limit(top),
        )
    ]
    present_ids: Sequence[Any] = []
    if paying:
        present_ids = await fetch(conn, select(r.member_id).where(here))
    return Spread(
        population=population,
        mean=rules.ratio(float(total or 0.0), population),
        distribution=tuple(
            Bucket(edge, edges[n + 1] if n + 1 < len(edges) else None, counts.get(n, 0))
            for n, edge in enumerate(edges)
        ),
        most=most,
        least=least,
        paying_present=sum(1 for (m,) in present_ids if int(m) in paying),
    )


# --- the members list ------------------------------------------------------------------------

SORTABLE = frozenset(
    [MemberSort.ENGAGEMENT, MemberSort.MESSAGES, MemberSort.POINTS, MemberSort.JOINED]
)
PAYING_IN_LIMIT = 5000  # above this many paying members, the list is cut in Python


@dataclass(frozen=True, slots=True)
class Listed:
    """One page of the members list as the database cut it, and the number matching."""

    total: int
    rows: list[tuple[Ranked, int, tuple[str, ...]]]  # the member, points, platforms


async def listing(
    conn: AsyncConnection,
    community_id: int,
    ranked_members: Subquery,
    *,
    start: date,
    end: date,
    sort: MemberSort,
    segment: Segment,
    paying: set[int],
    offset: int,
    limit: int,
) -> Listed:
    """Filter the community's members by ``segment``, sort, count and cut them in SQL."""
    a = accounts.c
    held = (
        select(
            a.member_id,
            func.count(func.distinct(a.platform)).label("platforms"),
        )
        .where(a.community_id == community_id)
        .group_by(a.member_id)
        .subquery()
    )
    r = ranked_members.c
    b = points_balances.c
    points = func.coalesce(b.balance, 0)
    score = func.coalesce(r.score, 0.0)
    messages = func.coalesce(r.messages, 0)
    joined = r.joined_ordinal
    left = r.left_ordinal
    first, last = start.toordinal(), end.toordinal()
    where = {
        Segment.ALL: None,
        Segment.PAYING: held.c.member_id.in_(sorted(paying)),
        Segment.ACTIVE: or_(messages > 0, score > 0),
        Segment.INACTIVE: and_(left.is_(None), messages == 0, score == 0),
        Segment.NEW: and_(joined >= first, joined <= last),
        Segment.LEFT: and_(left >= first, left <= last),
        Segment.LINKED: held.c.platforms > 1,
    }[segment]
    base = select(
        held.c.member_id,
        points.label("points"),
        *(func.coalesce(r[name], 0).label(name) for name in PARTS),
        func.coalesce(r.days, 0).label("days"),
        score.label("score"),
        joined.label("joined_ordinal"),
        left.label("left_ordinal"),
    ).select_from(
        held.outerjoin(ranked_members, r.member_id == held.c.member_id).outerjoin(
            points_balances,
            and_(b.community_id == community_id, b.member_id == held.c.member_id),
        )
    )
    if where is not None:
        base = base.where(where)
    order: dict[MemberSort, list[Any]] = {
        MemberSort.ENGAGEMENT: [score.desc()],
        MemberSort.MESSAGES: [messages.desc()],
        MemberSort.POINTS: [points.desc()],
        MemberSort.JOINED: [func.coalesce(joined, date.min.toordinal()).desc()],
    }
    page: Select[Any] = base.order_by(*order[sort], held.c.member_id).offset(offset).limit(limit)
    total = await conn.scalar(select(func.count()).select_from(base.subquery()))
    rows = await fetch(conn, page)
    platforms: dict[int, set[str]] = {}
    if rows:
        for member_id, platform in await fetch(
            conn,
            select(a.member_id, a.platform).where(
                a.community_id == community_id, a.member_id.in_([int(x[0]) for x in rows])
            ),
        ):
            platforms.setdefault(int(member_id), set()).add(str(platform))
    return Listed(
        total=int(total or 0),
        rows=[
            (
                ranked(x),
                int(x.points),
                tuple(sorted(platforms.get(int(x.member_id), set()))),
            )
            for x in rows
        ],
    )
