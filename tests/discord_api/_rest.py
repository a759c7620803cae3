"""The REST routes of the stand-in, in Discord's shapes and with Discord's error codes."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.discord_api._moderation import ModerationRoutes, check_slowmode
from tests.discord_api._world import (
    ALREADY_ACKNOWLEDGED,
    BOT_ID,
    CANNOT_DM,
    CREATE_EVENTS,
    DM,
    EMPTY_MESSAGE,
    EPHEMERAL,
    FORUM,
    KICK_MEMBERS,
    LOADING,
    MANAGE_EVENTS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    MISSING_PERMISSIONS,
    SEND_MESSAGES,
    THREAD_TYPES,
    UNKNOWN_CHANNEL,
    UNKNOWN_EVENT,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    UNKNOWN_WEBHOOK,
    ApiError,
    Guild,
    Interaction,
    error,
    invalid_form,
)

if TYPE_CHECKING:
    from tests.discord_api._server import DiscordServer

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[Any]]
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
LOCALES = frozenset(
    {"id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl"}
    | {"no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi"}
    | {"th", "zh-CN", "ja", "zh-TW", "ko"}
)
OPTION_TYPES = frozenset(range(1, 12))
# Guild scheduled event statuses, and the changes Discord allows between them.
EVENT_SCHEDULED, EVENT_ACTIVE, EVENT_COMPLETED, EVENT_CANCELED = 1, 2, 3, 4
EVENT_TRANSITIONS = frozenset(
    {
        (EVENT_SCHEDULED, EVENT_ACTIVE),
        (EVENT_SCHEDULED, EVENT_CANCELED),
        (EVENT_ACTIVE, EVENT_COMPLETED),
    }
)


@dataclass(frozen=True)
class RouteSpec:
    """One REST route: a short name for tests (``fail_next("add_role", …)``), method, path."""

    name: str
    method: str
    path: str
    auth: bool = True  # interaction and webhook-token routes need no bot token
    major: str | None = None  # the path parameter that scopes the rate-limit bucket


class Rest:
    """Route handlers; ``server`` is the world they act on."""

    def __init__(self, server: DiscordServer) -> None:
        self.server = server
        s = self
        self.routes: list[tuple[RouteSpec, Handler]] = [
            (RouteSpec("gateway", "GET", "/gateway", auth=False), s.gateway),
            (RouteSpec("gateway_bot", "GET", "/gateway/bot"), s.gateway),
            (RouteSpec("me", "GET", "/users/@me"), s.me),
            (RouteSpec("application", "GET", "/oauth2/applications/@me"), s.application),
            (RouteSpec("create_dm", "POST", "/users/@me/channels"), s.create_dm),
            (RouteSpec("get_user", "GET", "/users/{user_id}"), s.get_user),
            (
                RouteSpec(
                    "bulk_commands",
                    "PUT",
                    "/applications/{app_id}/guilds/{guild_id}/commands",
                    major="guild_id",
                ),
                s.bulk_commands,
            ),
            (
                RouteSpec(
                    "get_commands", "GET", "/applications/{app_id}/guilds/{guild_id}/commands"
                ),
                s.get_commands,
            ),
            (
                RouteSpec(
                    "interaction_callback",
                    "POST",
                    "/interactions/{interaction_id}/{token}/callback",
                    auth=False,
                    major="token",
                ),
                s.callback,
            ),
            (
                RouteSpec(
                    "followup", "POST", "/webhooks/{app_id}/{token}", auth=False, major="token"
                ),
                s.followup,
            ),
            (
                RouteSpec(
                    "get_webhook_message",
                    "GET",
                    "/webhooks/{app_id}/{token}/messages/{message_id}",
                    auth=False,
                    major="token",
                ),
                s.get_webhook_message,
            ),
            (
                RouteSpec(
                    "edit_webhook_message",
                    "PATCH",
                    "/webhooks/{app_id}/{token}/messages/{message_id}",
                    auth=False,
                    major="token",
                ),
                s.edit_webhook_message,
            ),
            (
                RouteSpec(
                    "delete_webhook_message",
                    "DELETE",
                    "/webhooks/{app_id}/{token}/messages/{message_id}",
                    auth=False,
                    major="token",
                ),
                s.delete_webhook_message,
            ),
            (
                RouteSpec(
                    "create_message", "POST", "/channels/{channel_id}/messages", major="channel_id"
                ),
                s.create_message,
            ),
            (
                RouteSpec(
                    "edit_message",
                    "PATCH",
                    "/channels/{channel_id}/messages/{message_id}",
                    major="channel_id",
                ),
                s.edit_message,
            ),
            (
                RouteSpec(
                    "delete_message",
                    "DELETE",
                    "/channels/{channel_id}/messages/{message_id}",
                    major="channel_id",
                ),
                s.delete_message,
            ),
            (
                RouteSpec(
                    "pin_message",
                    "PUT",
                    "/channels/{channel_id}/messages/pins/{message_id}",
                    major="channel_id",
                ),
                s.pin_message,
            ),
            (
                RouteSpec(
                    "unpin_message",
                    "DELETE",
                    "/channels/{channel_id}/messages/pins/{message_id}",
                    major="channel_id",
                ),
                s.unpin_message,
            ),
            (RouteSpec("get_channel", "GET", "/channels/{channel_id}"), s.get_channel),
            (
                RouteSpec("edit_channel", "PATCH", "/channels/{channel_id}", major="channel_id"),
                s.edit_channel,
            ),
            (
                RouteSpec(
                    "create_thread", "POST", "/channels/{channel_id}/threads", major="channel_id"
                ),
                s.create_thread,
            ),
            (
                RouteSpec(
                    "start_thread",
                    "POST",
                    "/channels/{channel_id}/messages/{message_id}/threads",
                    major="channel_id",
                ),
                s.start_thread,
            ),
            (
                RouteSpec(
                    "create_invite", "POST", "/channels/{channel_id}/invites", major="channel_id"
                ),
                s.create_invite,
            ),
            (
                RouteSpec("guild_invites", "GET", "/guilds/{guild_id}/invites", major="guild_id"),
                s.guild_invites,
            ),
            (
                RouteSpec(
                    "add_role",
                    "PUT",
                    "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
                    major="guild_id",
                ),
                s.add_role,
            ),
            (
                RouteSpec(
                    "remove_role",
                    "DELETE",
                    "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
                    major="guild_id",
                ),
                s.remove_role,
            ),
            (
                RouteSpec("get_member", "GET", "/guilds/{guild_id}/members/{user_id}"),
                s.get_member,
            ),
            (
                RouteSpec(
                    "kick", "DELETE", "/guilds/{guild_id}/members/{user_id}", major="guild_id"
                ),
                s.kick,
            ),
            (RouteSpec("get_roles", "GET", "/guilds/{guild_id}/roles"), s.get_roles),
            (RouteSpec("get_guild", "GET", "/guilds/{guild_id}"), s.get_guild),
            (RouteSpec("guild_channels", "GET", "/guilds/{guild_id}/channels"), s.guild_channels),
            *moderation_routes(ModerationRoutes(server)),
            (
                RouteSpec(
                    "create_event", "POST", "/guilds/{guild_id}/scheduled-events", major="guild_id"
                ),
                s.create_event,
            ),
            (
                RouteSpec("get_event", "GET", "/guilds/{guild_id}/scheduled-events/{event_id}"),
                s.get_event,
            ),
            (
                RouteSpec(
                    "edit_event",
                    "PATCH",
                    "/guilds/{guild_id}/scheduled-events/{event_id}",
                    major="guild_id",
                ),
                s.edit_event,
            ),
            (
                RouteSpec(
                    "delete_event",
                    "DELETE",
                    "/guilds/{guild_id}/scheduled-events/{event_id}",
                    major="guild_id",
                ),
                s.delete_event,
            ),
        ]

    # --- helpers ----------------------------------------------------------------------------

    def _guild(self, params: dict[str, Any]) -> Guild:
        guild = self.server.guilds.get(int(params["guild_id"]))
        if guild is None:
            raise error(UNKNOWN_GUILD)
        return guild

    def _interaction(self, params: dict[str, Any]) -> Interaction:
        found = self.server.by_token.get(params["token"])
        if found is None:
            raise error(UNKNOWN_WEBHOOK)
        return found

    # --- gateway, users, application --------------------------------------------------------

    async def gateway(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Tell the bot where the gateway is."""
        data: dict[str, Any] = {"url": self.server.gateway_url}
        if request.path.endswith("/bot"):
            data["shards"] = self.server.recommended_shards()
            data["session_start_limit"] = {
                "total": 1000,
                "remaining": 1000 - self.server.gateway.identifies,
                "reset_after": 14_400_000,
                "max_concurrency": self.server.max_concurrency,
            }
        return data

    async def me(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return the bot user."""
        return dict(self.server.bot_user)

    async def application(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return the bot's application."""
        owner = next((u for i, u in self.server.users.items() if i != BOT_ID), None)
        return {
            "id": str(self.server.application_id),
            "name": "Cohort",
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.server.application_flags(),
            "owner": dict(owner or self.server.bot_user),
        }

    async def get_user(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a user."""
        user = self.server.users.get(int(params["user_id"]))
        if user is None:
            raise error(UNKNOWN_USER)
        return dict(user)

    async def create_dm(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Open (or return) the DM channel with a user; this works even when DMs are closed."""
        body = await _json(request)
        user_id = int(body["recipient_id"])
        if user_id not in self.server.users:
            raise error(UNKNOWN_USER)
        return self.server.dm_channel(user_id)

    # --- application commands ---------------------------------------------------------------

    async def bulk_commands(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Replace a guild's commands; a command keeps its id when its name stays."""
        guild = self._guild(params)
        body = await _json(request)
        if not isinstance(body, list) or len(body) > 100:
            raise invalid_form("_", "BASE_TYPE_BAD_LENGTH", "Must be between 0 and 100 in length.")
        old = {c["name"]: c for c in self.server.commands.get(guild.id, [])}
        names = set()
        result = []
        _check_localised_names(body, "_")
        for index, command in enumerate(body):
            _check_command(command, f"{index}")
            if command["name"] in names:
                raise invalid_form(f"{index}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "dup")
            names.add(command["name"])
            previous = old.get(command["name"])
            result.append(
                {
                    **command,
                    "id": previous["id"] if previous else str(self.server.snowflake()),
                    "application_id": str(self.server.application_id),
                    "guild_id": str(guild.id),
                    "version": str(self.server.snowflake()),
                    "type": command.get("type", 1),
                    "default_member_permissions": command.get("default_member_permissions"),
                    "nsfw": False,
                }
            )
        self.server.commands[guild.id] = result
        self.server.command_puts[guild.id] = self.server.command_puts.get(guild.id, 0) + 1
        return result

    async def get_commands(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a guild's commands."""
        return self.server.commands.get(self._guild(params).id, [])

    # --- interactions -----------------------------------------------------------------------

    async def callback(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Take the first response to an interaction (within the time limit)."""
        server = self.server
        interaction = server.interactions.get(int(params["interaction_id"]))
        if interaction is None or interaction.token != params["token"]:
            raise error(UNKNOWN_INTERACTION)
        elapsed = server.loop_time() - interaction.created
        if interaction.answered:
            raise error(ALREADY_ACKNOWLEDGED)
        if elapsed > server.interaction_timeout:  # noted late by the server's callback timer
            raise error(UNKNOWN_INTERACTION)
        body, files = await _message_body(request)
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind not in (4, 5, 6, 7) or (kind in (6, 7) and interaction.type != 3):
            raise invalid_form("type", "BASE_TYPE_CHOICES", f"Value must be one of ... ({kind})")
        message: dict[str, Any] | None = None
        if kind == 4:
            _check_message(data, files)
            message = server.interaction_message(interaction, data, files)
        elif kind == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = server.interaction_message(interaction, {"flags": flags}, [])
        elif kind == 7:
            assert interaction.message_id is not None
            _check_message(data, files, allow_empty=True)
            message = server.edit(interaction.channel_id, interaction.message_id, data, files)
        interaction.response_type = kind
        interaction.answered_after = elapsed
        if message is not None and kind in (4, 5):
            interaction.original_id = int(message["id"])
        if "with_response" not in request.query:
            return None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and int(message["flags"]) & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            result["resource"]["message"] = message
        return result

    async def followup(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Send a follow-up; the first one after a defer fills the "thinking" message."""
        server = self.server
        interaction = self._interaction(params)
        if not interaction.answered:
            raise error(UNKNOWN_WEBHOOK)
        body, files = await _message_body(request)
        _check_message(body, files)
        original = server.original(interaction)
        if original is not None and int(original["flags"]) & LOADING:
            flags = int(original["flags"]) & EPHEMERAL
            message = server.edit(
                interaction.channel_id, int(original["id"]), {**body, "flags": flags}, files
            )
            message["flags"] = flags
            return message
        message = server.interaction_message(interaction, body, files)
        interaction.followups.append(int(message["id"]))
        return message

    def _webhook_message(self, interaction: Interaction, message_id: str) -> dict[str, Any]:
        wanted = interaction.original_id if message_id == "@original" else int(message_id)
        if wanted is None or (
            wanted != interaction.original_id and wanted not in interaction.followups
        ):
            raise error(UNKNOWN_WEBHOOK if wanted is None else (404, 10008, "Unknown Message"))
        return self.server.find_message(interaction.channel_id, wanted)

    async def get_webhook_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return the original response or a follow-up."""
        return self._webhook_message(self._interaction(params), params["message_id"])

    async def edit_webhook_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Edit the original response (ending "thinking") or a follow-up."""
        interaction = self._interaction(params)
        message = self._webhook_message(interaction, params["message_id"])
        body, files = await _message_body(request)
        _check_message(body, files, allow_empty=True)
        edited = self.server.edit(interaction.channel_id, int(message["id"]), body, files)
        edited["flags"] = int(edited["flags"]) & ~LOADING
        return edited

    async def delete_webhook_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Delete the original response or a follow-up."""
        interaction = self._interaction(params)
        message = self._webhook_message(interaction, params["message_id"])
        self.server.remove(interaction.channel_id, int(message["id"]))
        return None

    # --- channels and messages --------------------------------------------------------------

    def _check_send(self, channel_id: int) -> dict[str, Any]:
        server = self.server
        channel = server.channel(channel_id)
        if int(channel["type"]) == DM:
            user_id = server.dm_user(channel_id)
            if user_id in server.dms_closed:
                raise error(CANNOT_DM)
            return channel
        if int(channel["type"]) == FORUM:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        guild = server.guild_of_channel(channel_id)
        assert guild is not None
        if channel_id in server.read_only or not server.permissions(guild, BOT_ID) & SEND_MESSAGES:
            raise error(MISSING_PERMISSIONS)
        meta = channel.get("thread_metadata")
        if meta and (meta["archived"] and meta["locked"]):
            raise ApiError(400, 50083, "Thread is archived")
        return channel

    async def create_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Post a message as the bot."""
        channel_id = int(params["channel_id"])
        self._check_send(channel_id)
        body, files = await _message_body(request)
        _check_message(body, files)
        reference = body.get("message_reference")
        if reference:
            self.server.find_message(channel_id, int(reference["message_id"]))
        return self.server.post(channel_id, BOT_ID, body, files)

    async def edit_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Edit a bot message."""
        channel_id, message_id = int(params["channel_id"]), int(params["message_id"])
        message = self.server.find_message(channel_id, message_id)
        if int(message["author"]["id"]) != BOT_ID:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body, files = await _message_body(request)
        _check_message(body, files, allow_empty=True)
        return self.server.edit(channel_id, message_id, body, files)

    async def delete_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Delete a message."""
        channel_id, message_id = int(params["channel_id"]), int(params["message_id"])
        self.server.find_message(channel_id, message_id)
        self.server.remove(channel_id, message_id)
        return None

    async def pin_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Pin a message (needs Manage Messages)."""
        return self._set_pinned(params, pinned=True)

    async def unpin_message(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Unpin a message (needs Manage Messages)."""
        return self._set_pinned(params, pinned=False)

    def _set_pinned(self, params: dict[str, Any], *, pinned: bool) -> None:
        server = self.server
        channel_id, message_id = int(params["channel_id"]), int(params["message_id"])
        guild = server.guild_of_channel(channel_id)
        if guild is None or not server.permissions(guild, BOT_ID) & MANAGE_MESSAGES:
            raise error(MISSING_PERMISSIONS)
        server.find_message(channel_id, message_id)["pinned"] = pinned

    async def get_channel(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a channel or thread."""
        return self.server.channel(int(params["channel_id"]))

    async def edit_channel(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Rename a channel, or archive, lock or retag a thread."""
        server = self.server
        channel_id = int(params["channel_id"])
        channel = server.channel(channel_id)
        guild = server.guild_of_channel(channel_id)
        body = await _json(request)
        if guild is None:
            raise error(MISSING_PERMISSIONS)
        is_thread = int(channel["type"]) in THREAD_TYPES
        owner = is_thread and int(channel.get("owner_id", 0)) == BOT_ID
        if (
            set(body) - {"rate_limit_per_user"}
            and not owner
            and not (server.permissions(guild, BOT_ID) & MANAGE_THREADS)
        ):
            raise error(MISSING_PERMISSIONS)
        check_slowmode(server, guild, channel, body)
        if "name" in body:
            channel["name"] = body["name"]
        if is_thread:
            meta = channel["thread_metadata"]
            for key in ("archived", "locked", "auto_archive_duration"):
                if key in body:
                    meta[key] = body[key]
            if "archived" in body:
                meta["archive_timestamp"] = server.iso_now()
            if "applied_tags" in body:
                channel["applied_tags"] = list(body["applied_tags"])
            server.gateway.dispatch("THREAD_UPDATE", dict(channel))
        return dict(channel)

    async def create_thread(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Open a forum post (with its first message and tags) or a thread without a message."""
        server = self.server
        channel_id = int(params["channel_id"])
        parent = server.channel(channel_id)
        guild = server.guild_of_channel(channel_id)
        if guild is None or channel_id in server.read_only:
            raise error(MISSING_PERMISSIONS)
        body, files = await _message_body(request)
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        if int(parent["type"]) == FORUM:
            message = body.get("message")
            if not isinstance(message, dict):
                raise invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
            _check_message(message, files)
            tags = [str(t) for t in body.get("applied_tags") or []]
            known = {t["id"] for t in parent.get("available_tags", [])}
            if not set(tags) <= known:
                raise invalid_form("applied_tags", "BASE_TYPE_CHOICES", "Unknown tag")
            thread = server.open_thread(guild, channel_id, BOT_ID, name, tags=tags)
            first = server.post(int(thread["id"]), BOT_ID, message, files, message_id=thread["id"])
            return {**thread, "message": first}
        return server.open_thread(guild, channel_id, BOT_ID, name)

    async def start_thread(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Open a thread on a message; the thread takes the message's id."""
        server = self.server
        channel_id, message_id = int(params["channel_id"]), int(params["message_id"])
        server.find_message(channel_id, message_id)
        guild = server.guild_of_channel(channel_id)
        if guild is None:
            raise error(UNKNOWN_CHANNEL)
        body = await _json(request)
        return server.open_thread(guild, channel_id, BOT_ID, body["name"], thread_id=message_id)

    async def create_invite(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Create an invite into a channel's guild."""
        server = self.server
        channel_id = int(params["channel_id"])
        channel = server.channel(channel_id)
        guild = server.guild_of_channel(channel_id)
        if guild is None:
            raise error(UNKNOWN_CHANNEL)
        if not server.permissions(guild, BOT_ID) & (1 << 0):
            raise error(MISSING_PERMISSIONS)
        body = await _json(request)
        return server.open_invite(
            guild,
            channel,
            BOT_ID,
            max_uses=int(body.get("max_uses", 0)),
            max_age=int(body.get("max_age", 86400)),
            temporary=bool(body.get("temporary", False)),
        )

    async def guild_invites(self, request: web.Request, params: dict[str, Any]) -> Any:
        """List a guild's invites with their metadata (uses); needs Manage Server."""
        guild = self._guild(params)
        if not self.server.permissions(guild, BOT_ID) & MANAGE_GUILD:
            raise error(MISSING_PERMISSIONS)
        return [dict(invite) for invite in guild.invites.values()]

    # --- members and roles ------------------------------------------------------------------

    def _role_change(self, params: dict[str, Any]) -> tuple[Guild, int, int]:
        guild = self._guild(params)
        user_id, role_id = int(params["user_id"]), int(params["role_id"])
        if role_id not in guild.roles:
            raise error(UNKNOWN_ROLE)
        if user_id not in guild.members:
            raise error(UNKNOWN_MEMBER)
        if not self.server.may_manage_role(guild, role_id):
            raise error(MISSING_PERMISSIONS)
        return guild, user_id, role_id

    async def add_role(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Give a member a role."""
        guild, user_id, role_id = self._role_change(params)
        self.server.change_roles(guild, user_id, add=(role_id,))
        return None

    async def remove_role(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Take a role from a member."""
        guild, user_id, role_id = self._role_change(params)
        self.server.change_roles(guild, user_id, remove=(role_id,))
        return None

    async def get_member(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a guild member."""
        guild = self._guild(params)
        user_id = int(params["user_id"])
        if user_id not in guild.members:
            raise error(UNKNOWN_MEMBER)
        return self.server.member_json(guild, user_id)

    async def kick(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Remove a member from the guild."""
        guild = self._guild(params)
        user_id = int(params["user_id"])
        if user_id not in guild.members:
            raise error(UNKNOWN_MEMBER)
        server = self.server
        if not server.permissions(guild, BOT_ID) & KICK_MEMBERS or server.top_position(
            guild, BOT_ID
        ) <= server.top_position(guild, user_id):
            raise error(MISSING_PERMISSIONS)
        server.member_leaves(guild.id, user_id)
        return None

    async def get_guild(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a guild as REST does: GUILD_CREATE's fields without channels, members,
        threads, presences, voice states or when the bot joined."""
        full = self.server.guild_create_json(self._guild(params).id)
        gateway_only = (
            "channels",
            "members",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        )
        guild = {k: v for k, v in full.items() if k not in gateway_only}
        if request.query.get("with_counts") == "true":
            guild["approximate_member_count"] = len(self._guild(params).members)
        return guild

    async def guild_channels(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a guild's channels (not its threads)."""
        guild = self._guild(params)
        return [c for c in guild.channels.values() if "thread_metadata" not in c]

    async def get_roles(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return a guild's roles."""
        return list(self._guild(params).roles.values())

    async def create_event(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Create an external guild scheduled event."""
        server = self.server
        guild = self._guild(params)
        if not server.permissions(guild, BOT_ID) & (MANAGE_EVENTS | CREATE_EVENTS):
            raise error(MISSING_PERMISSIONS)
        body = await _json(request)
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        if len(body.get("description") or "") > 1000:
            raise invalid_form("description", "BASE_TYPE_BAD_LENGTH", "Must be 1000 or fewer.")
        start = datetime.fromisoformat(body["scheduled_start_time"])
        end_text = body.get("scheduled_end_time")
        location = (body.get("entity_metadata") or {}).get("location")
        if int(body.get("entity_type", 0)) == 3 and (not end_text or not location):
            raise invalid_form("entity_metadata", "BASE_TYPE_REQUIRED", "location and end needed")
        if start.timestamp() < server.clock():
            raise invalid_form(
                "scheduled_start_time", "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST", "in the past"
            )
        if end_text and datetime.fromisoformat(end_text) <= start:
            raise invalid_form("scheduled_end_time", "BASE_TYPE_BAD_VALUE", "ends before start")
        event_id = server.snowflake()
        event = {
            "id": str(event_id),
            "guild_id": str(guild.id),
            "channel_id": body.get("channel_id"),
            "creator_id": str(BOT_ID),
            "creator": dict(server.bot_user),
            "name": name,
            "description": body.get("description"),
            "scheduled_start_time": body["scheduled_start_time"],
            "scheduled_end_time": end_text,
            "privacy_level": int(body.get("privacy_level", 2)),
            "status": 1,
            "entity_type": int(body.get("entity_type", 3)),
            "entity_id": None,
            "entity_metadata": body.get("entity_metadata"),
            "user_count": 0,
            "image": None,
            "recurrence_rule": None,
        }
        guild.events[event_id] = event
        return event

    def _event(self, params: dict[str, Any], *, change: bool) -> tuple[Guild, dict[str, Any]]:
        """Return a guild's event; with ``change``, check the bot may edit or delete it."""
        guild = self._guild(params)
        event = guild.events.get(int(params["event_id"]))
        if event is None:
            raise error(UNKNOWN_EVENT)
        if change:
            # Manage Events allows any event; Create Events only the bot's own.
            allowed = self.server.permissions(guild, BOT_ID)
            own = event["creator_id"] == str(BOT_ID)
            if not allowed & MANAGE_EVENTS and not (own and allowed & CREATE_EVENTS):
                raise error(MISSING_PERMISSIONS)
        return guild, event

    async def get_event(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Return one guild scheduled event."""
        _, event = self._event(params, change=False)
        return dict(event)

    async def edit_event(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Change a scheduled event, with Discord's rules on status and times."""
        _, event = self._event(params, change=True)
        status = int(event["status"])
        if status in (EVENT_COMPLETED, EVENT_CANCELED):
            raise invalid_form("status", "GUILD_SCHEDULED_EVENT_ENDED", "The event has ended.")
        body = await _json(request)
        changed = dict(event)
        for key in ("name", "description", "scheduled_start_time", "scheduled_end_time"):
            if key in body:
                changed[key] = body[key]
        if "entity_metadata" in body:
            changed["entity_metadata"] = body["entity_metadata"]
        if not 1 <= len(changed["name"] or "") <= 100:
            raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        if len(changed["description"] or "") > 1000:
            raise invalid_form("description", "BASE_TYPE_BAD_LENGTH", "Must be 1000 or fewer.")
        start = datetime.fromisoformat(changed["scheduled_start_time"])
        if changed["scheduled_start_time"] != event["scheduled_start_time"]:
            if status == EVENT_ACTIVE:
                raise invalid_form(
                    "scheduled_start_time", "GUILD_SCHEDULED_EVENT_ACTIVE", "it has started"
                )
            if start.timestamp() < self.server.clock():
                raise invalid_form(
                    "scheduled_start_time", "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST", "in the past"
                )
        end_text = changed["scheduled_end_time"]
        if int(changed["entity_type"]) == 3 and (
            not end_text or not (changed["entity_metadata"] or {}).get("location")
        ):
            raise invalid_form("entity_metadata", "BASE_TYPE_REQUIRED", "location and end needed")
        if end_text and datetime.fromisoformat(end_text) <= start:
            raise invalid_form("scheduled_end_time", "BASE_TYPE_BAD_VALUE", "ends before start")
        if "status" in body:
            wanted = int(body["status"])
            if (status, wanted) not in EVENT_TRANSITIONS:
                raise invalid_form("status", "BASE_TYPE_CHOICES", f"{status} -> {wanted}")
            changed["status"] = wanted
        event.update(changed)
        return dict(event)

    async def delete_event(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Delete a scheduled event."""
        guild, event = self._event(params, change=True)
        del guild.events[int(event["id"])]
        return None


# --- reading and checking bodies -------------------------------------------------------------


async def _json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


async def _message_body(request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a JSON body or a multipart one (``payload_json`` plus ``files[n]``)."""
    if not request.content_type.startswith("multipart/"):
        body = await _json(request)
        return (body if isinstance(body, dict) else {}), []
    form = await request.post()
    body = json.loads(str(form.get("payload_json") or "{}"))
    files = []
    for key, value in form.items():
        if key.startswith("files[") and isinstance(value, web.FileField):
            files.append({"filename": value.filename, "data": value.file.read()})
    return body, files


def _check_message(
    body: dict[str, Any], files: list[dict[str, Any]], *, allow_empty: bool = False
) -> None:
    """Refuse what Discord refuses: empty messages, and anything over its limits."""
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    components = body.get("components") or []
    if len(content) > 2000:
        raise invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    if not allow_empty and not content and not embeds and not files:
        raise error(EMPTY_MESSAGE)
    if len(embeds) > 10:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            value = embed.get(key) or ""
            total += len(value)
            if len(value) > limit:
                raise invalid_form(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"> {limit}")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise invalid_form(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "> 25")
        for j, field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = field.get(key) or ""
                total += len(value)
                if not value or len(value) > limit:
                    raise invalid_form(
                        f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_BAD_LENGTH", f"1 to {limit}"
                    )
    if total > 6000:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds 6000")
    if len(components) > 5:
        raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(components):
        items = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(items) <= 5:
            raise invalid_form(f"components.{i}", "BASE_TYPE_BAD_LENGTH", "1 to 5 items")
        for j, button in enumerate(items):
            where = f"components.{i}.components.{j}"
            if button.get("type") != 2:
                continue
            if len(button.get("label") or "") > 80:
                raise invalid_form(f"{where}.label", "BASE_TYPE_MAX_LENGTH", "> 80")
            if int(button.get("style", 0)) == 5:
                if not button.get("url"):
                    raise invalid_form(f"{where}.url", "BASE_TYPE_REQUIRED", "required")
                continue
            custom_id = button.get("custom_id") or ""
            if not 1 <= len(custom_id) <= 100:
                raise invalid_form(f"{where}.custom_id", "BASE_TYPE_BAD_LENGTH", "1 to 100")
            if custom_id in seen:
                raise invalid_form(f"{where}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED", "dup")
            seen.add(custom_id)


def _check_localised_names(siblings: list[dict[str, Any]], where: str) -> None:
    """Refuse siblings that share a name in some locale, as Discord does."""
    locales = {loc for item in siblings for loc in item.get("name_localizations") or {}}
    for locale in locales:
        seen: set[str] = set()
        for index, item in enumerate(siblings):
            name = (item.get("name_localizations") or {}).get(locale, item.get("name"))
            if name in seen:
                raise invalid_form(
                    f"{where}.{index}.name_localizations.{locale}",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"{name!r} is used twice",
                )
            seen.add(name)


def _check_command(command: dict[str, Any], where: str) -> None:
    """Refuse a command payload Discord would refuse."""
    name = command.get("name", "")
    if not COMMAND_NAME.match(name) or name != name.lower():
        raise invalid_form(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", repr(name))
    description = command.get("description", "")
    if not 1 <= len(description) <= 100:
        raise invalid_form(f"{where}.description", "BASE_TYPE_BAD_LENGTH", "1 to 100")
    for key in ("name_localizations", "description_localizations"):
        for locale, text in (command.get(key) or {}).items():
            if locale not in LOCALES:
                raise invalid_form(f"{where}.{key}.{locale}", "LOCALE_INVALID", locale)
            limit = 32 if key == "name_localizations" else 100
            if not 1 <= len(text) <= limit:
                raise invalid_form(f"{where}.{key}.{locale}", "BASE_TYPE_BAD_LENGTH", text)
            if key == "name_localizations" and (
                not COMMAND_NAME.match(text) or text != text.lower()
            ):
                raise invalid_form(
                    f"{where}.{key}.{locale}", "APPLICATION_COMMAND_INVALID_NAME", repr(text)
                )
    options = command.get("options") or []
    _check_localised_names(options, f"{where}.options")
    if len(options) > 25:
        raise invalid_form(f"{where}.options", "BASE_TYPE_MAX_LENGTH", "> 25")
    optional_seen = False
    for i, option in enumerate(options):
        if int(option.get("type", 0)) not in OPTION_TYPES:
            raise invalid_form(f"{where}.options.{i}.type", "BASE_TYPE_CHOICES", "bad type")
        _check_command(option, f"{where}.options.{i}")
        if option.get("required") and optional_seen:
            raise invalid_form(
                f"{where}.options.{i}.required",
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        optional_seen = optional_seen or not option.get("required")
        if len(option.get("choices") or []) > 25:
            raise invalid_form(f"{where}.options.{i}.choices", "BASE_TYPE_MAX_LENGTH", "> 25")


def moderation_routes(m: ModerationRoutes) -> list[tuple[RouteSpec, Handler]]:
    """Return the moderation routes (``_moderation.py``) with their rate-limit buckets."""
    return [
        (
            RouteSpec(
                "edit_member", "PATCH", "/guilds/{guild_id}/members/{user_id}", major="guild_id"
            ),
            m.edit_member,
        ),
        (RouteSpec("ban", "PUT", "/guilds/{guild_id}/bans/{user_id}", major="guild_id"), m.ban),
        (
            RouteSpec("unban", "DELETE", "/guilds/{guild_id}/bans/{user_id}", major="guild_id"),
            m.unban,
        ),
        (
            RouteSpec(
                "bulk_delete",
                "POST",
                "/channels/{channel_id}/messages/bulk-delete",
                major="channel_id",
            ),
            m.bulk_delete,
        ),
    ]
