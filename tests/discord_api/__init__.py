"""A loopback Discord REST + gateway stand-in for end-to-end tests of discord.py."""

from tests.discord_api._server import DEFAULT_TOKEN, DiscordServer
from tests.discord_api._world import (
    APPLICATION_ID,
    BOT_ID,
    EPHEMERAL,
    FORUM,
    INTENT_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    MANAGE_ROLES,
    TEXT,
)

__all__ = [
    "APPLICATION_ID",
    "BOT_ID",
    "DEFAULT_TOKEN",
    "EPHEMERAL",
    "FORUM",
    "INTENT_MEMBERS",
    "INTENT_MESSAGE_CONTENT",
    "MANAGE_ROLES",
    "TEXT",
    "DiscordServer",
]
