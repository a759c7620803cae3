"""The Discord adapter, on discord.py: slash commands, buttons, events and the Platform port."""

from bot.adapters.discord._adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
