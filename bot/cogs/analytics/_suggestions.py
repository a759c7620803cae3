"""Course suggestions shown to members, and the recommender page read from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import Recommender
from bot.cogs.analytics._pages import fetch, present_at
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    analytics_member_days,
    analytics_presence,
    analytics_range_members,
    analytics_suggestions,
    courses,
    purchases,
    recommend_prefs,
)

KEYS = ("community_id", "member_id", "course_id")


async def record_shown(
    db: Database,
    community_id: int,
    member_id: int,
    shown: Sequence[tuple[str, str]],
    *,
    personal: bool,
    at: datetime,
) -> int:
    """Record courses (course id, offer id) shown to a member; return how many were new."""
    if not shown:
        return 0
    rows = [
        {
            "community_id": community_id,
            "member_id": member_id,
            "course_id": course_id,
            "offer_id": offer_id,
            "personal": personal,
            "shown_at": at,
        }
        for course_id, offer_id in dict(shown).items()
    ]
    async with db.write() as conn:
        added = await insert_ignore_returning(conn, analytics_suggestions, rows, keys=KEYS)
    return len(added)


async def merge_members(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Keep the survivor's row for a course both members were shown."""
    s = analytics_suggestions.c
    theirs = select(s.course_id).where(s.member_id == survivor)
    await conn.execute(
        delete(analytics_suggestions).where(s.member_id == absorbed, s.course_id.in_(theirs))
    )


async def page(
    conn: AsyncConnection,
    community_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    *,
    kept: date | None = None,
) -> Recommender:
    """Return the recommender page over ``[since, until)`` for the members present at its end.

    Who is present, who bought a course and who wrote are counted in one query (present
    members with a kept course or, unless they turned the recommendations off, a message in
    the range), not read as sets of ids. With ``kept`` (a range reaching now), the members
    present and their messages up to ``kept`` come from the range kept for them.
    """
    catalog = int(
        await conn.scalar(
            select(func.count()).select_from(courses).where(courses.c.community_id == community_id)
        )
        or 0
    )
    p = purchases.c
    buyers = (
        select(p.member_id)
        .join(
            courses,
            and_(courses.c.community_id == p.community_id, courses.c.offer_id == p.offer_id),
        )
        .where(p.community_id == community_id, p.refunded_at.is_(None), p.purchased_at < until)
    )
    d = analytics_member_days.c
    r = recommend_prefs.c
    opted_out = select(r.member_id).where(r.community_id == community_id, r.use_messages.is_(False))
    wrote: ColumnElement[bool]
    if kept is None:
        writers = select(d.member_id).where(
            d.community_id == community_id, d.day >= start, d.day <= end, d.messages > 0
        )
        a = analytics_presence.c
        present = (
            select(a.member_id)
            .where(a.community_id == community_id, present_at(until))
            .distinct()
            .subquery()
        )
        member = present.c.member_id
        wrote = member.in_(writers)
    else:
        # A range reaching now: the kept range's rows, one per member with their stay (present:
        # no leave) and their messages on the closed days; only today's writers are looked up.
        k = analytics_range_members.c
        present = (
            select(k.member_id, k.messages)
            .where(
                k.community_id == community_id,
                k.first_ordinal == start.toordinal(),
                k.last_ordinal == kept.toordinal(),
                k.joined_ordinal.is_not(None),
                k.left_ordinal.is_(None),
            )
            .subquery()
        )
        member = present.c.member_id
        today = select(d.member_id).where(
            d.community_id == community_id, d.day > kept, d.day <= end, d.messages > 0
        )
        wrote = or_(present.c.messages > 0, member.in_(today))
    personal_of = or_(member.in_(buyers), and_(wrote, member.not_in(opted_out)))
    members, personal = (
        await conn.execute(
            select(
                func.count(), func.coalesce(func.sum(case((personal_of, 1), else_=0)), 0)
            ).select_from(present)
        )
    ).one()
    members, personal = int(members), int(personal)
    s = analytics_suggestions.c
    shown = (
        await conn.execute(
            select(s.member_id, s.course_id, s.offer_id, s.shown_at).where(
                s.community_id == community_id, s.shown_at >= since, s.shown_at < until
            )
        )
    ).all()
    bought = 0
    if shown:
        first_buy: dict[tuple[int, str], list[datetime]] = {}
        for member_id, offer_id, at in await fetch(
            conn,
            select(p.member_id, p.offer_id, p.purchased_at).where(
                p.community_id == community_id,
                p.purchased_at >= since,
                p.purchased_at < until,
                p.refunded_at.is_(None),
            ),
        ):
            first_buy.setdefault((member_id, offer_id), []).append(at)
        for row in shown:
            times = first_buy.get((row.member_id, row.offer_id), [])
            if any(at >= row.shown_at for at in times):
                bought += 1
    suggested = len({row.course_id for row in shown})
    return Recommender(
        start=start,
        end=end,
        courses=catalog,
        members=members,
        members_with_suggestions=personal,
        coverage=rules.ratio(personal, members),
        suggested_courses=suggested,
        catalog_coverage=rules.ratio(suggested, catalog),
        shown=len(shown),
        bought=bought,
        conversion=rules.ratio(bought, len(shown)),
    )
