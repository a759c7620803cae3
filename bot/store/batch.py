"""Group commit: many concurrent inserts of one table written in few transactions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.db import Database, note_written
from bot.store.dialect import insert_ignore_returning
from bot.store.direct import DirectInsert
from bot.store.hops import NotOnThread, in_thread, raw_on_thread

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[Any]]
# Work done in the transaction that wrote a batch, given the rows that were new.
AfterInsert = Callable[[AsyncConnection, list[Row]], Awaitable[None]]
# The same on SQLite's own connection, on its thread; False (before writing anything): not here.
RawAfterInsert = Callable[[sqlite3.Connection, list[Row]], bool]


class _Declined(Exception):
    """The batch cannot be written as plain SQL: it goes through SQLAlchemy instead."""


class _HookFailed(Exception):
    """An after-insert hook raised: the batch is written again without the hooks."""

    def __init__(self, hook: AfterInsert) -> None:
        super().__init__()
        self.name = getattr(hook, "__qualname__", repr(hook))


class GroupCommit:
    """Insert rows idempotently by a natural key, batching those that arrive together.

    While one batch is being written, new rows queue; the next transaction takes them all. A
    lone writer pays no extra latency, and many writers share one commit instead of queueing
    for the database lock one by one. Each caller learns whether its row was new.

    Other small writes that come with the rows (a message's points) can ride in the same
    transaction with ``run``: they are done after the batch's insert, in the order they came.

    Each ``after_insert`` hook runs in the batch's transaction with the rows that were new, so what
    it keeps in step with the table (rollups) commits or rolls back with them; when a hook
    fails, the transaction is rolled back, logged, and the rows are written again without the
    hooks (nothing is lost; the hook's table misses them until it is rebuilt).

    On SQLite the batch's statements (insert, hooks, work) run on the connection's thread in
    one hop (``bot.store.hops.in_thread``); hooks and work that await anything but ``conn``
    cannot, and make the group commit write the usual way from then on. A batch with no work
    whose hooks all have a plain-SQL form (``add_hook(..., raw=...)``) skips SQLAlchemy
    altogether (``Database.raw_write``): the insert and those forms on ``sqlite3`` itself.
    """

    def __init__(
        self, db: Database, table: Table, keys: Sequence[str], *, max_batch: int = 500
    ) -> None:
        self.db = db
        self.table = table
        self.keys = tuple(keys)
        self.max_batch = max_batch
        self.batches = 0  # transactions written (the benchmark prints rows per batch)
        self.after_insert: list[AfterInsert] = []
        self.raw_forms: dict[AfterInsert, RawAfterInsert] = {}  # see ``add_hook``
        # Called (on the event loop) after each batch's transaction ended: work the hooks left
        # for later (the analytics fold) is woken without polling.
        self.committed: list[Callable[[], None]] = []
        self._pending: list[tuple[Row, asyncio.Future[bool]]] = []
        self._work: list[tuple[Work, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._on_thread = True  # until a hook or a work awaits something else
        self._direct = DirectInsert(table, self.keys)  # the insert on SQLite's thread

    def add_hook(self, hook: AfterInsert, *, raw: RawAfterInsert | None = None) -> None:
        """Run ``hook`` after each batch's insert; ``raw`` is its form on SQLite's own connection.

        ``raw(conn, rows)`` must do what ``hook`` does, as plain SQL on the ``sqlite3``
        connection, or return False before writing anything (the batch is then written again
        through SQLAlchemy, with ``hook``).
        """
        self.after_insert.append(hook)
        if raw is not None:
            self.raw_forms[hook] = raw

    async def insert(self, row: Row) -> bool:
        """Insert ``row`` unless its key exists; return whether it was new."""
        return await self.submit(row)

    def submit(self, row: Row) -> asyncio.Future[bool]:
        """Queue ``row`` for the next batch; its future tells whether it was new, once committed.

        ``insert`` without a coroutine of its own, for a caller on every message.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._wake()
        return future

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work(conn)`` in the next batch's write transaction; return what it returns.

        ``work`` must only write through ``conn``: if the batch fails it is run again alone.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._work.append((work, future))
        self._wake()
        result: T = await future
        return result

    def _wake(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())

    async def _write_all(self) -> None:
        while self._pending or self._work:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            jobs = self._work[: self.max_batch]
            del self._work[: self.max_batch]
            try:
                added, results = await self._write([row for row, _ in batch], jobs)
            except Exception as exc:
                await self._one_by_one(batch, jobs, exc)
            else:
                self._settle(batch, added)
                for (_, future), result in zip(jobs, results, strict=True):
                    if not future.done():
                        future.set_result(result)
            for wake in self.committed:
                wake()
            # Let the writers just answered queue their next rows: one larger batch, not two
            # half-size ones taking turns (measured: 25 rows a batch with 50 senders before).
            await asyncio.sleep(0)

    async def _one_by_one(
        self,
        batch: list[tuple[Row, asyncio.Future[bool]]],
        jobs: list[tuple[Work, asyncio.Future[Any]]],
        exc: Exception,
    ) -> None:
        """Write a failed batch's rows and work again alone: one bad one fails by itself."""
        if len(batch) == 1 and not jobs:
            self._settle(batch, exc)
            return
        for one in batch:
            try:
                self._settle([one], (await self._write([one[0]], []))[0])
            except Exception as single:
                self._settle([one], single)
        for work, future in jobs:
            try:
                async with self.db.write() as conn:
                    result = await work(conn)
            except Exception as single:
                if not future.done():
                    future.set_exception(single)
            else:
                if not future.done():
                    future.set_result(result)

    async def _write(
        self, rows: list[Row], jobs: list[tuple[Work, asyncio.Future[Any]]]
    ) -> tuple[list[bool], list[Any]]:
        try:
            try:
                return await self._write_once(rows, jobs, hooks=True)
            except NotOnThread as exc:
                log.warning("%s: the batch cannot run on the database thread: %s", self.table, exc)
                self._on_thread = False
                return await self._write_once(rows, jobs, hooks=True)
        except _HookFailed as failed:
            # The transaction rolled back: write the rows again without the hooks.
            log.error(
                "%s: after-insert hook %s failed; the rows are written without it",
                self.table,
                failed.name,
                exc_info=failed.__cause__,
            )
            return await self._write_once(rows, jobs, hooks=False)

    async def _write_once(
        self, rows: list[Row], jobs: list[tuple[Work, asyncio.Future[Any]]], *, hooks: bool
    ) -> tuple[list[bool], list[Any]]:
        if (
            rows
            and not jobs
            and self.db.raw_writes
            and self._direct.takes(rows[0], self.db.engine.dialect)  # else a wasted BEGIN
        ):
            forms = [
                (hook, self.raw_forms.get(hook)) for hook in (self.after_insert if hooks else ())
            ]
            if all(form is not None for _, form in forms):
                try:
                    added = await self.db.raw_write(
                        partial(self._raw_body, rows=rows, forms=forms), tables={self.table.name}
                    )
                except _Declined:
                    pass  # through SQLAlchemy below
                else:
                    self.batches += 1
                    return added, []

        async def body(conn: AsyncConnection) -> tuple[list[bool], list[Any]]:
            added = await self._insert(conn, rows) if rows else []
            fresh = [row for row, new in zip(rows, added, strict=True) if new]
            if hooks and fresh:
                for hook in self.after_insert:
                    try:
                        await hook(conn, fresh)
                    except NotOnThread:
                        raise
                    except RuntimeError as exc:
                        if "event loop" in str(exc):  # asyncio's loop, asked for on the thread
                            raise NotOnThread(str(exc)) from exc
                        raise _HookFailed(hook) from exc
                    except Exception as exc:
                        raise _HookFailed(hook) from exc
            return added, [await work(conn) for work, _ in jobs]

        async with self.db.write() as conn:
            added, results = await (
                in_thread(conn, body, commit=True) if self._on_thread else body(conn)
            )
        self.batches += 1
        return added, results

    def _raw_body(
        self,
        raw: sqlite3.Connection,
        *,
        rows: list[Row],
        forms: list[tuple[AfterInsert, RawAfterInsert | None]],
    ) -> list[bool]:
        """Write a batch and its hooks as plain SQL (on SQLite's thread, in its transaction)."""
        added = self._direct.insert(raw, self.db.engine.dialect, rows)
        if added is None:
            raise _Declined
        fresh = [row for row, new in zip(rows, added, strict=True) if new]
        if fresh:
            for hook, form in forms:
                if form is None:
                    raise _Declined
                try:
                    done = form(raw, fresh)
                except Exception as exc:
                    raise _HookFailed(hook) from exc
                if not done:
                    raise _Declined
        return added

    async def _insert(self, conn: AsyncConnection, rows: list[Row]) -> list[bool]:
        """Insert the batch's rows; return which were written (the first of rows sharing a key).

        Straight to SQLite on its thread where it can.
        """
        raw = raw_on_thread(conn)
        if raw is not None:
            written = self._direct.insert(raw, conn.dialect, rows)
            if written is not None:
                note_written(conn, self.table.name)
                return written
        added = await insert_ignore_returning(conn, self.table, rows, keys=self.keys)
        flags: list[bool] = []
        for row in rows:
            key = tuple(row[k] for k in self.keys)
            flags.append(key in added)
            added.discard(key)  # a repeat later in the batch was not the one written
        return flags

    def _settle(
        self, batch: list[tuple[Row, asyncio.Future[bool]]], outcome: list[bool] | Exception
    ) -> None:
        """Resolve each caller's future: whether its row was the one written, or the error."""
        if isinstance(outcome, Exception):
            for _, future in batch:
                if not future.done():
                    future.set_exception(outcome)
            return
        for (_, future), written in zip(batch, outcome, strict=True):
            if not future.done():
                future.set_result(written)
