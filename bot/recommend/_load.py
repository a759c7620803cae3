"""Reading a community's training data from the store into numpy arrays.

Purchases come in one narrow statement grouped by member: each member's courses and times as one
string of integers (course position, microseconds since the epoch, ...), so Python handles one
row per member, not one per purchase, and numpy parses every number in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import String, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.recommend._data import Dataset
from bot.recommend._store import data_version, epoch_micros, opted_out, read_catalog
from bot.store.db import Database
from bot.store.tables import courses, message_log, purchases

PARTITION = 20_000  # rows streamed from the database at a time


async def read_purchases(
    conn: AsyncConnection, community_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the kept purchases as (member id, course position, epoch seconds) arrays."""
    pair = (
        cast(courses.c.position, String)
        + ","
        + cast(epoch_micros(purchases.c.purchased_at, conn.dialect.name), String)
    )
    bought = (
        select(purchases.c.member_id, func.count(), func.aggregate_strings(pair, ","))
        .join(
            courses,
            and_(
                courses.c.community_id == purchases.c.community_id,
                courses.c.offer_id == purchases.c.offer_id,
            ),
        )
        .where(purchases.c.community_id == community_id, purchases.c.refunded_at.is_(None))
        .group_by(purchases.c.member_id)
    )
    ids: list[int] = []
    counts: list[int] = []
    strings: list[str] = []
    result = await conn.stream(bought.execution_options(yield_per=PARTITION))
    async for part in result.partitions(PARTITION):
        for member, count, joined in part:
            ids.append(member)
            counts.append(count)
            strings.append(joined)
    numbers = _integers(",".join(strings))
    if len(numbers) != 2 * sum(counts):
        raise ValueError("purchases: the grouped courses and times do not add up")
    pairs = numbers.reshape(-1, 2)
    members = np.repeat(np.array(ids, dtype=np.int64), np.array(counts, dtype=np.int64))
    return members, pairs[:, 0].copy(), pairs[:, 1] / 1e6


def _integers(text: str) -> np.ndarray:
    """Parse comma-separated integers in one numpy call."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


async def load_dataset(
    db: Database,
    community_id: int,
    *,
    now: datetime,
    text_window: timedelta,
    messages_per_member: int,
) -> Dataset:
    """Read everything training needs: catalog, kept purchases, recent messages of members
    who allow it. Timestamps are turned into numbers by the database (no per-row objects)."""
    async with db.read() as conn:
        catalog = await read_catalog(conn, community_id)
        version = await data_version(conn, community_id)
        member_of_event, event_items, event_times = await read_purchases(conn, community_id)
        ranked = (
            select(
                message_log.c.member_id,
                epoch_micros(message_log.c.posted_at, conn.dialect.name).label("posted"),
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
                message_log.c.member_id.not_in(opted_out(community_id)),
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
            msg_times.append(np.array(columns[1], dtype=np.int64) / 1e6)
            texts.extend(columns[2])
    member_of_message = _cat(msg_members, np.int64)
    ids, inverse = np.unique(
        np.concatenate((member_of_event, member_of_message)), return_inverse=True
    )
    n_events = len(member_of_event)
    return Dataset(
        courses=catalog,
        member_ids=ids,
        event_rows=inverse[:n_events].astype(np.int64),
        event_items=event_items.astype(np.int64),
        event_times=event_times.astype(np.float64),
        event_weights=np.ones(n_events, dtype=np.float32),
        message_rows=inverse[n_events:].astype(np.int64),
        message_times=_cat(msg_times, np.float64),
        message_texts=texts,
        version=version,
    )


def _cat(parts: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
