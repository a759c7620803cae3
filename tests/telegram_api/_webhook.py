"""Webhook delivery as Telegram does it: POST each update, retry until a 2xx, a chat in order.

Telegram posts an update to the URL given to ``setWebhook`` with the secret token in
``X-Telegram-Bot-Api-Secret-Token``, and keeps it (and sends it again, later) until the answer is
a 2xx; an answer that does not come in time counts as a failure too, so an update the bot did
handle can come again. It sends up to ``max_connections`` updates at once, but one chat's next
update only once the one before is answered, so a chat's updates arrive in order.

The registered URL is an HTTPS address a test cannot serve; ``targets`` are the loopback
addresses behind it, taken in turn, as a load balancer in front of several processes would.
``lose_answer`` makes the stand-in ignore the bot's answer to the first POST of some updates
(as when it comes too late), so that those come again, likely to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from tests.telegram_api._world import World

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def chat_of(update: dict[str, Any]) -> int:
    """Return the chat an update belongs to (its sender's id when it has no chat)."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        holder = payload.get("message") if kind == "callback_query" else payload
        if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
            return int(holder["chat"]["id"])
        sender = payload.get("from") or payload.get("user") or {}
        return int(sender.get("id", 0))
    return 0


class WebhookSender:
    """Deliver the world's pending updates to its webhook, once one is set and targets known."""

    def __init__(self, world: World, *, retry_delay: float = 0.05, timeout: float = 30.0) -> None:
        self.w = world
        self.targets: list[str] = []
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.lost: set[int] = set()  # update ids whose next answer is ignored
        self.posts: list[tuple[int, str, int | None]] = []  # (update_id, target, status)
        self._turn = itertools.count()
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # chat -> its one POST under way
        self._task: asyncio.Task[None] | None = None

    def lose_answer(self, *update_ids: int) -> None:
        """Ignore the answer to the next POST of each of these updates: they come again."""
        self.lost.update(update_ids)

    def start(self) -> None:
        """Start delivering in the background (until ``stop``), unless it runs already."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stand-in-webhook-sender")

    async def stop(self) -> None:
        """Stop delivering; POSTs under way are abandoned."""
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._in_flight.clear()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                changed = self.w.changed()
                self._send_due(http)
                await changed.wait()

    def _send_due(self, http: aiohttp.ClientSession) -> None:
        hook = self.w.webhook
        if hook is None or not self.targets or self.w.closing:
            return
        allowed = hook["allowed_updates"]
        kinds = frozenset(allowed) if isinstance(allowed, list) and allowed else None
        waiting: set[int] = set()  # chats with an earlier update not yet delivered
        for update in list(self.w.updates):
            kind = next(k for k in update if k != "update_id")
            if kinds is not None and kind not in kinds:
                self.w.updates.remove(update)  # Telegram drops what the bot did not ask for
                continue
            chat = chat_of(update)
            if chat in waiting:
                continue
            waiting.add(chat)
            if chat in self._in_flight or len(self._in_flight) >= hook["max_connections"]:
                continue
            self._in_flight[chat] = asyncio.create_task(self._post(http, hook, chat, update))

    async def _post(
        self, http: aiohttp.ClientSession, hook: dict[str, Any], chat: int, update: dict[str, Any]
    ) -> None:
        target = self.targets[next(self._turn) % len(self.targets)]
        headers = {"Content-Type": "application/json"}
        if hook["secret_token"]:
            headers[SECRET_HEADER] = hook["secret_token"]
        status: int | None = None
        error = ""
        try:
            async with http.post(target, data=json.dumps(update), headers=headers) as response:
                await response.read()
                status = response.status
                error = f"Wrong response from the webhook: {status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        update_id = int(update["update_id"])
        self.posts.append((update_id, target, status))
        delivered = status is not None and 200 <= status < 300
        if delivered and update_id in self.lost:
            self.lost.discard(update_id)
            delivered = False
            error = "Read timeout expired"
        if delivered:
            if update in self.w.updates:
                self.w.updates.remove(update)
        else:
            hook["last_error_date"] = self.w.now()
            hook["last_error_message"] = error
            await asyncio.sleep(self.retry_delay)
        del self._in_flight[chat]
        self.w.notify()
