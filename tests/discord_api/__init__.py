"""A loopback Discord REST + gateway stand-in for end-to-end tests of discord.py."""

from tests.discord_api._server import DEFAULT_TOKEN, DiscordServer
from tests.discord_api._world import (
    APPLICATION_ID,
    BOT_ID,
    BOT_PERMISSIONS,
    EPHEMERAL,
    FORUM,
    INTENT_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    MANAGE_GUILD,
    MANAGE_ROLES,
    TEXT,
)

__all__ = [
    "APPLICATION_ID",
    "BOT_ID",
    "BOT_PERMISSIONS",
    "DEFAULT_TOKEN",
    "EPHEMERAL",
    "FORUM",
    "INTENT_MEMBERS",
    "INTENT_MESSAGE_CONTENT",
    "MANAGE_GUILD",
    "MANAGE_ROLES",
    "TEXT",
    "DiscordServer",
]
