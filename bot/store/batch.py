"""Group commit: many concurrent inserts of one table written in few transactions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
# Work done in the transaction that wrote a batch, given the rows that were new.
AfterInsert = Callable[[AsyncConnection, list[Row]], Awaitable[None]]


class _HookFailed(Exception):
    """An after-insert hook raised: the batch is written again without the hooks."""

    def __init__(self, hook: AfterInsert) -> None:
        super().__init__()
        self.name = getattr(hook, "__qualname__", repr(hook))


class GroupCommit:
    """Insert rows idempotently by a natural key, batching those that arrive together.

    While one batch is being written, new rows queue; the next transaction takes them all. A
    lone writer pays no extra latency, and many writers share one commit instead of queueing
    for the database lock one by one. Each caller learns whether its row was new. Each
    ``after_insert`` hook runs in the batch's transaction with the rows that were new, so what
    it keeps in step with the table (rollups) commits or rolls back with them; when a hook
    fails, the transaction is rolled back, logged, and the rows are written again without the
    hooks (nothing is lost; the hook's table misses them until it is rebuilt).
    """

    def __init__(
        self, db: Database, table: Table, keys: Sequence[str], *, max_batch: int = 500
    ) -> None:
        self.db = db
        self.table = table
        self.keys = tuple(keys)
        self.max_batch = max_batch
        self.after_insert: list[AfterInsert] = []
        self._pending: list[tuple[Row, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, row: Row) -> bool:
        """Insert ``row`` unless its key exists; return whether it was new."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                added = await self._write([row for row, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    self._settle(batch, exc)
                    continue
                # One bad row must not cost the others theirs: write them one by one.
                for one in batch:
                    try:
                        self._settle([one], await self._write([one[0]]))
                    except Exception as single:
                        self._settle([one], single)
                continue
            self._settle(batch, added)

    async def _write(self, rows: list[Row], *, hooks: bool = True) -> set[tuple[Any, ...]]:
        try:
            return await self._write_once(rows, hooks=hooks)
        except _HookFailed as failed:
            # The transaction rolled back: write the rows again without the hooks.
            log.error(
                "%s: after-insert hook %s failed; the rows are written without it",
                self.table,
                failed.name,
                exc_info=failed.__cause__,
            )
            return await self._write_once(rows, hooks=False)

    async def _write_once(self, rows: list[Row], *, hooks: bool) -> set[tuple[Any, ...]]:
        async with self.db.write() as conn:
            added = await insert_ignore_returning(conn, self.table, rows, keys=self.keys)
            if hooks and self.after_insert and added:
                seen: set[tuple[Any, ...]] = set()
                fresh: list[Row] = []
                for row in rows:  # the first of rows sharing a key is the one written
                    key = tuple(row[k] for k in self.keys)
                    if key in added and key not in seen:
                        seen.add(key)
                        fresh.append(row)
                for hook in self.after_insert:
                    try:
                        await hook(conn, fresh)
                    except Exception as exc:
                        raise _HookFailed(hook) from exc
            return added

    def _settle(
        self,
        batch: list[tuple[Row, asyncio.Future[bool]]],
        outcome: set[tuple[Any, ...]] | Exception,
    ) -> None:
        """Resolve each caller's future: whether its row was new, or the error."""
        claimed: set[tuple[Any, ...]] = set()
        for row, future in batch:
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
                continue
            key = tuple(row[k] for k in self.keys)
            future.set_result(key in outcome and key not in claimed)
            claimed.add(key)
