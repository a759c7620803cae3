"""The message rollups, folded in bulk off the message's transaction.

The message path only logs a message: in the message log batch's own transaction its hook
writes a row of ``analytics_pending`` per run of consecutive message ids the batch wrote
(``Folder.logged``; on SQLite one statement, since the transaction holds the write lock and a
batch's new rowids follow the largest before it). A pending row is seen exactly when its
messages are, on SQLite and on PostgreSQL alike, where ids come from a sequence and commit in
any order (a watermark of ids would skip a message whose transaction commits late).

A fold takes pending rows in order up to ``FOLD_ROWS`` messages, deletes them, reads their
messages and adds them to the rollups (``Recorder.messages_added``: the counts summed in
Python first, so 5,000 messages of 50 members cost about 50 member-day upserts), all in one
transaction: a fold that fails or whose process dies leaves its rows pending, and two folds
never take the same row (SQLite's one writer; on PostgreSQL the rows are claimed ``FOR UPDATE
SKIP LOCKED``). Nothing kept in memory decides a count, so whichever process folds next (this
one after a restart, or another) folds what any process left.

A supervised worker (``analytics.fold`` in ``/healthz``) folds ``DELAY`` after a batch
commits (``GroupCommit.committed`` wakes it; the batches of that while join the fold) and every
``IDLE`` besides, for rows another process left. The pages fold what is pending before they
read (``Analytics(current=...)``), an erasure folds in its own transaction before the messages
go, and the rebuild takes the community's messages out of the pending rows it recounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics._pending import fold_turn, hold_folds, runs
from bot.cogs.analytics._rollup import Recorder
from bot.core.privacy import Erasure
from bot.core.supervise import Supervisor, Watch
from bot.store.db import Database
from bot.store.hops import raw_on_thread
from bot.store.tables import analytics_pending, message_log

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
FOLD_ROWS = 5000  # messages one fold takes at most (one transaction)
FOLD_RANGES = 5000  # pending rows one fold looks at
DELAY = 0.3  # seconds from a batch's commit to the fold: the batches of that while join it
IDLE = 10.0  # seconds between folds when nothing here woke it (rows another process left)
m = message_log.c
COLUMNS = (
    m.id,
    m.community_id,
    m.member_id,
    m.account_id,
    m.platform,
    m.channel_id,
    m.thread_id,
    m.posted_at,
)
MINUTE = len("YYYY-MM-DD HH:MM")
# What the rollups need of the messages, as SQLite stores them (instants as UTC text), counted
# per account, channel, thread or not, and UTC minute by SQLite itself: each message then costs
# no Python at all (1.2 against 1.7 µs a message, 2026-12-07). ``grouped`` merges the spans.
MESSAGES = (
    "SELECT community_id, member_id, account_id, platform, channel_id, thread_id IS NULL,"
    f" substr(posted_at, 1, {MINUTE}), count(*), min(posted_at) FROM message_log"
    " WHERE id BETWEEN ? AND ? GROUP BY 1, 2, 3, 4, 5, 6, 7"
)
PENDING = "SELECT id, first_id, last_id FROM analytics_pending ORDER BY id LIMIT ?"
TAKEN = "DELETE FROM analytics_pending WHERE id <= ?"
# The batch's new rowids are the largest ones (``bot.store.direct``): one run, ending at max(id).
LOGGED = (
    "INSERT INTO analytics_pending (first_id, last_id)"
    " SELECT max(id) - ? + 1, max(id) FROM message_log"
)
ROLLUPS = {
    "analytics_pending",
    "analytics_hours",
    "analytics_member_days",
    "analytics_days",
    "analytics_member_totals",
    "analytics_presence",
}


class Folded(NamedTuple):
    """What one fold did."""

    taken: int  # pending rows
    messages: int
    more: bool  # it left pending rows behind (its bound)


NOTHING = Folded(0, 0, False)


def taken(pending: Sequence[Sequence[int]], limit: int) -> list[Sequence[int]]:
    """Return the first pending rows (id, first, last) holding up to ``limit`` messages, or one."""
    chosen: list[Sequence[int]] = []
    count = 0
    for row in pending:
        size = row[2] - row[1] + 1
        if chosen and count + size > limit:
            break
        chosen.append(row)
        count += size
    return chosen


def outcome(
    chosen: Sequence[Sequence[int]], pending: Sequence[Sequence[int]], messages: int
) -> Folded:
    """Return what a fold did: rows are left if it took fewer than it saw, or saw its bound."""
    return Folded(len(chosen), messages, len(chosen) < len(pending) or len(pending) == FOLD_RANGES)


def spans(rows: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Return the pending rows' id ranges, sorted, with touching ones joined."""
    joined: list[tuple[int, int]] = []
    for _, first, last in sorted(rows, key=lambda r: r[1]):
        if joined and first <= joined[-1][1] + 1:
            joined[-1] = (joined[-1][0], max(joined[-1][1], last))
        else:
            joined.append((first, last))
    return joined


def grouped(found: Iterable[Sequence[Any]], groups: dict[tuple[Any, ...], list[Any]]) -> None:
    """Add ``MESSAGES``' groups (one span's) to ``groups``: counts summed, earliest kept.

    A group is an account, channel, thread or not, and UTC minute, with its count and its
    earliest instant's text: a minute falls in one UTC hour and one local day of any zone
    (zones are whole minutes from UTC), and an account's earliest message is its first seen.
    """
    for *fields, n, at in found:
        key = tuple(fields)
        group = groups.get(key)
        if group is None:
            groups[key] = [n, at]
        else:
            group[0] += n
            if at < group[1]:  # noqa: PLR1730 (a compare, not a call)
                group[1] = at


class Folder:
    """Note logged messages as pending, and fold them into the rollups (see the module text)."""

    def __init__(self, db: Database, recorder: Recorder) -> None:
        self.db = db
        self.recorder = recorder
        self.folded = 0  # messages this process folded (``/healthz``)
        self._kick = asyncio.Event()
        self._lock = asyncio.Lock()  # one fold at a time in this process
        self._watch: Watch | None = None
        self._stopping = False

    # --- the message path ------------------------------------------------------------------

    async def logged(self, conn: AsyncConnection, rows: list[Row]) -> None:
        """Note a batch's new messages as pending, in its transaction (the group commit's hook)."""
        raw = raw_on_thread(conn)
        if raw is not None:
            self.logged_raw(raw, rows)
            return
        if conn.dialect.name == "sqlite":
            await conn.execute(
                insert(analytics_pending).from_select(
                    ["first_id", "last_id"],
                    select(func.max(m.id) - (len(rows) - 1), func.max(m.id)),
                )
            )
            return
        keys = (m.community_id, m.platform, m.channel_id, m.message_id)
        ids = (
            await conn.scalars(
                select(m.id).where(
                    tuple_(*keys).in_([tuple(row[k.name] for k in keys) for row in rows])
                )
            )
        ).all()
        await conn.execute(
            insert(analytics_pending),
            [{"first_id": first, "last_id": last} for first, last in runs(sorted(ids))],
        )

    def logged_raw(self, raw: sqlite3.Connection, rows: list[Row]) -> bool:
        """Do what ``logged`` does, as plain SQL on SQLite's own connection."""
        raw.execute(LOGGED, (len(rows),))
        return True

    def kick(self) -> None:
        """Wake the fold (called after each batch of the message log)."""
        self._kick.set()

    # --- folding -----------------------------------------------------------------------------

    async def fold(self) -> Folded:
        """Fold up to ``FOLD_ROWS`` pending messages into the rollups."""
        async with self._lock:
            if self.db.raw_writes:
                done = await self.db.raw_write(self._fold_raw, tables=ROLLUPS)
            else:
                async with self.db.write() as conn:
                    done = await self._fold_in(conn)
        self.folded += done.messages
        return done

    async def catch_up(self) -> int:
        """Fold until nothing is pending (that another fold has not taken); return messages."""
        total = 0
        while (done := await self.fold()).taken:
            total += done.messages
        return total

    async def current(self) -> None:
        """Fold what is pending, if anything: a page reading next sees every message."""
        async with self.db.read() as conn:
            found = await conn.scalar(select(analytics_pending.c.id).limit(1))
        if found is not None:
            while (await self.fold()).more:
                pass

    async def fold_all(self, conn: AsyncConnection) -> None:
        """Fold everything pending in the caller's transaction."""
        while (await self._fold_in(conn)).taken:
            pass

    async def before_erasure(self, conn: AsyncConnection, erasure: Erasure) -> None:
        """Fold what is pending before an erasure deletes the member's messages."""
        await hold_folds(conn)
        await self.fold_all(conn)

    async def _fold_in(self, conn: AsyncConnection) -> Folded:
        await fold_turn(conn)
        p = analytics_pending.c
        query = select(p.id, p.first_id, p.last_id).order_by(p.id).limit(FOLD_RANGES)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        pending = [tuple(row) for row in (await conn.execute(query)).all()]
        if not pending:
            return NOTHING
        chosen = taken(pending, FOLD_ROWS)
        await conn.execute(delete(analytics_pending).where(p.id.in_([r[0] for r in chosen])))
        rows: list[Row] = []
        for first, last in spans(chosen):
            found = await conn.execute(select(*COLUMNS).where(m.id.between(first, last)))
            rows.extend(dict(row._mapping) for row in found)
        if rows:
            await self.recorder.messages_added(conn, rows)
        return outcome(chosen, pending, len(rows))

    def _fold_raw(self, raw: sqlite3.Connection) -> Folded:
        """Fold on SQLite's own connection, on its thread (one writer: the rows are a prefix)."""
        pending = raw.execute(PENDING, (FOLD_RANGES,)).fetchall()
        if not pending:
            return NOTHING
        chosen = taken(pending, FOLD_ROWS)
        raw.execute(TAKEN, (chosen[-1][0],))
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for first, last in spans(chosen):
            grouped(raw.execute(MESSAGES, (first, last)), groups)
        rows: list[Row] = [
            {
                "community_id": key[0],
                "member_id": key[1],
                "account_id": key[2],
                "platform": key[3],
                "channel_id": key[4],
                "thread_id": None if key[5] else "",  # only whether there is one counts
                "posted_at": datetime.fromisoformat(earliest).replace(tzinfo=UTC),
                "messages": n,
            }
            for key, (n, earliest) in groups.items()
        ]
        if rows:
            self.recorder.messages_added_raw(raw, rows)
        messages = sum(n for n, _ in groups.values())
        return outcome(chosen, pending, messages)

    # --- the worker --------------------------------------------------------------------------

    async def start(self, supervisor: Supervisor) -> None:
        """Start the worker, supervised; its first pass folds what an earlier run left."""
        if self._watch is None:
            self._stopping = False
            self._kick.set()
            self._watch = supervisor.run("analytics.fold", self._loop)
            self._watch.details = lambda: {"folded": self.folded}

    async def stop(self) -> None:
        """Stop the worker, then fold what is left (a clean stop leaves nothing pending)."""
        self._stopping = True
        self._kick.set()
        if self._watch is not None:
            await self._watch.stop()
            self._watch = None
        try:
            await self.catch_up()
        except Exception:
            log.exception("analytics: the last fold failed; the next start folds it")

    @property
    def stopping(self) -> bool:
        """Tell whether the worker was asked to stop."""
        return self._stopping

    async def _loop(self) -> None:
        watch = self._watch
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), IDLE)
            if self.stopping:  # asked while it waited
                break
            await asyncio.sleep(DELAY)
            self._kick.clear()
            try:
                # Only what has gathered: batches committing meanwhile wake the next fold, so
                # it never chases a busy message path one batch at a time.
                while (await self.fold()).more:
                    pass
            except Exception as exc:
                log.exception("analytics: a fold failed; its messages stay pending")
                if watch is not None:
                    watch.failed(exc)
            else:
                if watch is not None:
                    watch.ok()
