"""The members list sorted by engagement: its first rows ranked from the kept range alone.

The list over every member (``_ranked.listing``) looks each account's member up in the kept
range, the live days, the extras and the points balances, then sorts them all. Sorted by
engagement with no segment, only the page's members matter: the kept range's rows (every
member with a stay) are ranked by the same score column, with no look-up but whether the
member has an account, and the page's rows are then read for those members alone. Members
with an account and no stay row score 0; they are sought only when the ranked rows do not
fill the page with scores above 0 (they would tie at 0 with the rest, by member id).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics._figures import MemberSort, Segment
from bot.cogs.analytics._pages import fetch, fetch_scalars
from bot.store.tables import accounts


async def first_by_engagement(
    conn: AsyncConnection, community_id: int, found: ranked.Scoring, count: int
) -> list[int]:
    """Return the ``count`` members with an account ranked first by score, then member id."""
    if count <= 0:
        return []
    a = accounts.c
    score = found.columns["score"]
    held = exists().where(a.community_id == community_id, a.member_id == found.member_id)
    chosen = [
        (float(s), int(m))
        for m, s in await fetch(
            conn,
            select(found.member_id, score)
            .select_from(found.source)
            .where(found.rows, held)
            .order_by(score.desc(), found.member_id)
            .limit(count),
        )
    ]
    if len(chosen) < count or chosen[-1][0] <= 0:
        # Members with an account and no stay row in the range score 0, like those ranked last.
        stayless = await fetch_scalars(
            conn,
            select(a.member_id)
            .where(
                a.community_id == community_id,
                ~exists().where(found.member_id == a.member_id, found.rows),
            )
            .group_by(a.member_id)
            .order_by(a.member_id)
            .limit(count),
        )
        chosen += [(0.0, int(m)) for m in stayless]
    chosen.sort(key=lambda x: (-x[0], x[1]))
    return [m for _, m in chosen[:count]]


async def listing(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    kept: date | None,
    sort: MemberSort,
    segment: Segment,
    paying: set[int],
    offset: int,
    limit: int,
) -> ranked.Listed:
    """Return a page of the members list cut in SQL: all by engagement, a range kept, from it."""
    if sort is not MemberSort.ENGAGEMENT or segment is not Segment.ALL or kept is None:
        return await ranked.listing(
            conn,
            community_id,
            ranked.scoring(community_id, start, end, since, until, kept=kept),
            start=start,
            end=end,
            sort=sort,
            segment=segment,
            paying=paying,
            offset=offset,
            limit=limit,
        )
    every = ranked.scoring(community_id, start, end, since, until, kept=kept)
    shown = (await first_by_engagement(conn, community_id, every, offset + limit))[offset:]
    return await ranked.listing(
        conn,
        community_id,
        ranked.scoring(community_id, start, end, since, until, shown, kept=kept),
        start=start,
        end=end,
        sort=MemberSort.ENGAGEMENT,
        segment=Segment.ALL,
        paying=paying,
        offset=0,
        limit=len(shown),
        members=shown,
    )
