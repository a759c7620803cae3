"""Answer one interaction (a slash command or a button press) within Discord's rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord._render import render
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import (
    ChannelRef,
    MessageRef,
)
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.adapters.discord._adapter import DiscordAdapter

log = logging.getLogger(__name__)


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
    ) -> None:
        self.adapter = adapter
        self.interaction = interaction
        self.community = community
        self.channel = channel or ChannelRef(PlatformName.DISCORD, str(interaction.channel_id))
        self.locale = locale
        self.lock = asyncio.Lock()
        self.thinking = False
        self.answered = False

    async def respond(self, reply: Reply) -> MessageRef | None:
        """Send ``reply`` as the response, the deferred answer, or a follow-up."""
        rendered = render(reply)
        view = await self.adapter.view(self.community, reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        interaction = self.interaction
        async with self.lock:
            message: Any
            if not interaction.response.is_done():
                callback = await self.adapter.call(
                    lambda: interaction.response.send_message(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral
                    )
                )
                message = callback.resource if callback is not None else None
            elif self.thinking:
                self.thinking = False
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
            else:
                message = await self.adapter.call(
                    lambda: interaction.followup.send(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral, wait=True
                    )
                )
            self.answered = True
        message_id = getattr(message, "id", None)
        return MessageRef(self.channel, str(message_id)) if message_id else None

    async def defer(self) -> None:
        """Show "thinking" (privately) if nothing answered yet."""
        async with self.lock:
            if self.interaction.response.is_done():
                return
            try:
                await self.interaction.response.defer(ephemeral=True, thinking=True)
            except discord.HTTPException:
                log.exception("discord: could not defer interaction %s", self.interaction.id)
                return
            self.thinking = True

    async def finish(self) -> None:
        """Make sure the interaction was answered: Discord must never say it failed."""
        async with self.lock:
            try:
                if not self.interaction.response.is_done():
                    if self.interaction.type is discord.InteractionType.component:
                        await self.interaction.response.defer()  # acknowledge the press
                    else:
                        await self.interaction.response.send_message(
                            self.adapter.text(self.locale, "discord.done"), ephemeral=True
                        )
                elif self.thinking:
                    self.thinking = False
                    await self.interaction.edit_original_response(
                        content=self.adapter.text(self.locale, "discord.done")
                    )
            except discord.HTTPException:
                log.exception("discord: could not finish interaction %s", self.interaction.id)

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run the handler with a defer timer, then make sure something answered."""
        timer = asyncio.get_running_loop().call_later(
            self.adapter.config.defer_after, lambda: self.adapter.spawn(self.defer())
        )
        try:
            await work()
        finally:
            timer.cancel()
            await self.finish()
