"""SQLite's WAL checkpointed beside the writers, not in their commits, and kept bounded.

With SQLite's default (``wal_autocheckpoint``, 1,000 pages) the commit that takes the WAL past
1,000 pages copies them into the database file and fsyncs twice before its writers hear of it:
the message log's group commit paid that every 15-20 batches (``docs/design-notes.md``, Store).
Here a ``Checkpointer`` does that work on a connection and a thread of its own: woken by the
process's commits, at most every ``interval`` seconds, it runs a ``PASSIVE`` checkpoint, which
never waits for or blocks a writer or a reader.

A passive checkpoint alone cannot bound the WAL: SQLite starts the WAL again from its beginning
only when a write transaction begins after every frame has been copied and while no reader
holds an older snapshot, which under continuous writes rarely happens. Two bounds hold it:

- The writers' own ``wal_autocheckpoint`` is raised to ``wal_pages`` (``Database`` sets it):
  when the WAL reaches that many pages, the commit checkpoints what the checkpointer has not
  copied yet (little) and the next write transaction starts the WAL again.
- When the WAL file passes ``limit_bytes`` anyway (a reader held an old snapshot each time),
  ``over`` turns true after the commit that did it; the next write transaction in this process
  first runs a ``TRUNCATE`` checkpoint here, holding the process's write lock: it waits (up to
  ``wait_ms``) for readers to leave the old snapshots, copies the rest and empties the file.
  So the file stays under ``limit_bytes`` plus one transaction's pages, unless a reader keeps
  one snapshot for longer than ``wait_ms`` (no checkpoint can then: the next write tries again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

log = logging.getLogger(__name__)

WAL_PAGES = 10_000  # the writers' wal_autocheckpoint: a commit-path checkpoint past this
LIMIT_BYTES = 128 * 1024 * 1024  # past this the next write truncates the WAL first
INTERVAL = 0.05  # seconds between two checkpoints at most every
TRUNCATE_WAIT_MS = 2_000  # how long a truncation waits for readers (holding the write lock)


class Mode(StrEnum):
    """The checkpoints this module runs (SQLite's names)."""

    PASSIVE = "PASSIVE"
    TRUNCATE = "TRUNCATE"


class Checkpointer:
    """Checkpoint one SQLite file's WAL on a thread of its own; see the module's docstring."""

    def __init__(
        self,
        path: str,
        *,
        wal_pages: int = WAL_PAGES,
        limit_bytes: int = LIMIT_BYTES,
        interval: float = INTERVAL,
        wait_ms: int = TRUNCATE_WAIT_MS,
    ) -> None:
        self.path = path
        self.wal = path + "-wal"
        self.wal_pages = wal_pages
        self.limit_bytes = limit_bytes
        self.interval = interval
        self.wait_ms = wait_ms
        self.over = False  # the WAL file passed ``limit_bytes``: the next write truncates it
        self.checkpoints = 0  # passive checkpoints run
        self.truncations = 0  # truncating checkpoints run (each one by a write's turn)
        self.busy = 0  # truncations that readers kept from finishing
        self.wal_frames = 0  # the WAL's frames at the last checkpoint
        self.copied_frames = 0  # of which copied into the database
        self.largest_wal = 0  # bytes: the largest WAL file a commit left
        self.on_done: Callable[[], None] | None = None  # after each checkpoint (a health watch)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False

    def written(self) -> None:
        """Hear of a commit: wake the checkpointer, and look at the WAL file's size."""
        if self._wake is not None:
            self._wake.set()
        try:
            size = os.stat(self.wal).st_size
        except OSError:
            return  # not created yet, or just truncated
        self.largest_wal = max(self.largest_wal, size)
        if size > self.limit_bytes:
            self.over = True

    async def run(self) -> None:
        """Checkpoint after commits, at most every ``interval`` seconds, until closed."""
        self._wake = wake = asyncio.Event()
        wake.set()  # once at start: what a previous process left
        while True:
            await wake.wait()
            wake.clear()
            if self._closed:
                return
            await self.checkpoint(Mode.PASSIVE)
            await asyncio.sleep(self.interval)

    async def truncate(self) -> None:
        """Run a truncating checkpoint now (the caller holds the process's write lock)."""
        self.over = False
        try:
            busy = await self.checkpoint(Mode.TRUNCATE)
        except sqlite3.Error:
            log.exception("truncating the WAL of %s failed", self.path)
            busy = True
        self.truncations += 1
        if busy:
            self.busy += 1
            log.warning("the WAL of %s stays over its limit: a reader kept a snapshot", self.path)

    async def checkpoint(self, mode: Mode) -> bool:
        """Run one checkpoint on the checkpointer's thread; return whether readers blocked it."""
        if self._closed:
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="cohort-checkpoint")
        loop = asyncio.get_running_loop()
        busy, frames, copied = await loop.run_in_executor(self._executor, self._run, mode)
        self.checkpoints += mode is Mode.PASSIVE
        self.wal_frames, self.copied_frames = frames, copied
        if self.on_done is not None:
            self.on_done()
        return bool(busy)

    def _run(self, mode: Mode) -> tuple[int, int, int]:
        """Checkpoint (on the checkpointer's thread); return SQLite's busy, frames, copied."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA synchronous=NORMAL")
        busy_ms = self.wait_ms if mode is Mode.TRUNCATE else 0
        self._conn.execute(f"PRAGMA busy_timeout={busy_ms}")
        row = self._conn.execute(f"PRAGMA wal_checkpoint({mode.value})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def report(self) -> dict[str, object]:
        """Describe the WAL for ``/healthz``: checkpoints, truncations, sizes."""
        return {
            "checkpoints": self.checkpoints,
            "truncations": self.truncations,
            "truncations_busy": self.busy,
            "wal_frames": self.wal_frames,
            "copied_frames": self.copied_frames,
            "largest_wal_bytes": self.largest_wal,
        }

    async def close(self) -> None:
        """Stop checkpointing: finish the checkpoint in hand and close the connection."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        executor, self._executor = self._executor, None
        if executor is not None:  # after the checkpoint in hand: one thread, in order
            await asyncio.get_running_loop().run_in_executor(executor, self._close_on_thread)
            executor.shutdown(wait=False)

    def _close_on_thread(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
