"""Scores over a kept range without a row per member: the steady members counted by index.

A member present every day of a range reaching today (joined by its first day, not gone)
scores (I + D + C) / T with T the range's days; with no days after the kept range and no
extras in the range (Q&A answers, accepted answers, lectures attended, kudos: over the whole
range, not only today), their I + D + C is the kept range's messages + reactions alone, kept
beside their row as ``steady_total`` (``_ranges.keep`` and the triggers of migration 0029).
Those members are counted per steady total from an index (a row per distinct total, not per
member), and each total's score is the total divided by T in Python, the same float division
as the database's (two integers exactly represented, correctly rounded), so a bucket edge
needs no arithmetic of its own. Only the others are scored per request, as two disjoint
parts: members present part of the range (``steady_total`` NULL) and not moving, read from
the same index, which covers their sums; and the moving members (days after the kept range or
extras: found once per request, handed to the other statements as one parameter), each looked
up with their live sums. Moving members with a steady total are taken
out of its count. The ends (most and least engaged, the members list's first rows) walk the
index from the highest or lowest total, skipping moving members. Members never present in the
range (-1: no stay, or gone before it) are in neither part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    exists,
    func,
    literal,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _spread as spread_of
from bot.cogs.analytics._pages import fetch, fetch_scalars
from bot.store.tables import accounts, analytics_member_days, analytics_range_members

K = analytics_range_members.c


async def moving(
    conn: AsyncConnection,
    community_id: int,
    end: date,
    since: datetime,
    until: datetime,
    kept: date,
) -> frozenset[int]:
    """Return the members whose sums are not the kept range's alone: later days, extras.

    Read once per request and handed to each statement as one parameter: as a subquery, the
    days after the kept range and the extras were read again by every statement.
    """
    d = analytics_member_days.c
    extra = ranked.extras(community_id, since, until, None)
    found = await fetch_scalars(
        conn,
        union(
            select(d.member_id).where(d.community_id == community_id, d.day > kept, d.day <= end),
            select(extra.c.member_id),
        ),
    )
    return frozenset(int(m) for m in found)


@dataclass(frozen=True, slots=True)
class Range:
    """A page's range reaching today, with the kept range of its closed days."""

    community_id: int
    start: date
    end: date
    since: datetime
    until: datetime
    kept: date
    conn: AsyncConnection
    moved: frozenset[int]  # the moving members: days after the kept range, or extras

    @property
    def days(self) -> int:
        """Return T of a member present every day of the range."""
        return (self.end - self.start).days + 1

    def rows(self) -> ColumnElement[bool]:
        """Return the condition picking the kept range's rows."""
        return and_(
            K.community_id == self.community_id,
            K.first_ordinal == self.start.toordinal(),
            K.last_ordinal == self.kept.toordinal(),
        )

    def moving(self) -> Select[Any]:
        """Return the members whose sums are not the kept range's alone (``moved``, one list)."""
        return ranked.member_list(self.conn, self.moved)

    def steady(self) -> ColumnElement[bool]:
        """Return the condition picking the range's rows of members not moving."""
        return and_(self.rows(), K.member_id.not_in(self.moving()))


def _partial(r: Range) -> Select[Any]:
    """Return the score rows of members present part of the range and not moving.

    Their sums are the kept range's alone, read from the steady index (it covers them).
    """
    total = K.messages + K.reactions
    present = ranked.days_present(K.joined_ordinal, K.left_ordinal, r.start, r.end)
    return select(
        K.member_id,
        K.messages,
        K.thread_messages,
        K.reactions,
        *(literal(0).label(name) for name in ranked.EXTRAS),
        present.label("days"),
        ranked.score_of(total, present).label("score"),
        K.joined_ordinal,
        K.left_ordinal,
        K.steady_total,
    ).where(r.steady(), K.steady_total.is_(None), K.joined_ordinal.is_not(None))


def _moved(r: Range) -> Subquery:
    """Return the score rows of the moving members, each with their live sums and extras."""
    return ranked.scores(
        r.community_id, r.start, r.end, r.since, r.until, kept=r.kept, among=r.moving()
    )


def others(r: Range) -> Subquery:
    """Return the score rows of every member scored per request (the two parts)."""
    moved = _moved(r)
    return union_all(_partial(r), select(*moved.c)).subquery()


async def steady_counts(
    conn: AsyncConnection, r: Range, taken: Mapping[int, int]
) -> dict[int, int]:
    """Return the steady members per total, less ``taken`` (those scored per request) of each."""
    found = await fetch(
        conn,
        select(K.steady_total, func.count())
        .where(r.rows(), K.steady_total >= 0)
        .group_by(K.steady_total),
    )
    counts = {int(total): int(n) - taken.get(int(total), 0) for total, n in found}
    return {total: n for total, n in counts.items() if n > 0}


async def walk(
    conn: AsyncConnection,
    where: ColumnElement[bool],
    counts: Mapping[int, int],
    count: int,
    *,
    highest: bool,
) -> list[tuple[int, int]]:
    """Return the first ``count`` (total, member) of the steady rows ``where`` picks, in order.

    Highest first: totals down, members up; lowest first: totals up, members down (the
    scores' order and its tie-break). ``counts`` (members per total, of those ``where`` may
    pick) says how far to read: every row beyond the last total needed, and at that total only
    as many as needed, by the index.
    """
    if count <= 0 or not counts:
        return []
    need = count
    last = 0
    for total in sorted(counts, reverse=highest):
        last = total
        need -= min(need, counts[total])
        if need == 0:
            break
    beyond_n = sum(n for t, n in counts.items() if (t > last if highest else t < last))
    beyond = K.steady_total > last if highest else and_(K.steady_total >= 0, K.steady_total < last)
    cut = (
        select(K.steady_total, K.member_id)
        .where(where, K.steady_total == last)
        .order_by(K.member_id if highest else K.member_id.desc())
        .limit(max(0, count - beyond_n))
        .subquery()
    )
    rows = await fetch(
        conn,
        union_all(
            select(K.steady_total, K.member_id).where(where, beyond),
            select(cut.c.steady_total, cut.c.member_id),
        ),
    )
    found = [(int(total), int(m)) for total, m in rows]
    found.sort(key=lambda x: (-x[0], x[1]) if highest else (x[0], -x[1]))
    return found[:count]


async def spread(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    top: int,
    paying: AbstractSet[int],
    kept: date | None,
) -> spread_of.Spread:
    """Return the engagement page's figures: the steady members counted per total by index.

    What ``_spread.spread`` does not: with a range of closed days kept, the members present
    all the range and not moving are counted per kept total from the steady index (a row per
    distinct total, not per member) and their ends walked from it; only the others are scored
    row by row (``others``, tallied by ``_spread.tally``). With none kept (a range of today
    alone), every member is scored by ``_spread.spread``.
    """
    if kept is None:
        return await spread_of.spread(
            conn, community_id, start, end, since, until, top=top, paying=paying
        )
    moved = await moving(conn, community_id, end, since, until, kept)
    r = Range(community_id, start, end, since, until, kept, conn, moved)
    found = await spread_of.tally(conn, others(r), start, end, top, steady=True)
    counts = await steady_counts(conn, r, found.steady)
    population = found.population + sum(counts.values())
    sums = Counter(found.sums)
    sums[r.days] += sum(total * n for total, n in counts.items())
    buckets = Counter(found.counts)
    for total, n in counts.items():
        buckets[rules.bucket_index(rules.score(total, 0, 0, r.days))] += n
    most = [m for _, m in await walk(conn, r.steady(), counts, top, highest=True)]
    least = [m for _, m in await walk(conn, r.steady(), counts, top, highest=False)]
    lines = await spread_of.shown_lines(
        conn,
        community_id,
        start,
        end,
        since,
        until,
        sorted({*found.most, *found.least, *most, *least}),
        kept=kept,
    )
    high, low = spread_of.ends(lines, [*found.most, *most], [*found.least, *least], top)
    return spread_of.Spread(
        population=population,
        mean=rules.mean_score(sums, population),
        distribution=spread_of.buckets(buckets),
        most=high,
        least=low,
        paying_present=await spread_of.paying_present(conn, community_id, start, end, paying),
    )


async def first_by_engagement(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    kept: date,
    count: int,
) -> list[int]:
    """Return the ``count`` members with an account ranked first by score, then member id.

    The members scoring above 0: the highest of those scored per request and of the steady
    ones (walking the index); then the members scoring 0 (no stay in the range, no days, or
    no sums), in member order, as the list over every member ties them.
    """
    if count <= 0:
        return []
    moved = await moving(conn, community_id, end, since, until, kept)
    r = Range(community_id, start, end, since, until, kept, conn, moved)
    a = accounts.c
    # The moving members' scores and kept totals, read once; their totals are counted here:
    # grouped in the database, the steady index would be read in its order instead of the
    # moving members being looked up.
    m = _moved(r).c
    rows = await fetch(conn, select(m.member_id, m.score, m.steady_total))
    taken = Counter(int(t) for _, _, t in rows if t is not None and t >= 0)
    chosen = await _scored_first(conn, r, [(float(s), int(x)) for x, s, _ in rows], count)
    counts = {t: n for t, n in (await steady_counts(conn, r, taken)).items() if t > 0}
    where = and_(
        r.steady(), exists().where(a.community_id == community_id, a.member_id == K.member_id)
    )
    # Members with a steady row and no account (an erased member's days) are skipped by
    # ``where``: read further until ``count`` are found or the steady rows run out.
    want = count
    while True:
        steady = await walk(conn, where, counts, want, highest=True)
        if len(steady) >= count or want >= sum(counts.values()):
            break
        want += count - len(steady)
    chosen += [(rules.score(total, 0, 0, r.days), m) for total, m in steady]
    chosen.sort(key=lambda x: (-x[0], x[1]))
    shown = [m for _, m in chosen[:count]]
    if len(shown) < count:
        shown += await _zeros(conn, r, count - len(shown))
    return shown


async def _held(conn: AsyncConnection, community_id: int, members: list[int]) -> set[int]:
    """Return which of ``members`` have an account."""
    if not members:
        return set()
    a = accounts.c
    found = await fetch_scalars(
        conn,
        select(a.member_id)
        .where(a.community_id == community_id, a.member_id.in_(members))
        .group_by(a.member_id),
    )
    return {int(m) for m in found}


async def _scored_first(
    conn: AsyncConnection, r: Range, moved: list[tuple[float, int]], count: int
) -> list[tuple[float, int]]:
    """Return the first ``count`` (score, member) above 0 of those scored per request.

    ``moved`` are the moving members' (score, member), read already; the members present part
    of the range are read by score. Only members with an account: checked for the rows read,
    not for every row (a member with none is rare), reading further until ``count`` are found
    or the rows run out.
    """
    partial = _partial(r).subquery().c
    ahead = sorted(((s, m) for s, m in moved if s > 0), key=lambda x: (-x[0], x[1]))
    want = count
    while True:
        rows = [
            (float(s), int(m))
            for m, s in await fetch(
                conn,
                select(partial.member_id, partial.score)
                .where(partial.score > 0)
                .order_by(partial.score.desc(), partial.member_id)
                .limit(want),
            )
        ]
        first = sorted([*rows, *ahead[:want]], key=lambda x: (-x[0], x[1]))[:want]
        held = await _held(conn, r.community_id, [m for _, m in first])
        chosen = [(s, m) for s, m in first if m in held]
        if len(chosen) >= count or len(first) < want:
            return chosen[:count]
        want += count - len(chosen)


async def _zeros(conn: AsyncConnection, r: Range, count: int) -> list[int]:
    """Return the first ``count`` members with an account scoring 0, in member order."""
    a = accounts.c
    held = (
        select(a.member_id).where(a.community_id == r.community_id).group_by(a.member_id).subquery()
    )
    found = ranked.scoring(r.community_id, r.start, r.end, r.since, r.until, kept=r.kept)
    here = found.member_id.is_not(None)
    score: ColumnElement[Any] = func.coalesce(found.columns["score"], 0.0)
    query: Select[Any] = (
        select(held.c.member_id)
        .select_from(found.onto(held, and_(found.member_id == held.c.member_id, found.rows)))
        .where(~here | (score <= 0))
        .order_by(held.c.member_id)
        .limit(count)
    )
    return [int(m) for (m,) in await fetch(conn, query)]
