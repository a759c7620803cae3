"""Reading the recommender's data from the store: catalog, purchases, messages, settings.

Nothing here needs numpy: the bot serves and counts without it; ``_load`` reads training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.recommend._types import Course, catalog_digest
from bot.store.tables import courses, members, message_log, purchases, recommend_prefs


def epoch_micros(column: ColumnElement[datetime], dialect: str) -> ColumnElement[int]:
    """Return a stored UTC timestamp as whole microseconds since the epoch, computed in SQL.

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text: whole seconds from ``strftime('%s')`` of
    the first 19 characters (given the fraction, SQLite rounds to the millisecond and may carry
    into the next second) plus the six fraction digits. PostgreSQL's ``extract(epoch)`` is exact.
    """
    if dialect == "sqlite":
        seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)
        return seconds * 1_000_000 + cast(func.substr(column, 21, 6), Integer)
    return cast(func.extract("epoch", column) * 1_000_000, BigInteger)


def split_list(text: str) -> tuple[str, ...]:
    """Read a comma-separated column back into a tuple."""
    return tuple(part for part in text.split(",") if part)


async def read_catalog(conn: AsyncConnection, community_id: int) -> list[Course]:
    """Return the community's courses in catalog order."""
    rows = await conn.execute(
        select(
            courses.c.course_id,
            courses.c.title,
            courses.c.description,
            courses.c.tags,
            courses.c.language,
            courses.c.tiers,
        )
        .where(courses.c.community_id == community_id)
        .order_by(courses.c.position)
    )
    return [
        Course(
            id=r.course_id,
            title=r.title,
            description=r.description,
            tags=split_list(r.tags),
            language=r.language or "",
            tiers=split_list(r.tiers),
        )
        for r in rows
    ]


async def data_version(conn: AsyncConnection, community_id: int) -> str:
    """Return a string that changes whenever purchases or the catalog change."""
    bought = (
        await conn.execute(
            select(
                func.count(),
                func.max(purchases.c.id),
                func.count(purchases.c.refunded_at),
            ).where(purchases.c.community_id == community_id)
        )
    ).one()
    said = await conn.scalar(
        select(func.max(message_log.c.id)).where(message_log.c.community_id == community_id)
    )
    catalog = catalog_digest(await read_catalog(conn, community_id))
    return f"p{bought[0]}.{bought[1] or 0}.r{bought[2]}.m{said or 0}.c{catalog}"


def opted_out(community_id: int) -> Select[tuple[int]]:
    """Return a subquery of the members who keep their messages out of recommendations."""
    return select(recommend_prefs.c.member_id).where(
        recommend_prefs.c.community_id == community_id,
        recommend_prefs.c.use_messages.is_(False),
    )


async def owned_courses(conn: AsyncConnection, community_id: int, member_id: int) -> list[str]:
    """Return the ids of the courses a member bought and kept."""
    rows = await conn.execute(
        select(courses.c.course_id)
        .join(
            purchases,
            and_(
                purchases.c.community_id == courses.c.community_id,
                purchases.c.offer_id == courses.c.offer_id,
            ),
        )
        .where(
            purchases.c.community_id == community_id,
            purchases.c.member_id == member_id,
            purchases.c.refunded_at.is_(None),
        )
    )
    return [r[0] for r in rows]


async def recent_text(conn: AsyncConnection, member_id: int, *, since: datetime, limit: int) -> str:
    """Return a member's latest messages since a time, oldest first, as one text."""
    rows = await conn.execute(
        select(message_log.c.text)
        .where(message_log.c.member_id == member_id, message_log.c.posted_at >= since)
        .order_by(message_log.c.posted_at.desc())
        .limit(limit)
    )
    return "\n".join(reversed([r[0] for r in rows]))


async def member_inputs(
    conn: AsyncConnection,
    community_id: int,
    member_id: int,
    *,
    since: datetime | None,
    limit: int,
) -> tuple[list[str], list[float], str | None]:
    """Return a member's kept courses, when each was taken, and latest messages in one query.

    Courses come oldest first with their purchase times (epoch seconds: recency weighting
    needs the order); the text is the messages oldest first, None when ``since`` is None or
    the member turned the use of messages off. One statement instead of three: serving one
    member is mostly these round trips.
    """
    owned = (
        select(
            literal(0).label("kind"),
            courses.c.course_id.label("value"),
            null().label("at"),
            epoch_micros(purchases.c.purchased_at, conn.dialect.name).label("taken"),
        )
        .join(
            purchases,
            and_(
                purchases.c.community_id == courses.c.community_id,
                purchases.c.offer_id == courses.c.offer_id,
            ),
        )
        .where(
            purchases.c.community_id == community_id,
            purchases.c.member_id == member_id,
            purchases.c.refunded_at.is_(None),
        )
    )
    if since is None or limit <= 0:
        return (*_taken((await conn.execute(owned)).all()), None)
    latest = (
        select(message_log.c.text, message_log.c.posted_at)
        .where(message_log.c.member_id == member_id, message_log.c.posted_at >= since)
        .order_by(message_log.c.posted_at.desc())
        .limit(limit)
        .subquery()
    )
    opted_out_here = exists().where(
        recommend_prefs.c.community_id == community_id,
        recommend_prefs.c.member_id == member_id,
        recommend_prefs.c.use_messages.is_(False),
    )
    said = select(literal(1).label("kind"), latest.c.text, latest.c.posted_at, null())
    flag = select(literal(2).label("kind"), null(), null(), null()).where(opted_out_here)
    rows = (await conn.execute(union_all(owned, said, flag))).all()
    ids, taken = _taken([r for r in rows if r[0] == 0])
    if any(r[0] == 2 for r in rows):
        return ids, taken, None
    messages = sorted((r for r in rows if r[0] == 1), key=lambda r: str(r[2]))
    return ids, taken, "\n".join(str(r[1]) for r in messages)


def _taken(rows: Sequence[Row[Any]]) -> tuple[list[str], list[float]]:
    """Return owned-course rows' ids and times (seconds), oldest first (ties by id)."""
    ordered = sorted((int(r[3]), str(r[1])) for r in rows)
    return [course for _, course in ordered], [micros / 1e6 for micros, _ in ordered]


async def popularity_counts(conn: AsyncConnection, community_id: int) -> dict[str, int]:
    """Return how many members kept each course (the fallback when there is no model)."""
    rows = await conn.execute(
        select(courses.c.course_id, func.count(func.distinct(purchases.c.member_id)))
        .join(
            purchases,
            and_(
                purchases.c.community_id == courses.c.community_id,
                purchases.c.offer_id == courses.c.offer_id,
            ),
        )
        .where(courses.c.community_id == community_id, purchases.c.refunded_at.is_(None))
        .group_by(courses.c.course_id)
    )
    return {r[0]: int(r[1]) for r in rows}


async def member_counts(
    conn: AsyncConnection, community_id: int, since: datetime
) -> dict[str, int]:
    """Count members, those with kept purchases, and those with only usable messages."""
    total = await conn.scalar(
        select(func.count()).select_from(members).where(members.c.community_id == community_id)
    )
    buyers = (
        select(purchases.c.member_id)
        .join(
            courses,
            and_(
                courses.c.community_id == purchases.c.community_id,
                courses.c.offer_id == purchases.c.offer_id,
            ),
        )
        .where(purchases.c.community_id == community_id, purchases.c.refunded_at.is_(None))
        .distinct()
    )
    warm = await conn.scalar(select(func.count()).select_from(buyers.subquery()))
    writers = (
        select(message_log.c.member_id)
        .where(
            message_log.c.community_id == community_id,
            message_log.c.posted_at >= since,
            message_log.c.member_id.not_in(buyers),
            message_log.c.member_id.not_in(opted_out(community_id)),
        )
        .distinct()
    )
    text_only = await conn.scalar(select(func.count()).select_from(writers.subquery()))
    return {"members": int(total or 0), "warm": int(warm or 0), "text_only": int(text_only or 0)}
