"""Handle updates concurrently across chats but in order within each chat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatOrder(BaseUpdateProcessor):
    """Process one chat's updates one after another (join before leave, question before answer).

    Different chats still run side by side, up to ``max_concurrent_updates`` at once. A chat's
    lock is taken before a concurrency slot, so one busy chat cannot hold every slot.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}

    # PTB marks this final and suggests do_process_update, but that runs inside the semaphore:
    # the chat's lock must be taken before a slot (see the class docstring).
    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        """Wait for the chat's earlier updates, then for a free slot, then handle this one."""
        key = _chat_key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update."""
        await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def _chat_key(update: object) -> int:
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return 0
