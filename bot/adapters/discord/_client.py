"""discord.py's client for Cohort: the intents it asks for and every event routed to the adapter."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord._buttons import CohortButton
from bot.core.identity import Caller
from bot.core.platforms import PlatformName

if TYPE_CHECKING:
    from bot.adapters.discord._adapter import DiscordAdapter

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Return the intents Cohort needs: guilds, members, messages, their text, reactions."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True  # privileged: joins, leaves, role changes
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.guild_reactions = True  # Q&A votes
    wanted.message_content = True  # privileged: points and Q&A read what people write
    return wanted


def caller_of(user: discord.abc.User, locale: str | None = None) -> Caller:
    """Describe a Discord user to the core."""
    return Caller(
        platform=PlatformName.DISCORD,
        user_id=str(user.id),
        display_name=user.display_name or user.name,
        username=user.name,
        locale=locale,
        is_bot=user.bot,
    )


def caller_from_json(user: dict[str, Any]) -> Caller:
    """Describe a user from an interaction's ``resolved.users`` to the core."""
    return Caller(
        platform=PlatformName.DISCORD,
        user_id=str(user["id"]),
        display_name=str(user.get("global_name") or user.get("username") or user["id"]),
        username=user.get("username"),
        is_bot=bool(user.get("bot", False)),
    )


class CohortClient(discord.Client):
    """discord.py's client, with every event routed to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter

    async def setup_hook(self) -> None:
        """Route every Cohort button, including those sent before a restart."""
        self.add_dynamic_items(CohortButton)

    async def on_ready(self) -> None:
        """Sync commands and check roles once the guilds are known."""
        await self.adapter.on_ready()

    async def on_message(self, message: discord.Message) -> None:
        """Hand a message to the core."""
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Run a slash command (buttons arrive through ``CohortButton``)."""
        if interaction.type is discord.InteractionType.application_command:
            await self.adapter.on_command(interaction)

    async def on_member_join(self, member: discord.Member) -> None:
        """Tell the core a person joined a guild."""
        await self.adapter.on_member_join(member)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Tell the core a message was deleted (cached or not)."""
        await self.adapter.on_message_delete(payload)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Tell the core a reaction was added (cached message or not)."""
        await self.adapter.on_reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Tell the core a reaction was taken back (cached message or not)."""
        await self.adapter.on_reaction(payload, added=False)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Tell the core a person left a guild (cached or not)."""
        await self.adapter.on_member_remove(payload)

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        """Tell the core about role changes someone else made."""
        await self.adapter.on_member_update(before, after)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Log an error in an event handler with the event's name."""
        log.exception("discord: error handling %s", event_method)
