"""The engagement page's figures over score rows: counts per bucket, the exact mean, the ends.

The rows come from ``_ranked.scores`` (every member of the range) or, with a range kept, from
``_steady`` (the members scored per request, beside the steady ones counted by index). The
database counts, buckets and sums the rows in one statement and cuts the ten highest and
lowest scores; the parts and days are then read for the shown members only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    Float,
    Subquery,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ranked as ranked_of
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import Bucket
from bot.cogs.analytics._pages import fetch
from bot.cogs.analytics._ranked import Ranked, ranked, scores
from bot.store.tables import analytics_member_totals


@dataclass(frozen=True, slots=True)
class Spread:
    """The engagement page's figures over the members present in the range."""

    population: int
    mean: float
    distribution: tuple[Bucket, ...]
    most: list[Ranked]
    least: list[Ranked]
    paying_present: int


def _at_least(score: ColumnElement[float], n: int) -> ColumnElement[int]:
    """Return 1 if a score is at least ``rules.SCORE_EDGES[n]``, else 0.

    Summed over the edges after the first, it is the score's bucket (``rules.bucket_index``).
    """
    return case((score >= rules.SCORE_EDGES[n], 1), else_=0)


async def paying_present(
    conn: AsyncConnection, community_id: int, start: date, end: date, paying: AbstractSet[int]
) -> int:
    """Count the ``paying`` members present in the range (their kept stays)."""
    if not paying:
        return 0
    t = analytics_member_totals.c
    first, last = start.toordinal(), end.toordinal()
    found = await conn.scalar(
        select(func.count()).where(
            t.community_id == community_id,
            t.member_id.in_(ranked_of.member_list(conn, paying)),
            t.joined_ordinal <= last,
            or_(t.left_ordinal.is_(None), t.left_ordinal >= first),
        )
    )
    return int(found or 0)


@dataclass(frozen=True, slots=True)
class Tally:
    """Score rows counted: members present, per bucket, numerators per days, the two ends."""

    population: int
    counts: Counter[int]  # bucket index -> members
    sums: Counter[int]  # days present -> I + D + C summed
    most: list[int]
    least: list[int]
    steady: Counter[int]  # kept steady total -> members (asked with ``steady``)


async def tally(
    conn: AsyncConnection, every: Subquery, start: date, end: date, top: int, *, steady: bool
) -> Tally:
    """Count, bucket and sum the present members of ``every`` (rows of ``scores``); cut the ends.

    One statement: the database counts members, those at or above each bucket's edge and
    sums their scores' numerators per days present (a few rows), and sorts out the ``top``
    highest and lowest; with ``steady``, it also counts the rows per kept steady total.
    """
    r = every.c
    total = r.messages + r.reactions + r.answers + r.accepted + r.attended + r.kudos
    kept_total = [r.steady_total.label("steady_total")] if steady else []
    present = (
        select(r.member_id, total.label("total"), r.days, r.score, *kept_total)
        .where(r.days > 0)
        .cte("present_scores")
    )
    c = present.c
    none = cast(literal(None), Float)
    edges = rules.SCORE_EDGES
    # One row for every member present: how many, the steady ones' (present every day of the
    # range) summed numerator, and how many scored at least each bucket's edge, as conditional
    # sums, not a row per group; only members present part of the range are grouped by days.
    whole_range = c.days == (end - start).days + 1
    zeros = [literal(0).label(f"at_least_{n}") for n in range(1, len(edges))]
    whole = select(
        literal(0).label("kind"),
        literal((end - start).days + 1).label("member_id"),
        func.count().label("n"),
        func.coalesce(func.sum(case((whole_range, c.total), else_=0)), 0).label("total"),
        none.label("score"),
        *(
            func.coalesce(func.sum(_at_least(c.score, n)), 0).label(f"at_least_{n}")
            for n in range(1, len(edges))
        ),
        func.coalesce(func.sum(case((whole_range, 1), else_=0)), 0).label("steady"),
    )
    parted = (
        select(
            literal(3).label("kind"),
            c.days.label("member_id"),
            func.count().label("n"),
            func.sum(c.total).label("total"),
            none.label("score"),
            *zeros,
            literal(0).label("steady"),
        )
        .where(~whole_range)
        .group_by(c.days)
    )
    ends = []
    for kind, order in ((1, [c.score.desc(), c.member_id]), (2, [c.score, c.member_id.desc()])):
        chosen = select(c.member_id, c.score).order_by(*order).limit(top).subquery()
        ends.append(
            select(
                literal(kind).label("kind"),
                chosen.c.member_id,
                literal(0).label("n"),
                literal(0).label("total"),
                chosen.c.score,
                *zeros,
                literal(0).label("steady"),
            )
        )
    if steady:
        ends.append(
            select(
                literal(4).label("kind"),
                c.steady_total.label("member_id"),
                func.count().label("n"),
                literal(0).label("total"),
                none.label("score"),
                *zeros,
                literal(0).label("steady"),
            )
            .where(c.steady_total >= 0)
            .group_by(c.steady_total)
        )
    counts: Counter[int] = Counter()
    sums: Counter[int] = Counter()
    kept: Counter[int] = Counter()
    most: list[int] = []
    least: list[int] = []
    population = 0
    for kind, key, n, summed, _, *at_least, steady_n in await fetch(
        conn, union_all(whole, parted, *ends)
    ):
        if kind == 0:
            population = int(n)
            if int(steady_n):
                sums[int(key)] += int(summed)
            above = [population, *(int(x) for x in at_least), 0]
            for bucket in range(len(edges)):
                counts[bucket] = above[bucket] - above[bucket + 1]
        elif kind == 3:
            sums[int(key)] += int(summed)
        elif kind == 4:
            kept[int(key)] += int(n)
        else:
            (most if kind == 1 else least).append(int(key))
    return Tally(population, counts, sums, most, least, kept)


def buckets(counts: Counter[int]) -> tuple[Bucket, ...]:
    """Return the distribution's buckets from the members counted per bucket index."""
    edges = rules.SCORE_EDGES
    return tuple(
        Bucket(edge, edges[n + 1] if n + 1 < len(edges) else None, counts[n])
        for n, edge in enumerate(edges)
    )


async def shown_lines(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    shown: Sequence[int],
    *,
    kept: date | None,
) -> dict[int, Ranked]:
    """Return the parts, days and score of the ``shown`` members."""
    if not shown:
        return {}
    chosen = scores(community_id, start, end, since, until, sorted(shown), kept=kept)
    return {x.member_id: x for x in map(ranked, await fetch(conn, select(chosen)))}


def ends(
    lines: Mapping[int, Ranked], most: Sequence[int], least: Sequence[int], top: int
) -> tuple[list[Ranked], list[Ranked]]:
    """Return the ``top`` highest and lowest of ``most`` and ``least`` by their lines' scores."""
    high = sorted(set(most), key=lambda m: (-lines[m].score, m))[:top]
    low = sorted(set(least), key=lambda m: (lines[m].score, -m))[:top]
    return [lines[m] for m in high], [lines[m] for m in low]


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
) -> Spread:
    """Count, average and bucket the scores of every member present; take the top and bottom.

    Every member is scored from the member totals and the range's days (no range kept: see
    ``_steady.spread``). The mean is the exact sum of the numerators over their days, rounded
    once (``rules.mean_score``); the parts and days are then read for the shown members only.
    """
    every = scores(community_id, start, end, since, until)
    found = await tally(conn, every, start, end, top, steady=False)
    lines = await shown_lines(
        conn, community_id, start, end, since, until, [*found.most, *found.least], kept=None
    )
    # A union's rows come in no set order: sort the shown members again.
    most, least = ends(lines, found.most, found.least, top)
    return Spread(
        population=found.population,
        mean=rules.mean_score(found.sums, found.population),
        distribution=buckets(found.counts),
        most=most,
        least=least,
        paying_present=await paying_present(conn, community_id, start, end, paying),
    )
