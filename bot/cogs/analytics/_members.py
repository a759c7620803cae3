"""The members list: a page of members matching a search and a segment, sorted and cut.

Three ways, by what the range and the request allow:

- a range reaching now, no search, a sort other than by name: filtered, sorted and cut in the
  database (``_top.listing``);
- a range reaching now with a search (``_searched``): the members whose names hold it are found
  first (``_directory.names_and_platforms`` and the casefold test); their sums and stays are
  then read from the kept range of closed days (one row each, by key: ``_ranges``), and only
  the days after it and the extras (Q&A, lectures, kudos) are summed, the members sent as one
  parameter; sorted and cut in Python, as few as they are;
- anything else (a past range, or all members by name): in Python over every member's presence
  and days as at the range's end (``over_rows``).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _directory as directory
from bot.cogs.analytics import _pages as pages
from bot.cogs.analytics import _people as people
from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _top as top
from bot.cogs.analytics._figures import MemberRow, Members, MemberSort, Segment


async def members(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    zone: ZoneInfo,
    *,
    now: datetime,
    kept: date | None,
    paying: AbstractSet[int],
    search: str,
    sort: MemberSort,
    segment: Segment,
    offset: int,
    limit: int,
) -> Members:
    """Return a page of members matching ``search`` (a name) and ``segment``, sorted.

    ``kept`` is the last day of the range's kept member sums (None: none kept), ``paying`` the
    members paying at the range's end.
    """
    since, until = rules.window(start, end, zone)
    limit = max(0, min(limit, directory.MAX_LIMIT))
    offset = max(0, offset)
    if until > now and search.strip():
        return await _searched(
            conn,
            community_id,
            start,
            end,
            since,
            until,
            kept=kept,
            paying=paying,
            search=search,
            sort=sort,
            segment=segment,
            offset=offset,
            limit=limit,
        )
    if until > now and sort in ranked.SORTABLE:
        found = await top.listing(
            conn,
            community_id,
            start,
            end,
            since,
            until,
            kept=kept,
            sort=sort,
            segment=segment,
            paying=paying,
            offset=offset,
            limit=limit,
        )
        names = await pages.names_of(conn, [r.member_id for r, _, _ in found.rows])
        return Members(
            total=found.total,
            rows=tuple(
                MemberRow(
                    member_id=r.member_id,
                    name=names.get(r.member_id, ""),
                    platforms=platforms,
                    joined=r.joined,
                    left=r.left,
                    messages=r.messages,
                    points=points,
                    paying=r.member_id in paying,
                    score=r.score,
                )
                for r, points, platforms in found.rows
            ),
        )
    return await over_rows(
        conn,
        community_id,
        start,
        end,
        zone,
        paying=paying,
        search=search,
        sort=sort,
        segment=segment,
        offset=offset,
        limit=limit,
    )


async def _searched(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    kept: date | None,
    paying: AbstractSet[int],
    search: str,
    sort: MemberSort,
    segment: Segment,
    offset: int,
    limit: int,
) -> Members:
    """Return a page of the members matching ``search`` over a range reaching now.

    Only the members whose names hold the search are read (every member when more than
    ``people.IN_LIMIT`` do), sent as one parameter (a JSON array, or an array): their kept
    range's row by key (sums from ``start`` to ``kept`` and the stay as kept now), the member
    days after ``kept`` and the extras of each. With no range kept (a range of today alone),
    the stays are the member totals and every day of the range is summed.
    """
    needle = search.strip().casefold()
    identities = {
        m: held
        for m, held in (await directory.names_and_platforms(conn, community_id, needle)).items()
        if needle in held[2]
    }
    few = len(identities) <= people.IN_LIMIT
    listed = ranked.member_list(conn, identities.keys()) if few else None
    stays: dict[int, people.Span] = {}
    parts: dict[int, people.Parts] = {}
    if identities:
        found = ranked.scores(community_id, start, end, since, until, listed, kept=kept).c
        read = select(found.member_id, *(found[name] for name in ranked.PARTS)).add_columns(
            found.joined_ordinal, found.left_ordinal
        )
        # The parts come in ``ranked.PARTS`` order, which is ``Parts``' field order.
        for m, *counts, joined, left in await pages.fetch(conn, read):
            if joined is not None:
                stays[m] = people.Span(
                    date.fromordinal(joined), None if left is None else date.fromordinal(left)
                )
            parts[m] = people.Parts(*counts)
    points = await directory.balances(conn, community_id, listed) if identities else {}
    return directory.listing(
        identities=identities,
        stays=stays,
        parts=parts,
        points=points,
        paying=paying,
        start=start,
        end=end,
        search=search,
        sort=sort,
        segment=segment,
        offset=offset,
        limit=limit,
    )


async def over_rows(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    zone: ZoneInfo,
    *,
    paying: AbstractSet[int],
    search: str,
    sort: MemberSort,
    segment: Segment,
    offset: int,
    limit: int,
) -> Members:
    """Filter, sort and cut the members list in Python, their stays as at the range's end.

    A search reads the figures of the members whose names may match only (all members'
    when more than ``people.IN_LIMIT`` may), sent as one parameter.
    """
    since, until = rules.window(start, end, zone)
    needle = search.strip().casefold()
    identities = await directory.names_and_platforms(conn, community_id, needle)
    few = bool(needle) and len(identities) <= people.IN_LIMIT
    only = ranked.member_list(conn, identities.keys()) if few else None
    stays = people.stays(await pages.presence(conn, community_id, until, members=only), zone, until)
    parts = await people.parts(conn, community_id, start, end, since, until, members=only)
    points = await directory.balances(conn, community_id, only)
    return directory.listing(
        identities=identities,
        stays=stays,
        parts=parts,
        points=points,
        paying=paying,
        start=start,
        end=end,
        search=search,
        sort=sort,
        segment=segment,
        offset=offset,
        limit=limit,
    )
