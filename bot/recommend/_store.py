"""Reading the recommender's data from the store: catalog, purchases, messages, settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.recommend._data import Course, Dataset, catalog_digest
from bot.store.db import Database
from bot.store.tables import courses, members, message_log, purchases, recommend_prefs

PARTITION = 50_000


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


def _opted_out(community_id: int) -> object:
    return select(recommend_prefs.c.member_id).where(
        recommend_prefs.c.community_id == community_id,
        recommend_prefs.c.use_messages.is_(False),
    )


async def load_dataset(
    db: Database,
    community_id: int,
    *,
    now: datetime,
    text_window: timedelta,
    messages_per_member: int,
) -> Dataset:
    """Read everything training needs: catalog, kept purchases, recent messages of members
    who allow it. Timestamps are read as text and parsed by numpy (no per-row objects)."""
    async with db.read() as conn:
        catalog = await read_catalog(conn, community_id)
        version = await data_version(conn, community_id)
        position = courses.c.position
        bought = (
            select(
                purchases.c.member_id,
                position,
                type_coerce(purchases.c.purchased_at, String),
            )
            .join(
                courses,
                and_(
                    courses.c.community_id == purchases.c.community_id,
                    courses.c.offer_id == purchases.c.offer_id,
                ),
            )
            .where(purchases.c.community_id == community_id, purchases.c.refunded_at.is_(None))
        )
        ev_members: list[np.ndarray] = []
        ev_items: list[np.ndarray] = []
        ev_times: list[np.ndarray] = []
        result = await conn.stream(bought.execution_options(yield_per=PARTITION))
        async for part in result.partitions(PARTITION):
            columns = list(zip(*part, strict=True))
            ev_members.append(np.array(columns[0], dtype=np.int64))
            ev_items.append(np.array(columns[1], dtype=np.int64))
            ev_times.append(_epochs(columns[2]))
        ranked = (
            select(
                message_log.c.member_id,
                type_coerce(message_log.c.posted_at, String).label("posted"),
                message_log.c.text,
                func.row_number()
                .over(
                    partition_by=message_log.c.member_id,
                    order_by=message_log.c.posted_at.desc(),
                )
                .label("rank"),
            )
            .where(
                message_log.c.community_id == community_id,
                message_log.c.posted_at >= now - text_window,
                message_log.c.member_id.not_in(_opted_out(community_id)),
            )
            .subquery()
        )
        said = select(ranked.c.member_id, ranked.c.posted, ranked.c.text).where(
            ranked.c.rank <= messages_per_member
        )
        msg_members: list[np.ndarray] = []
        msg_times: list[np.ndarray] = []
        texts: list[str] = []
        result = await conn.stream(said.execution_options(yield_per=PARTITION))
        async for part in result.partitions(PARTITION):
            columns = list(zip(*part, strict=True))
            msg_members.append(np.array(columns[0], dtype=np.int64))
            msg_times.append(_epochs(columns[1]))
            texts.extend(columns[2])
    member_of_event = _cat(ev_members, np.int64)
    member_of_message = _cat(msg_members, np.int64)
    ids, inverse = np.unique(
        np.concatenate((member_of_event, member_of_message)), return_inverse=True
    )
    n_events = len(member_of_event)
    return Dataset(
        courses=catalog,
        member_ids=ids,
        event_rows=inverse[:n_events].astype(np.int64),
        event_items=_cat(ev_items, np.int64),
        event_times=_cat(ev_times, np.float64),
        event_weights=np.ones(n_events, dtype=np.float32),
        message_rows=inverse[n_events:].astype(np.int64),
        message_times=_cat(msg_times, np.float64),
        message_texts=texts,
        version=version,
    )


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _epochs(stamps: Sequence[object]) -> np.ndarray:
    """Parse stored UTC timestamps (ISO text on SQLite, datetimes elsewhere) to epoch seconds."""
    if stamps and isinstance(stamps[0], datetime):
        return np.array([s.timestamp() for s in stamps], dtype=np.float64)  # type: ignore[attr-defined]
    parsed = np.array([str(s).replace(" ", "T")[:26] for s in stamps], dtype="datetime64[us]")
    return parsed.astype(np.int64) / 1e6


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
            message_log.c.member_id.not_in(_opted_out(community_id)),
        )
        .distinct()
    )
    text_only = await conn.scalar(select(func.count()).select_from(writers.subquery()))
    return {"members": int(total or 0), "warm": int(warm or 0), "text_only": int(text_only or 0)}
