"""One process at a time: PostgreSQL advisory locks around work that must not run twice at once.

Several Cohort processes on one PostgreSQL database each schedule the same recurring jobs.
``one_at_a_time`` takes a session advisory lock named after the job on a connection of its
own, held while the job runs: a process that finds it taken skips that run (the holder is
doing it), and a holder that dies loses its connection and with it the lock. On SQLite there
is nothing to take (one process per database file): the job always runs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.store.db import Database

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """Return the signed 64-bit advisory lock key for ``name`` (the same in every process)."""
    digest = hashlib.sha256(f"cohort:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def one_at_a_time(db: Database, name: str) -> AsyncIterator[bool]:
    """Hold the lock ``name`` while the block runs; yield whether this process got it."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    async with db.engine.connect() as conn:
        got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    await conn.commit()
                except DBAPIError:  # the connection died, and the lock went with it
                    log.warning("lost the connection holding the lock %s", name, exc_info=True)
