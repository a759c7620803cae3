"""The rollups, kept in step as events arrive and rebuilt from the message log on demand.

Three tables (``bot/store/tables.py``): messages and reactions per UTC hour and channel; what
each member did per day of the community's zone; each account's presence (joined, left). The
message path adds to them in the message log's own transaction (``GroupCommit.after_insert``),
so a message and its counts commit together; a batch of messages costs three statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics._rules import hour_of, local_day
from bot.store.db import Database
from bot.store.dialect import upsert_add_columns, upsert_keep_least
from bot.store.tables import (
    analytics_hours,
    analytics_member_days,
    analytics_presence,
    message_log,
)

Row = Mapping[str, Any]
HOUR_KEYS = ("community_id", "hour", "platform", "channel_id")
DAY_KEYS = ("community_id", "member_id", "day")
DAY_COUNTS = ("messages", "thread_messages", "reactions")
HOUR_COUNTS = ("messages", "reactions")


async def add_counts(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    counts: Sequence[str],
) -> None:
    """Add each row's ``counts`` to the row at its ``keys``, creating the row if absent."""
    await upsert_add_columns(conn, table, rows, keys=keys, columns=counts)


async def seen_accounts(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record each account as present since ``joined_at`` unless it was known earlier."""
    await upsert_keep_least(
        conn, analytics_presence, rows, keys=("account_id",), column="joined_at"
    )


def message_counts(
    rows: Sequence[Row], zone_of: Callable[[int], ZoneInfo]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Sum message-log rows into hour rows, member-day rows and first-seen presence rows."""
    hours: Counter[tuple[int, datetime, str, str]] = Counter()
    member_days: dict[tuple[int, int, date], list[int]] = {}
    first: dict[int, dict[str, Any]] = {}
    for row in rows:
        at: datetime = row["posted_at"]
        community_id = row["community_id"]
        hours[(community_id, hour_of(at), row["platform"], row["channel_id"])] += 1
        key = (community_id, row["member_id"], local_day(at, zone_of(community_id)))
        counts = member_days.setdefault(key, [0, 0, 0])
        counts[0] += 1
        if row["thread_id"] is not None:
            counts[1] += 1
        seen = first.get(row["account_id"])
        if seen is None or at < seen["joined_at"]:
            first[row["account_id"]] = {
                "account_id": row["account_id"],
                "community_id": community_id,
                "member_id": row["member_id"],
                "platform": row["platform"],
                "joined_at": at,
            }
    return (
        [
            dict(zip(HOUR_KEYS, key, strict=True), messages=n, reactions=0)
            for key, n in hours.items()
        ],
        [
            dict(zip(DAY_KEYS, key, strict=True), messages=m, thread_messages=t, reactions=r)
            for key, (m, t, r) in member_days.items()
        ],
        list(first.values()),
    )


class Recorder:
    """Keep the rollups in step with messages, reactions, joins and leaves."""

    def __init__(self, zones: Mapping[int, ZoneInfo]) -> None:
        self.zones = zones
        # Accounts whose presence row is known to start no later than this time: a message
        # after it needs no presence write (the common case, kept cheap).
        self._present_since: dict[int, datetime] = {}

    def zone_of(self, community_id: int) -> ZoneInfo:
        """Return the zone a community's days are counted in."""
        return self.zones[community_id]

    async def messages_added(self, conn: AsyncConnection, rows: list[Row]) -> None:
        """Add freshly logged messages to the rollups, in the message log's transaction."""
        hours, member_days, presence = message_counts(rows, self.zone_of)
        await add_counts(conn, analytics_hours, hours, keys=HOUR_KEYS, counts=HOUR_COUNTS)
        await add_counts(conn, analytics_member_days, member_days, keys=DAY_KEYS, counts=DAY_COUNTS)
        fresh = [
            p
            for p in presence
            if (known := self._present_since.get(p["account_id"])) is None or p["joined_at"] < known
        ]
        await seen_accounts(conn, fresh)
        for p in fresh:
            self._present_since[p["account_id"]] = p["joined_at"]

    async def reaction_added(
        self,
        db: Database,
        *,
        community_id: int,
        member_id: int,
        account_id: int,
        platform: str,
        channel_id: str,
        at: datetime,
    ) -> None:
        """Count a reaction a member gave (and see the account as present, if it was not)."""
        async with db.write() as conn:
            known = self._present_since.get(account_id)
            if known is None or at < known:
                await seen_accounts(
                    conn,
                    [
                        {
                            "account_id": account_id,
                            "community_id": community_id,
                            "member_id": member_id,
                            "platform": platform,
                            "joined_at": at,
                        }
                    ],
                )
            await add_counts(
                conn,
                analytics_hours,
                [
                    {
                        "community_id": community_id,
                        "hour": hour_of(at),
                        "platform": platform,
                        "channel_id": channel_id,
                        "messages": 0,
                        "reactions": 1,
                    }
                ],
                keys=HOUR_KEYS,
                counts=HOUR_COUNTS,
            )
            await add_counts(
                conn,
                analytics_member_days,
                [
                    {
                        "community_id": community_id,
                        "member_id": member_id,
                        "day": local_day(at, self.zone_of(community_id)),
                        "messages": 0,
                        "thread_messages": 0,
                        "reactions": 1,
                    }
                ],
                keys=DAY_KEYS,
                counts=DAY_COUNTS,
            )
        if known is None or at < known:
            self._present_since[account_id] = at

    async def joined(
        self,
        db: Database,
        *,
        community_id: int,
        member_id: int,
        account_id: int,
        platform: str,
        at: datetime,
    ) -> None:
        """Record an account joining (again): present from its first join, not gone."""
        await self._presence(db, community_id, member_id, account_id, platform, at, left_at=None)

    async def left(
        self,
        db: Database,
        *,
        community_id: int,
        member_id: int,
        account_id: int,
        platform: str,
        at: datetime,
    ) -> None:
        """Record an account leaving (it counted as present until now if it was never seen)."""
        await self._presence(db, community_id, member_id, account_id, platform, at, left_at=at)

    async def _presence(
        self,
        db: Database,
        community_id: int,
        member_id: int,
        account_id: int,
        platform: str,
        at: datetime,
        *,
        left_at: datetime | None,
    ) -> None:
        """Make sure the account has a presence row, then set when it left (None: present)."""
        row = {
            "account_id": account_id,
            "community_id": community_id,
            "member_id": member_id,
            "platform": platform,
            "joined_at": at,
        }
        async with db.write() as conn:
            await seen_accounts(conn, [row])
            await conn.execute(
                update(analytics_presence)
                .where(analytics_presence.c.account_id == account_id)
                .values(left_at=left_at)
            )
        self._present_since.pop(account_id, None)

    def forget(self) -> None:
        """Drop what the recorder remembers about presence rows (after a rebuild or merge)."""
        self._present_since.clear()


async def merge_members(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Add the absorbed member's days to the survivor's days they share; the rest re-point."""
    d = analytics_member_days
    shared = (
        await conn.execute(
            select(d).where(
                d.c.member_id == absorbed,
                d.c.day.in_(select(d.c.day).where(d.c.member_id == survivor)),
            )
        )
    ).all()
    for row in shared:
        await conn.execute(
            update(d)
            .where(
                d.c.community_id == row.community_id,
                d.c.member_id == survivor,
                d.c.day == row.day,
            )
            .values(
                messages=d.c.messages + row.messages,
                thread_messages=d.c.thread_messages + row.thread_messages,
                reactions=d.c.reactions + row.reactions,
            )
        )
        await conn.execute(
            delete(d).where(
                d.c.community_id == row.community_id,
                d.c.member_id == absorbed,
                d.c.day == row.day,
            )
        )


REBUILD_CHUNK = 5000


async def rebuild(db: Database, community_id: int, zone: ZoneInfo) -> int:
    """Recount a community's message rollups from the message log; return messages read.

    Reactions are not in the message log: their counts are kept. Presence keeps its joins and
    leaves and takes each account's first message as a join where that is earlier.
    """
    m = message_log.c
    async with db.write() as conn:
        await conn.execute(
            update(analytics_hours)
            .where(analytics_hours.c.community_id == community_id)
            .values(messages=0)
        )
        await conn.execute(
            update(analytics_member_days)
            .where(analytics_member_days.c.community_id == community_id)
            .values(messages=0, thread_messages=0)
        )
        last_id = 0
        read = 0
        while True:
            rows = (
                await conn.execute(
                    select(
                        m.id,
                        m.community_id,
                        m.member_id,
                        m.account_id,
                        m.platform,
                        m.channel_id,
                        m.thread_id,
                        m.posted_at,
                    )
                    .where(m.community_id == community_id, m.id > last_id)
                    .order_by(m.id)
                    .limit(REBUILD_CHUNK)
                )
            ).all()
            if not rows:
                break
            last_id = rows[-1].id
            read += len(rows)
            hours, member_days, presence = message_counts(
                [dict(r._mapping) for r in rows], lambda _: zone
            )
            await add_counts(conn, analytics_hours, hours, keys=HOUR_KEYS, counts=HOUR_COUNTS)
            await add_counts(
                conn, analytics_member_days, member_days, keys=DAY_KEYS, counts=DAY_COUNTS
            )
            await seen_accounts(conn, presence)
        for table in (analytics_hours, analytics_member_days):
            await conn.execute(
                delete(table).where(
                    table.c.community_id == community_id,
                    table.c.messages == 0,
                    table.c.reactions == 0,
                )
            )
    return read
