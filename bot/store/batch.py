"""Group commit: many concurrent inserts of one table written in few transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table

from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning

Row = Mapping[str, Any]


class GroupCommit:
    """Insert rows idempotently by a natural key, batching those that arrive together.

    While one batch is being written, new rows queue; the next transaction takes them all. A
    lone writer pays no extra latency, and many writers share one commit instead of queueing
    for the database lock one by one. Each caller learns whether its row was new.
    """

    def __init__(
        self, db: Database, table: Table, keys: Sequence[str], *, max_batch: int = 500
    ) -> None:
        self.db = db
        self.table = table
        self.keys = tuple(keys)
        self.max_batch = max_batch
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

    async def _write(self, rows: list[Row]) -> set[tuple[Any, ...]]:
        async with self.db.write() as conn:
            return await insert_ignore_returning(conn, self.table, rows, keys=self.keys)

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
