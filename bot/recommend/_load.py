"""Reading a community's training data from the store into numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import String, and_, func, select, type_coerce

from bot.recommend._data import Dataset
from bot.recommend._store import data_version, opted_out, read_catalog
from bot.store.db import Database
from bot.store.tables import courses, message_log, purchases

PARTITION = 50_000  # rows streamed from the database at a time


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
