"""The message rollups on SQLite, straight to the connection on its own thread.

The fold (``_fold.py``) runs on the SQLite connection's thread in one hop
(``Database.raw_write``), as the message log's group commit does its batches. Through
SQLAlchemy each rollup statement costs tens of microseconds of Python (cache lookup, execution
context, result object, type processing), several times what SQLite takes to run it: in the
message log's transaction, one message a batch, the rollups cost 30-45 % of the ingest rate
that way (``docs/design-notes.md``, Analytics). Here the same additions are written as plain
SQL on the ``sqlite3`` connection, in the same transaction, with values as SQLAlchemy's SQLite
types store them (days ISO, instants UTC ``YYYY-MM-DD HH:MM:SS.ffffff``).

A member's first message of a day is found without reading anything back: the member-day
row is updated, and only when no row was there (``rowcount`` 0) is it inserted, which makes
that member one more active member of the day and may move their first or last active day.
SQLite runs one writer at a time and this transaction already holds the write lock (taken at
``BEGIN IMMEDIATE``), so no other process can insert that row in between; a guess kept in
memory could be wrong, this cannot. PostgreSQL keeps the portable statements
(``_rollup.add_member_days``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.store.types import sqlite_text

HOUR = timedelta(hours=1)
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format

ADD_HOUR = (
    "INSERT INTO analytics_hours (community_id, hour, platform, channel_id, messages, reactions)"
    " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (community_id, hour, platform, channel_id)"
    " DO UPDATE SET messages = analytics_hours.messages + excluded.messages"
)
ADD_MEMBER_DAY = (
    "UPDATE analytics_member_days SET messages = messages + ?,"
    " thread_messages = thread_messages + ? WHERE community_id = ? AND member_id = ? AND day = ?"
)
NEW_MEMBER_DAY = (
    "INSERT INTO analytics_member_days"
    " (community_id, member_id, day, messages, thread_messages, reactions)"
    " VALUES (?, ?, ?, ?, ?, 0)"
)
EXISTS = "SELECT 1 FROM analytics_member_days WHERE community_id = ? AND member_id = ? AND day = ?"
SEEN_LIMIT = 200_000  # member-days remembered (a day of a big community), then forgotten
ADD_DAY = (
    "INSERT INTO analytics_days"
    " (community_id, day, messages, thread_messages, reactions, active)"
    " VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (community_id, day) DO UPDATE SET"
    " messages = analytics_days.messages + excluded.messages,"
    " thread_messages = analytics_days.thread_messages + excluded.thread_messages,"
    " active = analytics_days.active + excluded.active"
)

SEEN = (  # ``_rollup.seen_accounts``: present since the earlier of the row's and the kept time
    "INSERT INTO analytics_presence (account_id, community_id, member_id, platform, joined_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET joined_at ="
    " CASE WHEN excluded.joined_at < analytics_presence.joined_at THEN excluded.joined_at"
    " ELSE analytics_presence.joined_at END"
)


def _least(column: str, than: str = "<") -> str:
    old = f"analytics_member_totals.{column}"
    return (
        f"{column} = CASE WHEN {old} IS NULL OR excluded.{column} {than} {old}"
        f" THEN excluded.{column} ELSE {old} END"
    )


SPAN_DAYS = (
    "INSERT INTO analytics_member_totals (community_id, member_id, first_day, last_day,"
    " joined_ordinal) VALUES (?, ?, ?, ?, ?) ON CONFLICT (community_id, member_id) DO UPDATE SET "
    + ", ".join((_least("first_day"), _least("last_day", ">"), _least("joined_ordinal")))
)


class FastRollups:
    """Add message batches to the rollups on SQLite's own connection (see the module text).

    It remembers only how to name an instant's UTC hour and local day (the last hour and
    each community's current day, with their bounds): nothing it keeps can make a count wrong.
    """

    def __init__(self, zone_of: Callable[[int], ZoneInfo]) -> None:
        self.zone_of = zone_of
        self._hour: tuple[datetime, datetime, str] | None = None
        self._days: dict[int, tuple[datetime, datetime, date, str]] = {}
        # Member-days this process wrote or found: most likely still there, so a batch's rows
        # for them are updated in one call. A guess that is wrong (the row was erased, merged
        # or rebuilt away, or its transaction rolled back) shows as fewer rows changed, and
        # those rows then go the careful way: it costs statements, never a count.
        self._seen: set[tuple[int, int, str]] = set()

    def forget(self) -> None:
        """Drop the remembered member-days (after a rebuild, a merge or an erasure)."""
        self._seen.clear()

    def hour(self, at: datetime) -> str:
        """Return the stored text of the UTC hour ``at`` falls in."""
        kept = self._hour
        if kept is not None and kept[0] <= at < kept[1]:
            return kept[2]
        start = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        text = start.replace(tzinfo=None).strftime(STAMP)
        self._hour = (start, start + HOUR, text)
        return text

    def day(self, community_id: int, at: datetime) -> tuple[date, str]:
        """Return the community's local day ``at`` falls in, and its stored text."""
        kept = self._days.get(community_id)
        if kept is not None and kept[0] <= at < kept[1]:
            return kept[2], kept[3]
        zone = self.zone_of(community_id)
        day = at.astimezone(zone).date()
        # Bounds kept in UTC: a UTC ``at`` then compares without asking a zone for offsets.
        start = datetime.combine(day, time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        self._days[community_id] = (start, end, day, day.isoformat())
        return day, day.isoformat()

    def add(self, raw: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add message-log rows to the hour, member-day, day and member-total rollups.

        A row with ``messages`` stands for that many messages of one minute (``_fold.grouped``).
        """
        hours: dict[tuple[int, str, str, str], int] = {}
        member_days: dict[tuple[int, int, str], list[Any]] = {}
        # ``hour`` and ``day`` inlined for the instants inside the kept bounds (nearly all)
        kept_hour = self._hour
        kept_days = self._days
        for row in rows:
            at: datetime = row["posted_at"]
            community_id = row["community_id"]
            if kept_hour is not None and kept_hour[0] <= at < kept_hour[1]:
                hour = kept_hour[2]
            else:
                hour = self.hour(at)
                kept_hour = self._hour
            key = (community_id, hour, row["platform"], row["channel_id"])
            n = row.get("messages", 1)
            hours[key] = hours.get(key, 0) + n
            kept = kept_days.get(community_id)
            if kept is not None and kept[0] <= at < kept[1]:
                day, text = kept[2], kept[3]
            else:
                day, text = self.day(community_id, at)
            member_day = (community_id, row["member_id"], text)
            counts = member_days.get(member_day)
            threads = n if row["thread_id"] is not None else 0
            if counts is None:
                member_days[member_day] = [n, threads, day]
            else:
                counts[0] += n
                counts[1] += threads
        raw.executemany(ADD_HOUR, [(*key, n) for key, n in hours.items()])
        days: dict[tuple[int, str], list[int]] = {}
        seen = self._seen
        likely: list[tuple[int, int, int, int, str]] = []
        for (community_id, member_id, text), (messages, threads, _) in member_days.items():
            sums = days.get((community_id, text))
            if sums is None:
                sums = days[(community_id, text)] = [0, 0, 0]
            sums[0] += messages
            sums[1] += threads
            if (community_id, member_id, text) in seen:
                likely.append((messages, threads, community_id, member_id, text))
        done = {(c, m, t) for _, _, c, m, t in likely}
        if likely and raw.executemany(ADD_MEMBER_DAY, likely).rowcount != len(likely):
            for _, _, community_id, member_id, text in likely:  # some were not there after all
                if raw.execute(EXISTS, (community_id, member_id, text)).fetchone() is None:
                    done.discard((community_id, member_id, text))
        if len(seen) > SEEN_LIMIT:
            seen.clear()
        for (community_id, member_id, text), (messages, threads, day) in member_days.items():
            member_day = (community_id, member_id, text)
            if member_day in done:
                continue  # added above
            seen.add(member_day)
            if raw.execute(
                ADD_MEMBER_DAY, (messages, threads, community_id, member_id, text)
            ).rowcount:
                continue
            raw.execute(NEW_MEMBER_DAY, (community_id, member_id, text, messages, threads))
            days[(community_id, text)][2] += 1  # the member's first message of the day
            raw.execute(SPAN_DAYS, (community_id, member_id, text, text, day.toordinal()))
        for (community_id, text), (messages, threads, active) in days.items():
            raw.execute(ADD_DAY, (community_id, text, messages, threads, active))

    def seen(self, raw: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record each account as present since ``joined_at`` unless it was known earlier."""
        raw.executemany(
            SEEN,
            [
                (
                    r["account_id"],
                    r["community_id"],
                    r["member_id"],
                    r["platform"],
                    sqlite_text(r["joined_at"]),
                )
                for r in rows
            ],
        )
