"""Leases: due work a process claimed is its own until the lease runs out, renewed while it lives.

A row of work names its claim and when the claim ends (``claimed_by``, ``lease_until``); a
claim is the process's name and the number of the batch (``host:pid:random/7``), so that even
a sweep of the same process cannot act on rows a stalled earlier sweep of it had claimed.
Claiming is one conditional UPDATE (the row is free, or its lease has run out), so of several
processes exactly one wins (on PostgreSQL, ``SELECT ... FOR UPDATE SKIP LOCKED`` picks the rows,
so concurrent claimers take different ones instead of waiting on each other); confirming is
conditional on still being the claimant. While a process works through what it claimed,
``Lease.kept`` renews its claims every third of the lease, so a long batch keeps them; a
process that dies stops renewing, and another process (or the same one after a restart) takes
the work over once the lease has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

CLAIMANT_LENGTH = 80  # and the batch number, within the 100 characters of ``claimed_by``


def claimant_id() -> str:
    """Return a name for one process's claims: host, pid and a random part (pids come back)."""
    host = socket.gethostname()[:60] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"[:CLAIMANT_LENGTH]


class LeaseLost(Exception):
    """Another process took over work this one had claimed: its lease had run out."""


class Lease:
    """One process's claims: its name, each claim's name, and how long a claim lasts."""

    def __init__(self, claimant: str, duration: timedelta) -> None:
        self.claimant = claimant
        self.duration = duration
        self._batches = itertools.count(1)

    def token(self) -> str:
        """Return the name of a new claim (one batch of rows) of this process."""
        return f"{self.claimant}/{next(self._batches)}"

    def until(self, now: datetime) -> datetime:
        """Return when a claim made or renewed at ``now`` runs out."""
        return now + self.duration

    async def claim(
        self,
        conn: AsyncConnection,
        table: Table,
        free: ColumnElement[bool],
        *,
        token: str,
        now: datetime,
        order_by: Sequence[ColumnElement[Any]],
        limit: int,
        returning: Sequence[ColumnElement[Any]],
        **values: object,
    ) -> list[Row[Any]]:
        """Claim as ``token`` up to ``limit`` rows of ``table`` that are ``free``, by ``order_by``.

        One UPDATE, whose condition is checked again on each row it changes: of several
        processes claiming at once, each row goes to one (on PostgreSQL the rows are picked
        ``FOR UPDATE SKIP LOCKED``). Return the rows it claimed.
        """
        first = select(table.c.id).where(free).order_by(*order_by).limit(limit)
        chosen: Any = first
        if conn.dialect.name == "postgresql":
            # Rows another process is claiming right now are passed over, not waited for: each
            # process takes its own batch at once instead of queueing behind the same rows.
            # The ids are read first: as a subquery of the UPDATE, PostgreSQL may run the
            # LIMIT again for each row (a nested loop) and so claim every free row at once.
            chosen = (await conn.execute(first.with_for_update(skip_locked=True))).scalars().all()
            if not chosen:
                return []
        result = await conn.execute(
            update(table)
            .where(table.c.id.in_(chosen), free)
            .values(claimed_by=token, lease_until=self.until(now), **values)
            .returning(*returning)
        )
        return list(result.all())

    @contextlib.asynccontextmanager
    async def kept(self, renew: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
        """Call ``renew`` every third of the lease while the block runs; stop when it ends."""
        task = asyncio.create_task(self._renewing(renew), name=f"lease-{self.claimant}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renewing(self, renew: Callable[[], Awaitable[object]]) -> None:
        every = self.duration.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await renew()
            except Exception:
                # The next tick tries again; a lease that runs out meanwhile is taken over.
                log.exception("could not renew the claims of %s", self.claimant)
