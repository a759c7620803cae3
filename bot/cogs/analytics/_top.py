"""The members list sorted by engagement: its first rows ranked from the kept range.

The list over every member (``_ranked.listing``) looks each account's member up in the kept
range, the live days, the extras and the points balances, then sorts them all. Sorted by
engagement with no segment, only the page's members matter: they are ranked as the
engagement page ranks its ends (``_steady.first_by_engagement``: the members scored per
request and an index walk over the steady ones, then the members scoring 0 in member order),
and the page's rows are then read for those members alone.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _steady as steady
from bot.cogs.analytics._figures import MemberSort, Segment


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
    paying: AbstractSet[int],
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
    chosen = await steady.first_by_engagement(
        conn, community_id, start, end, since, until, kept=kept, count=offset + limit
    )
    shown = chosen[offset:]
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
