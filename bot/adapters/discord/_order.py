"""Keep related events in order, and pace requests that Discord limits hard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedOrder:
    """Handle events with the same key one after another, in the order they arrived.

    discord.py runs every event handler as its own task; a handler takes its key's lock
    before its first await, and asyncio's locks are fair, so a channel's messages (or one
    member's join and leave) reach the core in gateway order while other keys run alongside.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        """Wait for the earlier events with ``key``, then hold the turn."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]


class Pacer:
    """Space calls at least ``interval`` seconds apart (one guild's bulk role changes)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next call may go."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = max(loop.time(), self._next) + self.interval
