"""The stand-in's moderation routes: member timeouts, bans, bulk delete, channel slowmode.

As strict as Discord: each needs its permission (Moderate Members, Ban Members, Manage
Messages, Manage Channels) and a bot role above the target's, else 403 50013; a timeout is at
most 28 days ahead; bulk delete takes 2 to 100 ids (unknown ones count), no repeats, none
older than 14 days (400 50034); ``delete_message_seconds`` is 0 to 604800; slowmode 0 to 21600.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.discord_api._world import (
    ADMINISTRATOR,
    BAN_MEMBERS,
    BOT_ID,
    DISCORD_EPOCH_MS,
    MANAGE_CHANNELS,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    MISSING_PERMISSIONS,
    MODERATE_MEMBERS,
    UNKNOWN_BAN,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    ApiError,
    Guild,
    error,
    invalid_form,
)

if TYPE_CHECKING:
    from tests.discord_api._server import DiscordServer

MAX_TIMEOUT = timedelta(days=28)
MAX_DELETE_SECONDS = 604800
MAX_SLOWMODE = 21600
BULK_MAX_AGE_MS = 14 * 86400 * 1000
TOO_OLD = (400, 50034, "You can only bulk delete messages that are under 14 days old.")
THREAD_TYPES = frozenset({10, 11, 12})


class ModerationRoutes:
    """Route handlers for moderation; ``server`` is the world they act on."""

    def __init__(self, server: DiscordServer) -> None:
        self.server = server

    def _guild(self, params: dict[str, Any]) -> Guild:
        guild = self.server.guilds.get(int(params["guild_id"]))
        if guild is None:
            raise error(UNKNOWN_GUILD)
        return guild

    def _may_act_on(self, guild: Guild, user_id: int, permission: int) -> None:
        """403 unless the bot has ``permission`` and outranks the member (never the owner)."""
        server = self.server
        if not server.permissions(guild, BOT_ID) & permission:
            raise error(MISSING_PERMISSIONS)
        if user_id in guild.members and (
            user_id == guild.owner_id
            or server.top_position(guild, BOT_ID) <= server.top_position(guild, user_id)
        ):
            raise error(MISSING_PERMISSIONS)

    async def edit_member(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Time a member out (``communication_disabled_until``), or lift it with null."""
        server = self.server
        guild = self._guild(params)
        user_id = int(params["user_id"])
        if user_id not in guild.members:
            raise error(UNKNOWN_MEMBER)
        body = await request.json()
        if "communication_disabled_until" in body:
            self._may_act_on(guild, user_id, MODERATE_MEMBERS)
            if server.permissions(guild, user_id) & ADMINISTRATOR:
                raise error(MISSING_PERMISSIONS)  # administrators cannot be timed out
            until = body["communication_disabled_until"]
            if until is not None:
                when = datetime.fromisoformat(until)
                now = datetime.fromtimestamp(server.clock(), UTC)
                if when - now > MAX_TIMEOUT:
                    raise invalid_form(
                        "communication_disabled_until",
                        "BASE_TYPE_BAD_TIME",
                        "Communication disabled until must be less than 28 days in the future",
                    )
            guild.members[user_id]["communication_disabled_until"] = until
            server.timeouts.append((guild.id, user_id, until))
        member = server.member_json(guild, user_id)
        server.gateway.dispatch("GUILD_MEMBER_UPDATE", {**member, "guild_id": str(guild.id)})
        return member

    async def ban(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Ban a user (member or not) and delete their messages of the last seconds given."""
        server = self.server
        guild = self._guild(params)
        user_id = int(params["user_id"])
        server.user(user_id)
        self._may_act_on(guild, user_id, BAN_MEMBERS)
        raw: Any = request.query.get("delete_message_seconds")
        if raw is None and request.can_read_body:
            text = await request.text()
            raw = json.loads(text).get("delete_message_seconds") if text else None
        seconds = int(raw or 0)
        if not 0 <= seconds <= MAX_DELETE_SECONDS:
            raise invalid_form(
                "delete_message_seconds",
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {MAX_DELETE_SECONDS}.",
            )
        guild.bans[user_id] = {"user": dict(server.user(user_id)), "reason": None}
        server.ban_log.append((guild.id, user_id, seconds))
        if user_id in guild.members:
            server.member_leaves(guild.id, user_id)
        if seconds:
            since_ms = int(server.clock() * 1000) - seconds * 1000
            for channel_id in list(guild.channels):
                for message_id, message in list(server.messages.get(channel_id, {}).items()):
                    if int(message["author"]["id"]) == user_id and _ms(message_id) >= since_ms:
                        server.remove(channel_id, message_id)
        return None

    async def unban(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Lift a ban; 404 10026 when there is none."""
        guild = self._guild(params)
        if not self.server.permissions(guild, BOT_ID) & BAN_MEMBERS:
            raise error(MISSING_PERMISSIONS)
        if guild.bans.pop(int(params["user_id"]), None) is None:
            raise error(UNKNOWN_BAN)
        return None

    async def bulk_delete(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Delete 2 to 100 messages younger than 14 days at once."""
        server = self.server
        channel_id = int(params["channel_id"])
        server.channel(channel_id)
        guild = server.guild_of_channel(channel_id)
        if guild is None or not server.permissions(guild, BOT_ID) & MANAGE_MESSAGES:
            raise error(MISSING_PERMISSIONS)
        body = await request.json()
        ids = [int(i) for i in body.get("messages", [])]
        if not 2 <= len(ids) <= 100:
            raise invalid_form(
                "messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length."
            )
        if len(set(ids)) != len(ids):
            raise invalid_form("messages", "BASE_TYPE_BAD_LENGTH", "Duplicate message ids.")
        oldest = int(server.clock() * 1000) - BULK_MAX_AGE_MS
        if any(_ms(i) < oldest for i in ids):
            raise ApiError(*TOO_OLD)
        known = server.messages.get(channel_id, {})
        gone = [i for i in ids if i in known and i not in server.deleted]
        for message_id in gone:
            server.deleted.add(message_id)
        server.gateway.dispatch(
            "MESSAGE_DELETE_BULK",
            {
                "ids": [str(i) for i in gone],
                "channel_id": str(channel_id),
                "guild_id": str(guild.id),
            },
        )
        server.bulk_deletes.append((channel_id, ids))
        return None


def check_slowmode(
    server: DiscordServer, guild: Guild, channel: dict[str, Any], body: dict[str, Any]
) -> None:
    """Apply ``rate_limit_per_user`` from a channel edit, as strictly as Discord."""
    if "rate_limit_per_user" not in body:
        return
    is_thread = int(channel["type"]) in THREAD_TYPES
    needed = MANAGE_THREADS if is_thread else MANAGE_CHANNELS
    if not server.permissions(guild, BOT_ID) & needed:
        raise error(MISSING_PERMISSIONS)
    value = body["rate_limit_per_user"]
    if not isinstance(value, int) or not 0 <= value <= MAX_SLOWMODE:
        raise invalid_form(
            "rate_limit_per_user",
            "NUMBER_TYPE_MAX",
            f"int value should be less than or equal to {MAX_SLOWMODE}.",
        )
    channel["rate_limit_per_user"] = value


def _ms(snowflake: int) -> int:
    """Return the Unix time in milliseconds a snowflake was made at."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS
