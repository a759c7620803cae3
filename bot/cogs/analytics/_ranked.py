"""Per-member figures over a range, computed in SQL: the engagement page and the members list.

Used when the range reaches now (the dashboard's default: the last N days), so each member's
stay as kept in ``analytics_member_totals`` is their stay at the range's end. Each member's
score parts are summed in the database (the member-day sums from a covering index, the Q&A,
lecture and kudos counts grouped by member), and the score U = (I + D + C) / T with them, so a
page sorts, cuts, counts and buckets there and reads O(top-N) rows, never O(members x days).
The engagement page's counts are in ``_spread`` (and ``_steady`` with a range kept); the
members list over every member is here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Float,
    FromClause,
    Select,
    Subquery,
    Table,
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

from bot.cogs.analytics._figures import MemberSort, Segment
from bot.cogs.analytics._pages import fetch
from bot.cogs.analytics._people import KUDOS
from bot.store.tables import (
    accounts,
    analytics_member_days,
    analytics_member_totals,
    analytics_range_members,
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


def extras(
    community_id: int,
    since: datetime,
    until: datetime,
    members: Sequence[int] | Select[Any] | None,
) -> Subquery:
    """Return Q&A answers, accepted answers, lectures attended and kudos per member.

    Only those of ``members`` if given: a list, or a query of member ids (``member_list``).
    """
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
    summed = select(c.member_id, *(func.sum(c[n]).label(n) for n in EXTRAS)).group_by(c.member_id)
    if members is not None:
        summed = summed.where(c.member_id.in_(members))
    return summed.subquery()


def days_present(
    joined: ColumnElement[Any], left: ColumnElement[Any], start: date, end: date
) -> ColumnElement[int]:
    """Return T of a stay over ``start``..``end`` (0 or less when absent), as a column."""
    first, last = start.toordinal(), end.toordinal()
    return (
        case((and_(left.is_not(None), left < last), left), else_=literal(last))
        - case((joined > first, joined), else_=literal(first))
        + 1
    )


def score_of(total: ColumnElement[Any], present: ColumnElement[Any]) -> ColumnElement[float]:
    """Return U = total / T as a column (0.0 for a member never present), a float division."""
    return case((present > 0, cast(total, Float) / cast(present, Float)), else_=literal(0.0, Float))


@dataclass(frozen=True, slots=True)
class Scoring:
    """Members' parts, days present and score as columns over the table holding the stays.

    ``source`` is that table (the kept range's rows, or the member totals) outer-joined with
    the live member days and the extras; ``rows`` picks the community's (and range's) rows with
    a stay; ``columns`` are ``PARTS``, ``days``, ``score`` and the stay's two ordinals.
    """

    table: Table
    joined: tuple[tuple[FromClause, ColumnElement[bool]], ...]  # outer-joined, with their ON
    member_id: ColumnElement[int]
    rows: ColumnElement[bool]
    columns: dict[str, ColumnElement[Any]]

    def onto(self, left: FromClause, on: ColumnElement[bool] | None = None) -> FromClause:
        """Return ``left`` outer-joined with the stays (``on`` them) and the sums beside them."""
        out = self.table if on is None else left.outerjoin(self.table, on)
        for right, condition in self.joined:
            out = out.outerjoin(right, condition)
        return out

    @property
    def source(self) -> FromClause:
        """Return the stays outer-joined with the sums beside them."""
        return self.onto(self.table)


def scoring(
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    members: Sequence[int] | Select[Any] | None = None,
    *,
    kept: date | None = None,
    among: Select[Any] | CompoundSelect[Any] | None = None,
) -> Scoring:
    """Return the score columns of every member with a kept stay (or only ``members``).

    ``members`` limits both the stays and the sums read: a list, or a query of member ids
    (``member_list``: thousands sent as one parameter).

    With ``kept``, the member sums from ``start`` to ``kept`` and the stays come from the
    range kept for them (``_ranges.keep``, one row per member) and only the member days after
    it are summed here; without, the stays come from the member totals. ``among`` (a query of
    member ids) limits the stays read, not the sums beside them.
    """
    d = analytics_member_days.c
    live = (
        select(
            d.member_id,
            func.sum(d.messages).label("messages"),
            func.sum(d.thread_messages).label("thread_messages"),
            func.sum(d.reactions).label("reactions"),
        )
        .where(
            d.community_id == community_id,
            d.day >= (start if kept is None else kept + timedelta(days=1)),
            d.day <= end,
        )
        .group_by(d.member_id)
    )
    if members is not None:
        live = live.where(d.member_id.in_(members))
    days_of = live.subquery()
    extra = extras(community_id, since, until, members)
    k = analytics_range_members.c
    t = analytics_member_totals.c
    # With a kept range, its rows hold every member's stay: the range alone is read.
    stay = t if kept is None else k
    first = start.toordinal()
    present = days_present(stay.joined_ordinal, stay.left_ordinal, start, end)

    def summed(name: str) -> ColumnElement[Any]:
        value = func.coalesce(days_of.c[name], 0)
        return value if kept is None else value + k[name]

    counts = {name: summed(name) for name in ("messages", "thread_messages", "reactions")} | {
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
    score = score_of(total, present)
    table = analytics_member_totals if kept is None else analytics_range_members
    rows = [stay.community_id == community_id, stay.joined_ordinal.is_not(None)]
    if kept is not None:
        rows += [k.first_ordinal == first, k.last_ordinal == kept.toordinal()]
    if members is not None:
        rows.append(stay.member_id.in_(members))
    if among is not None:
        rows.append(stay.member_id.in_(among))
    steady = {} if kept is None else {"steady_total": k.steady_total}
    return Scoring(
        table=table,
        joined=(
            (days_of, days_of.c.member_id == stay.member_id),
            (extra, extra.c.member_id == stay.member_id),
        ),
        member_id=stay.member_id,
        rows=and_(*rows),
        columns=counts
        | {
            "days": present,
            "score": score,
            "joined_ordinal": stay.joined_ordinal,
            "left_ordinal": stay.left_ordinal,
        }
        | steady,
    )


def scores(
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    members: Sequence[int] | Select[Any] | None = None,
    *,
    kept: date | None = None,
    among: Select[Any] | CompoundSelect[Any] | None = None,
) -> Subquery:
    """Return every member with a kept stay (or only ``members``): parts, days and score."""
    found = scoring(community_id, start, end, since, until, members, kept=kept, among=among)
    return (
        select(
            found.member_id.label("member_id"),
            *(value.label(name) for name, value in found.columns.items()),
        )
        .select_from(found.source)
        .where(found.rows)
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


def member_list(conn: AsyncConnection, members: AbstractSet[int]) -> Select[Any]:
    """Return a query of ``members`` sent as one parameter (a JSON array, or an array).

    Thousands of members as an ``IN`` list cost SQLAlchemy a bound parameter each, made and
    rendered per request (tens of milliseconds for the paying members of a big community).
    """
    ids = sorted(members)
    if conn.dialect.name == "sqlite":
        listed = func.json_each(json.dumps(ids)).table_valued("value")
    else:
        listed = (
            func.unnest(literal(ids, ARRAY(BigInteger()))).table_valued("value").render_derived()
        )
    return select(listed.c.value)


# --- the members list ------------------------------------------------------------------------

SORTABLE = frozenset(
    [MemberSort.ENGAGEMENT, MemberSort.MESSAGES, MemberSort.POINTS, MemberSort.JOINED]
)


@dataclass(frozen=True, slots=True)
class Listed:
    """One page of the members list as the database cut it, and the number matching."""

    total: int
    rows: list[tuple[Ranked, int, tuple[str, ...]]]  # the member, points, platforms


async def listing(
    conn: AsyncConnection,
    community_id: int,
    found: Scoring,
    *,
    start: date,
    end: date,
    sort: MemberSort,
    segment: Segment,
    paying: AbstractSet[int],
    offset: int,
    limit: int,
    members: Sequence[int] | None = None,
) -> Listed:
    """Filter the community's members by ``segment``, sort, count and cut them in SQL.

    Every member with an account is a row (or only ``members``: with the segment ``ALL`` the
    total still counts every one); the score columns are joined flat (a look-up a member).
    """
    a = accounts.c
    # Grouped as the index (community, member, platform) is read; only "two or more" matters,
    # and only to the linked segment (comparing each member's platforms costs more than the
    # grouping itself).
    linked = (
        [case((func.min(a.platform) != func.max(a.platform), 2), else_=1).label("platforms")]
        if segment is Segment.LINKED
        else []
    )
    every = select(a.member_id, *linked).where(a.community_id == community_id)
    if members is not None:
        every = every.where(a.member_id.in_(members))
    held = every.group_by(a.member_id).subquery()
    b = points_balances.c
    here = found.member_id.is_not(None)  # the member has a stay row in range

    def value(name: str, zero: Any) -> ColumnElement[Any]:
        return case((here, func.coalesce(found.columns[name], zero)), else_=literal(zero))

    points = func.coalesce(b.balance, 0)
    score = value("score", 0.0)
    messages = value("messages", 0)
    joined = found.columns["joined_ordinal"]
    left = found.columns["left_ordinal"]
    first, last = start.toordinal(), end.toordinal()
    where: ColumnElement[bool] | None
    if segment is Segment.LINKED:
        where = held.c.platforms > 1
    else:
        where = {
            Segment.ALL: None,
            Segment.PAYING: held.c.member_id.in_(member_list(conn, paying)),
            Segment.ACTIVE: or_(messages > 0, score > 0),
            Segment.INACTIVE: and_(left.is_(None), messages == 0, score == 0),
            Segment.NEW: and_(joined >= first, joined <= last),
            Segment.LEFT: and_(left >= first, left <= last),
        }[segment]
    base = select(
        held.c.member_id,
        points.label("points"),
        *(value(name, 0).label(name) for name in PARTS),
        value("days", 0).label("days"),
        score.label("score"),
        joined.label("joined_ordinal"),
        left.label("left_ordinal"),
    ).select_from(
        found.onto(held, and_(found.member_id == held.c.member_id, found.rows)).outerjoin(
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
    cut = base.order_by(*order[sort], held.c.member_id).offset(offset).limit(limit)
    if segment is Segment.ALL:
        # Every member with an account: counted from the index alone, and the page is cut
        # without a window count (which made the database keep and sort every row).
        rows = await fetch(conn, cut)
        counted = select(a.member_id).where(a.community_id == community_id).group_by(a.member_id)
        total = await conn.scalar(select(func.count()).select_from(counted.subquery()))
    else:
        # The number matching comes with the page (a window count, taken before the cut).
        page: Select[Any] = cut.add_columns(func.count().over().label("matching"))
        rows = await fetch(conn, page)
        if rows:
            total = rows[0].matching
        else:
            total = await conn.scalar(select(func.count()).select_from(base.subquery()))
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
