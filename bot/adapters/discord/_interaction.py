"""Answer one interaction (a slash command or a button press) within Discord's rules.

Discord takes an interaction's first response (the answer, or a "thinking" deferral) only
within 3 seconds of the interaction. discord.py retries a 5xx for up to 25 seconds, so the
first response is cut off at the window (counted from receipt, with a margin) and never
retried past it; the deferral timer never waits on a lock while the network is awaited; and an
answer whose first response failed asks Discord whether it took it after all, then falls back
to a message in the channel (a private answer: a direct message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import discord

from bot.adapters.discord._render import render
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef, PlatformError
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.adapters.discord._adapter import DiscordAdapter

log = logging.getLogger(__name__)

T = TypeVar("T")
RESPONSE_WINDOW = 3.0  # seconds Discord waits for an interaction's first response
RESPONSE_MARGIN = 0.25  # kept back for the response to travel
NETWORK_ERRORS = (aiohttp.ClientError, OSError, RuntimeError)  # RuntimeError: session closed


class Stage(StrEnum):
    """Where the interaction's one first response stands."""

    OPEN = "open"  # nothing sent yet
    RESPONDING = "responding"  # the answer is on its way as the first response
    DEFERRING = "deferring"  # the "thinking" deferral is on its way
    THINKING = "thinking"  # deferred: the answer replaces or follows "thinking"
    ANSWERED = "answered"  # answered: more answers are follow-ups
    MISSED = "missed"  # the first response failed or the window closed: answers fall back


class InteractionAnswer:
    """Answer one interaction exactly once, deferring when the work takes too long.

    The first answer is the interaction's response; later ones are follow-ups. When the
    handler is still running after ``defer_after`` seconds the interaction is deferred with a
    private "thinking" message; the first answer then replaces it (private answers) or
    removes it and follows up in public. ``finish`` makes sure something answered.
    """

    def __init__(
        self,
        adapter: DiscordAdapter,
        interaction: discord.Interaction,
        community: Community | None,
        channel: ChannelRef | None,
        locale: str,
        *,
        received: float,
    ) -> None:
        self.adapter = adapter
        self.interaction = interaction
        self.community = community
        self.channel = channel or ChannelRef(PlatformName.DISCORD, str(interaction.channel_id))
        self.locale = locale
        self.received = received  # loop time
        self.deadline = received + RESPONSE_WINDOW - RESPONSE_MARGIN
        self.stage = Stage.OPEN
        self.order = asyncio.Lock()  # the handler's answers, in turn; the deferral never takes it
        self.settled = asyncio.Event()  # set when a deferral in flight has its outcome

    async def respond(self, reply: Reply) -> MessageRef | None:
        """Send ``reply`` as the response, the deferred answer, a follow-up, or a fallback."""
        rendered = render(reply)
        view = await self.adapter.view(self.community, reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        interaction = self.interaction
        async with self.order:
            if self.stage is Stage.DEFERRING:
                await self.settled.wait()  # bounded by the deadline
            if self.stage is Stage.OPEN:
                self.stage = Stage.RESPONDING
                made, callback = await self._first(
                    lambda: interaction.response.send_message(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral
                    )
                )
                if made:
                    self.stage = Stage.ANSWERED
                    return self._ref(callback.resource if callback is not None else None)
                self.stage, original = await self._recover()
                if self.stage is Stage.ANSWERED:
                    return self._ref(original)  # Discord took it despite the error
            message: Any
            if self.stage is Stage.THINKING:
                self.stage = Stage.ANSWERED
                if reply.ephemeral:
                    message = await self.adapter.call(
                        lambda: interaction.edit_original_response(
                            **rendered.edit_kwargs(), view=view
                        )
                    )
                else:
                    # The "thinking" message is private; a public answer is a new message.
                    await self.adapter.call(interaction.delete_original_response)
                    message = await self.adapter.call(
                        lambda: interaction.followup.send(
                            **rendered.send_kwargs(), **extra, wait=True
                        )
                    )
            elif self.stage is Stage.ANSWERED:
                message = await self.adapter.call(
                    lambda: interaction.followup.send(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral, wait=True
                    )
                )
            else:
                return await self._fallback(reply)
        return self._ref(message)

    def _ref(self, message: Any) -> MessageRef | None:
        message_id = getattr(message, "id", None)
        return MessageRef(self.channel, str(message_id)) if message_id else None

    async def _first(self, make: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """Make the first response within the window, no retry past it; say if it was made."""
        try:
            async with asyncio.timeout_at(self.deadline):
                return True, await make()
        except (TimeoutError, discord.HTTPException, *NETWORK_ERRORS) as exc:
            log.warning(
                "discord: no first response to interaction %s after %.1f s (%s)",
                self.interaction.id,
                asyncio.get_running_loop().time() - self.received,
                type(exc).__name__,
            )
            return False, None

    async def _recover(self) -> tuple[Stage, Any]:
        """After a failed first response, ask Discord whether it took it after all."""
        try:
            original = await self.adapter.call(self.interaction.original_response)
        except PlatformError:
            return Stage.MISSED, None  # it did not: the interaction's webhook is unknown
        if original.flags.loading:
            return Stage.THINKING, None
        return Stage.ANSWERED, original

    async def _fallback(self, reply: Reply) -> MessageRef:
        """Answer outside the interaction: in the channel, or privately for a private reply."""
        if reply.ephemeral:
            return await self.adapter.direct_message(str(self.interaction.user.id), reply)
        return await self.adapter.send(self.channel, reply)

    async def defer(self) -> None:
        """Show "thinking" (privately) if nothing is answering yet; never wait for an answer."""
        if self.stage is not Stage.OPEN:
            return  # an answer is on its way or made: a deferral could only collide with it
        self.stage = Stage.DEFERRING
        self.settled.clear()
        try:
            made, _ = await self._first(
                lambda: self.interaction.response.defer(ephemeral=True, thinking=True)
            )
            self.stage = Stage.THINKING if made else (await self._recover())[0]
        finally:
            self.settled.set()

    async def finish(self) -> None:
        """Make sure the interaction was answered: Discord must never say it failed."""
        async with self.order:
            interaction = self.interaction
            try:
                if self.stage is Stage.OPEN:
                    self.stage = Stage.RESPONDING
                    if interaction.type is discord.InteractionType.component:
                        made, _ = await self._first(interaction.response.defer)  # acknowledge
                    else:
                        made, _ = await self._first(
                            lambda: interaction.response.send_message(
                                self.adapter.text(self.locale, "discord.done"), ephemeral=True
                            )
                        )
                    self.stage = Stage.ANSWERED if made else Stage.MISSED
                elif self.stage is Stage.THINKING:
                    self.stage = Stage.ANSWERED
                    await self.adapter.call(
                        lambda: interaction.edit_original_response(
                            content=self.adapter.text(self.locale, "discord.done")
                        )
                    )
            except PlatformError as exc:
                log.error("discord: could not finish interaction %s: %s", interaction.id, exc)

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run the handler with a deferral timer, then make sure something answered."""
        timer = asyncio.create_task(self._defer_when_slow())
        try:
            await work()
        finally:
            if self.stage is not Stage.DEFERRING:
                timer.cancel()
            try:
                await asyncio.wait({timer})  # a deferral in flight ends by the deadline
            except asyncio.CancelledError:
                timer.cancel()
                raise
            await self.finish()

    async def _defer_when_slow(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self.received + self.adapter.config.defer_after - loop.time()))
        await self.defer()
