"""The rollups, kept in step as events arrive and rebuilt from the message log on demand.

Five tables (``bot/store/tables/_analytics.py``): messages and reactions per UTC hour and
channel; what each member did per day of the community's zone; the community's totals per day
(with its distinct active members); each member's totals and first and last active day; each
account's presence (joined, left). Messages are added off the message's transaction, in bulk
(``_fold.py``: the message path notes them as pending, a fold adds them here); a fold's messages
cost one upsert per table (summed in Python first), and a presence write only for an account not
seen before. Reactions, joins and leaves (rare) are written as they happen.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ranges as ranges
from bot.cogs.analytics._fast import FastRollups
from bot.cogs.analytics._pages import presence
from bot.cogs.analytics._pending import unpend
from bot.cogs.analytics._people import Stay, stays
from bot.cogs.analytics._rules import hour_of, local_day
from bot.store.db import Database
from bot.store.dialect import (
    insert_ignore_returning,
    upsert_add_columns,
    upsert_add_columns_returning,
    upsert_keep_least,
)
from bot.store.hops import raw_on_thread
from bot.store.tables import (
    analytics_days,
    analytics_hours,
    analytics_member_days,
    analytics_member_totals,
    analytics_presence,
    message_log,
)

Row = Mapping[str, Any]
HOUR_KEYS = ("community_id", "hour", "platform", "channel_id")
DAY_KEYS = ("community_id", "member_id", "day")
DAY_COUNTS = ("messages", "thread_messages", "reactions")
HOUR_COUNTS = ("messages", "reactions")
TOTAL_KEYS = ("community_id", "member_id")
COMMUNITY_DAY_KEYS = ("community_id", "day")
COMMUNITY_DAY_COUNTS = (*DAY_COUNTS, "active")
PRESENCE_KEYS = ("account_id", "community_id", "member_id", "platform")
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # "now" for a stay: every leave so far counts


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


async def add_member_days(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add member-day counts, and the same to the community's days and the members' totals.

    A member-day row whose counts came back equal to what was added is new: that member is
    one more active member of that day, and only then can the member's first or last active
    day move (a row with all counts zero is never kept). So the totals row is written once
    per member and day, by whichever transaction made that day's row, in any process. Rows
    are written in key order, so that two transactions lock them in the same order.
    """
    if not rows:
        return
    stored = await upsert_add_columns_returning(
        conn, analytics_member_days, rows, keys=DAY_KEYS, columns=DAY_COUNTS
    )
    added = {tuple(r[k] for k in DAY_KEYS): tuple(r[c] for c in DAY_COUNTS) for r in rows}
    days: dict[tuple[int, date], list[int]] = {}
    spans: dict[tuple[int, int], tuple[date, date]] = {}
    for row in stored:
        community_id, member_id, day_of = row[0], row[1], row[2]
        mine = added[(community_id, member_id, day_of)]
        sums = days.setdefault((community_id, day_of), [0, 0, 0, 0])
        for n, value in enumerate(mine):
            sums[n] += value
        if tuple(row[3:6]) == mine:
            sums[3] += 1
            first, last = spans.get((community_id, member_id), (day_of, day_of))
            spans[(community_id, member_id)] = (min(first, day_of), max(last, day_of))
    await upsert_add_columns(
        conn,
        analytics_days,
        [
            dict(zip(COMMUNITY_DAY_KEYS, key, strict=True))
            | dict(zip(COMMUNITY_DAY_COUNTS, sums, strict=True))
            for key, sums in sorted(days.items())
        ],
        keys=COMMUNITY_DAY_KEYS,
        columns=COMMUNITY_DAY_COUNTS,
    )
    await upsert_add_columns(
        conn,
        analytics_member_totals,
        [
            {
                "community_id": community_id,
                "member_id": member_id,
                "first_day": first,
                "last_day": last,
                "joined_ordinal": first.toordinal(),
            }
            for (community_id, member_id), (first, last) in sorted(spans.items())
        ],
        keys=TOTAL_KEYS,
        columns=(),
        least=("first_day", "joined_ordinal"),  # a member active on a day is present since
        greatest=("last_day",),
    )


async def set_stays(conn: AsyncConnection, community_id: int, stays: Sequence[Stay]) -> None:
    """Write members' stays (first join, last leave) into their totals rows, made if absent."""
    if not stays:
        return
    await insert_ignore_returning(
        conn,
        analytics_member_totals,
        [{"community_id": community_id, "member_id": s.member_id} for s in stays],
        keys=TOTAL_KEYS,
    )
    t = analytics_member_totals.c
    await conn.execute(
        update(analytics_member_totals)
        .where(t.community_id == community_id, t.member_id == bindparam("member"))
        .values(joined_ordinal=bindparam("joined"), left_ordinal=bindparam("left")),
        [
            {
                "member": s.member_id,
                "joined": s.joined.toordinal(),
                "left": None if s.left is None else s.left.toordinal(),
            }
            for s in stays
        ],
    )


async def stays_now(
    conn: AsyncConnection, community_id: int, zone: ZoneInfo, member_id: int | None = None
) -> list[Stay]:
    """Return the community's member stays as they are now (one member's with ``member_id``)."""
    found = await presence(
        conn, community_id, FOREVER, members=None if member_id is None else [member_id]
    )
    return list(stays(found, zone, FOREVER).values())


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
    return (  # in key order: concurrent folds lock the rows in the same order
        [
            dict(zip(HOUR_KEYS, key, strict=True), messages=n, reactions=0)
            for key, n in sorted(hours.items())
        ],
        [
            dict(zip(DAY_KEYS, key, strict=True), messages=m, thread_messages=t, reactions=r)
            for key, (m, t, r) in sorted(member_days.items())
        ],
        [first[account] for account in sorted(first)],
    )


class Recorder:
    """Keep the rollups in step with messages, reactions, joins and leaves."""

    def __init__(self, zones: Mapping[int, ZoneInfo]) -> None:
        self.zones = zones
        # Accounts whose presence row is known to start no later than this time: a message
        # after it needs no presence write (the common case, kept cheap).
        self._present_since: dict[int, datetime] = {}
        self._fast = FastRollups(self.zone_of)

    def zone_of(self, community_id: int) -> ZoneInfo:
        """Return the zone a community's days are counted in."""
        return self.zones[community_id]

    async def messages_added(self, conn: AsyncConnection, rows: list[Row]) -> None:
        """Add logged messages to the rollups, in the fold's transaction (``_fold.py``)."""
        raw = raw_on_thread(conn)
        if raw is not None:  # SQLite on its thread: plain SQL on its connection (``_fast``)
            self._fast.add(raw, rows)
            fresh = self._news(rows)
            await seen_accounts(conn, fresh)
        else:
            hours, member_days, presence = message_counts(rows, self.zone_of)
            fresh = [
                p
                for p in presence
                if (known := self._present_since.get(p["account_id"])) is None
                or p["joined_at"] < known
            ]
            # Presence first, as a reaction's transaction writes it: one order of locks.
            await seen_accounts(conn, fresh)
            await add_counts(conn, analytics_hours, hours, keys=HOUR_KEYS, counts=HOUR_COUNTS)
            await add_member_days(conn, member_days)
        for p in fresh:
            self._present_since[p["account_id"]] = p["joined_at"]

    def messages_added_raw(self, raw: sqlite3.Connection, rows: list[Row]) -> bool:
        """Do what ``messages_added`` does, as plain SQL on SQLite's own connection.

        The fold runs it in its transaction on the connection's thread, with no SQLAlchemy
        around it (``Database.raw_write``).
        """
        self._fast.add(raw, rows)
        fresh = self._news(rows)
        if fresh:
            self._fast.seen(raw, fresh)
            for p in fresh:
                self._present_since[p["account_id"]] = p["joined_at"]
        return True

    def _news(self, rows: list[Row]) -> list[dict[str, Any]]:
        """Return each account's earliest message as a presence row, where it may be news."""
        present = self._present_since
        first: dict[int, dict[str, Any]] = {}
        for row in rows:
            known = present.get(row["account_id"])
            if known is None or row["posted_at"] < known:
                seen = first.get(row["account_id"])
                if seen is None or row["posted_at"] < seen["joined_at"]:
                    first[row["account_id"]] = {k: row[k] for k in PRESENCE_KEYS} | {
                        "joined_at": row["posted_at"]
                    }
        return list(first.values())

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
            await add_member_days(
                conn,
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
            await set_stays(
                conn,
                community_id,
                await stays_now(conn, community_id, self.zone_of(community_id), member_id),
            )
        self._present_since.pop(account_id, None)

    def forget(self) -> None:
        """Drop what the recorder remembers about presence rows (after a rebuild or merge)."""
        self._present_since.clear()
        self._fast.forget()


async def merge_members(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Add the absorbed member's days to the survivor's days they share; the rest re-point.

    A shared day had both members active: the community's day counts one active member fewer.
    The two members' totals (active days, stays) become the survivor's.
    """
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
        await conn.execute(
            update(analytics_days)
            .where(
                analytics_days.c.community_id == row.community_id,
                analytics_days.c.day == row.day,
            )
            .values(active=analytics_days.c.active - 1)
        )
    t = analytics_member_totals
    gone = (await conn.execute(select(t).where(t.c.member_id == absorbed))).all()
    for row in gone:
        await conn.execute(delete(t).where(t.c.member_id == absorbed))
        kept = (await conn.execute(select(t).where(t.c.member_id == survivor))).first()
        merged = dict(row._mapping) | {"member_id": survivor}
        if kept is not None:
            merged = _merged_totals(dict(kept._mapping), merged)
            await conn.execute(delete(t).where(t.c.member_id == survivor))
        await conn.execute(insert(t).values(merged))


def _merged_totals(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Return two members' totals as one member's: the wider active days, the joined stay."""

    def least(x: Any, y: Any) -> Any:
        return y if x is None else x if y is None else min(x, y)

    def greatest(x: Any, y: Any) -> Any:
        return y if x is None else x if y is None else max(x, y)

    here = a["joined_ordinal"] is not None and a["left_ordinal"] is None
    also = b["joined_ordinal"] is not None and b["left_ordinal"] is None
    return {
        "community_id": a["community_id"],
        "member_id": a["member_id"],
        "first_day": least(a["first_day"], b["first_day"]),
        "last_day": greatest(a["last_day"], b["last_day"]),
        "joined_ordinal": least(a["joined_ordinal"], b["joined_ordinal"]),
        "left_ordinal": None if here or also else greatest(a["left_ordinal"], b["left_ordinal"]),
    }


async def recount_totals(conn: AsyncConnection, community_id: int, zone: ZoneInfo) -> None:
    """Recount a community's day totals and member totals from its member-day rows and stays."""
    d = analytics_member_days.c
    for table in (analytics_days, analytics_member_totals):
        await conn.execute(delete(table).where(table.c.community_id == community_id))
    mine = d.community_id == community_id
    await conn.execute(
        insert(analytics_days).from_select(
            ["community_id", "day", *COMMUNITY_DAY_COUNTS],
            select(
                d.community_id,
                d.day,
                func.sum(d.messages),
                func.sum(d.thread_messages),
                func.sum(d.reactions),
                func.count(),
            )
            .where(mine)
            .group_by(d.community_id, d.day),
        )
    )
    await conn.execute(
        insert(analytics_member_totals).from_select(
            ["community_id", "member_id", "first_day", "last_day"],
            select(
                d.community_id,
                d.member_id,
                func.min(d.day),
                func.max(d.day),
            )
            .where(mine)
            .group_by(d.community_id, d.member_id),
        )
    )
    await set_stays(conn, community_id, await stays_now(conn, community_id, zone))


REBUILD_CHUNK = 5000


async def rebuild(db: Database, community_id: int, zone: ZoneInfo) -> int:
    """Recount a community's message rollups from the message log; return messages read.

    Reactions are not in the message log: their counts are kept. Presence keeps its joins and
    leaves and takes each account's first message as a join where that is earlier. The day
    totals and member totals are recounted from the member-day rows. The community's messages
    not folded yet are counted here and leave the pending rows (``unpend``).
    """
    m = message_log.c
    async with db.write() as conn:
        await unpend(conn, community_id)
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
            )  # the totals are recounted from these rows once, at the end
            await seen_accounts(conn, presence)
        for table in (analytics_hours, analytics_member_days):
            await conn.execute(
                delete(table).where(
                    table.c.community_id == community_id,
                    table.c.messages == 0,
                    table.c.reactions == 0,
                )
            )
        await recount_totals(conn, community_id, zone)
        await ranges.forget(conn, community_id)
    return read
