"""Long polling, supervised: Cohort's own getUpdates loop instead of PTB's Updater.

PTB's Updater parses a whole ``getUpdates`` batch at once: one update it cannot read makes it
log, keep the offset and fetch the same batch again, for ever, so nothing after it arrives.
Its polling task also dies unseen on a refused token. Here ``ScreenedRequest`` replaces an
update PTB cannot read by an empty one (so the offset moves past it) and reports it, and
``Poller.run`` ends on the first failure for the supervisor to classify (``classify``, after
PTB's own ``network_retry_loop``) and restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import timedelta
from typing import Any

from telegram import Bot, Update
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.core.supervise import Failure, FailureKind, Watch, unexpected

log = logging.getLogger(__name__)

RETRY_SLACK = 0.5  # seconds added to a server's "retry after", as PTB does
ONE_POLLER = (
    "telegram: another process is polling with this bot token; long polling is one process "
    "only: stop the other one, or run every Cohort process in webhook mode ([telegram] mode)"
)


class AnotherPoller(Exception):
    """Another Cohort process on this database holds the bot's polling lock."""


# (error type, kind, reason, pause); the first match wins, so subclasses come first.
_FAILURES: tuple[tuple[type[TelegramError], FailureKind, str, float | None], ...] = (
    (InvalidToken, FailureKind.FATAL, "invalid_token", None),
    (TimedOut, FailureKind.TRANSIENT, "timed_out", 0.0),
    (Conflict, FailureKind.TRANSIENT, "conflict", None),
    (NetworkError, FailureKind.TRANSIENT, "network", None),
    (TelegramError, FailureKind.TRANSIENT, "telegram_error", None),
)


def classify(exc: BaseException) -> Failure:
    """Classify a polling failure: a refused token is fatal, flood control says how long."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return Failure(FailureKind.RETRY_AFTER, "retry_after", seconds + RETRY_SLACK)
    if isinstance(exc, AnotherPoller):
        log.error("%s; this one does not poll", ONE_POLLER)
        return Failure(FailureKind.FATAL, "another_poller", None)
    if isinstance(exc, Conflict) and "other getUpdates" in str(exc):
        # Telegram ends the older of two long polls: a poller elsewhere (another database, or a
        # rolling restart's overlap) took over. Retried, so a brief overlap heals by itself.
        log.error("%s (Telegram: %s)", ONE_POLLER, exc)
        return Failure(FailureKind.TRANSIENT, "another_poller", None)
    for kind_of, kind, reason, pause in _FAILURES:
        if isinstance(exc, kind_of):
            return Failure(kind, reason, pause)
    return unexpected(exc)


class ScreenedRequest(HTTPXRequest):
    """The getUpdates connection: an update PTB cannot read becomes an empty one, reported."""

    def __init__(self, on_unreadable: Callable[[object, Exception], None]) -> None:
        super().__init__(connection_pool_size=1)  # what PTB's builder gives getUpdates
        self.on_unreadable = on_unreadable

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        """Parse Telegram's answer; screen each update in a ``getUpdates`` result."""
        data = BaseRequest.parse_json_payload(payload)
        result = data.get("result")
        if isinstance(result, list):
            data["result"] = [kept for item in result if (kept := self._screen(item)) is not None]
        return data

    def _screen(self, item: object) -> object | None:
        try:
            Update.de_json(item, None)  # type: ignore[arg-type]
        except Exception as exc:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            self.on_unreadable(update_id, exc)
            return {"update_id": update_id} if isinstance(update_id, int) else None
        return item


class Poller:
    """Fetch updates into the application's queue until a call fails."""

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        *,
        timeout: float,
        allowed_updates: list[str],
        lock: Callable[[], AbstractAsyncContextManager[bool]] | None = None,
    ) -> None:
        self.bot = bot
        self.queue = queue
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.offset = 0  # the next update to ask for: every earlier one is confirmed
        self.watch: Watch | None = None
        self.lock = lock or (lambda: nullcontext(True))

    async def run(self) -> None:
        """Long-poll for ever, holding the bot's polling lock; any failure ends the run."""
        async with self.lock() as mine:
            if not mine:
                raise AnotherPoller("the bot's polling lock is held by another process")
            await self._poll()

    async def _poll(self) -> None:
        while True:
            updates = await self.bot.get_updates(
                offset=self.offset,
                timeout=timedelta(seconds=self.timeout),
                allowed_updates=self.allowed_updates,
            )
            if self.watch is not None:
                self.watch.ok()
            for update in updates:
                await self.queue.put(update)
                self.offset = update.update_id + 1

    async def confirm(self) -> None:
        """Tell Telegram the updates taken so far are done, so a restart does not fetch them."""
        if not self.offset:
            return
        try:
            await self.bot.get_updates(
                offset=self.offset, timeout=timedelta(0), allowed_updates=self.allowed_updates
            )
        except TelegramError as exc:
            log.warning("telegram: could not confirm updates up to %d: %s", self.offset, exc)
