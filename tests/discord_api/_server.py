"""A local Discord REST + gateway server on loopback for driving the real discord.py."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.discord_api._gateway import Gateway
from tests.discord_api._rest import Handler, Rest, RouteSpec
from tests.discord_api._world import (
    APPLICATION_ID,
    BOT_ID,
    BOT_PERMISSIONS,
    DM,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    FORUM,
    INTENT_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    INTENT_PRESENCES,
    PRIVILEGED_INTENTS,
    PUBLIC_THREAD,
    TEXT,
    ApiError,
    Guild,
    Interaction,
    World,
)

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "MTAwMDAw.cohort-test.discord-token"
API_PREFIX = "/api/v10"
_MENTION = re.compile(r"<@!?(\d+)>")
OPTION_USER, OPTION_STRING, OPTION_INTEGER, OPTION_SUB = 6, 3, 4, 1


@dataclass
class _Bucket:
    limit: int
    per: float
    used: int = 0
    reset_at: float = 0.0


class DiscordServer(World):
    """A Discord stand-in: real HTTP and websockets on 127.0.0.1, in-memory Discord behind.

    Use ``async with DiscordServer() as dc:`` and point discord.py at ``dc.api_base`` (REST;
    ``GET /gateway/bot`` there names ``dc.gateway_url``). Arrange the world with ``add_user``,
    ``add_guild``, ``add_role``, ``add_channel``, ``add_member``; act as people with
    ``user_says``, ``user_posts``, ``run_command``, ``press``, ``member_joins``,
    ``member_leaves``, ``set_roles``; steer with ``fail_next``, ``limit``, ``disconnect``,
    ``close_dms``, ``absent_as_null``, ``gateway.corrupt``; inspect with ``sent()``,
    ``interactions``, ``commands``, ``calls``, ``callback_times`` and ``wait_for``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_interval: float = 41.25,
        interaction_timeout: float = 3.0,
    ) -> None:
        super().__init__(token=token, clock=clock)
        self.bot_id = BOT_ID
        self.application_id = APPLICATION_ID
        self.interaction_timeout = interaction_timeout
        self.allowed_intents = PRIVILEGED_INTENTS
        self.max_concurrency = 1  # IDENTIFYs per 5 seconds (GET /gateway/bot)
        self.guilds_per_recommended_shard = 1000  # Discord recommends about one per 1,000
        self.gateway = Gateway(self, heartbeat_interval=heartbeat_interval)
        self.rest = Rest(self)
        self.server_errors: list[BaseException] = []
        self.cpu_seconds = 0.0  # CPU the stand-in spent answering and framing, for benchmarks
        self.late_answers: list[int] = []  # interactions with a first response past the window
        self.callback_times: list[
            tuple[int, float]
        ] = []  # every first-response attempt, failed too
        self.absent_as_null: set[str] = set()  # MESSAGE_CREATE fields sent as null, not left out
        self.rate_limited: list[str] = []
        self.read_only: set[int] = set()
        self.files: dict[int, list[dict[str, Any]]] = {}
        self.closing = False
        self.port = 0
        self._failures: dict[str, deque[tuple[ApiError, bool]]] = {}
        self._limits: dict[str, tuple[int, float]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """Return the REST base URL to give discord.py (``Route.BASE``)."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Return the gateway URL (what ``GET /gateway/bot`` answers)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        """Listen on an OS-chosen port on 127.0.0.1."""
        if self._runner is not None:
            raise RuntimeError("the Discord stand-in is already running")
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        for spec, handler in self.rest.routes:
            app.router.add_route(spec.method, API_PREFIX + spec.path, self._wrap(spec, handler))
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        self.port = sock.getsockname()[1]
        self.closing = False

    async def stop(self) -> None:
        """Close every gateway connection and the server."""
        self.closing = True
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if exc_type is None and self.server_errors:
            raise AssertionError(
                f"the Discord stand-in failed while serving: {self.server_errors[0]!r}"
            ) from self.server_errors[0]

    def recommended_shards(self) -> int:
        """Return the shard count Discord recommends (``GET /gateway/bot``'s ``shards``)."""
        return max(1, -(-len(self.guilds) // self.guilds_per_recommended_shard))

    def application_flags(self) -> int:
        """Return the application's flags: the privileged intents switched on (unverified)."""
        flags = 0
        if self.allowed_intents & INTENT_MEMBERS:
            flags |= 1 << 15  # GATEWAY_GUILD_MEMBERS_LIMITED
        if self.allowed_intents & INTENT_PRESENCES:
            flags |= 1 << 13  # GATEWAY_PRESENCE_LIMITED
        if self.allowed_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
        return flags

    def loop_time(self) -> float:
        """Return the event loop's clock (interaction deadlines are measured on it)."""
        return asyncio.get_running_loop().time()

    # --- HTTP plumbing ----------------------------------------------------------------------

    async def _unknown(self, request: web.Request) -> web.Response:
        self.calls.append(("unknown", f"{request.method} {request.path}", None))
        return _json_response({"message": "404: Not Found", "code": 0}, status=404)

    def _wrap(self, spec: RouteSpec, handler: Handler) -> Callable[..., Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            params = dict(request.match_info)
            self.calls.append((spec.name, f"{request.method} {request.path}", params))
            if spec.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                return _json_response({"message": "401: Unauthorized", "code": 0}, status=401)
            bucket_key = f"{spec.name}:{params.get(spec.major or '', '')}"
            headers, exceeded = self._rate_headers(spec.name, bucket_key)
            if spec.name == "interaction_callback":
                self._time_callback(int(params["interaction_id"]))
            queued = self._failures.get(spec.name)
            failure, after = queued.popleft() if queued else (None, False)
            if failure is None and exceeded:
                self.rate_limited.append(spec.name)
                failure = ApiError(429, 0, "rate limited", retry_after=self._retry_in(bucket_key))
            if failure is not None and not after:
                return self._error(failure, headers)
            try:
                started = time.thread_time()  # the stand-in's own work (not what it awaits)
                result = handler(request, params)
                self.cpu_seconds += time.thread_time() - started
                if inspect.isawaitable(result):
                    result = await result
            except ApiError as failed:
                return self._error(failed, headers)
            except Exception as exc:
                log.exception("discord stand-in: %s failed", spec.name)
                self.server_errors.append(exc)
                return self._error(ApiError(500, 0, f"500: Internal Server Error {exc!r}"), headers)
            if failure is not None:  # done, but the answer is lost on the way back
                return self._error(failure, headers)
            if result is None:
                return web.Response(status=204, headers=headers)
            started = time.thread_time()
            response = _json_response(result, headers=headers)
            self.cpu_seconds += time.thread_time() - started
            return response

        return serve

    def _time_callback(self, interaction_id: int) -> None:
        """Note when a first response arrived, failing or not; past the window it is late."""
        interaction = self.interactions.get(interaction_id)
        if interaction is None:
            return
        elapsed = self.loop_time() - interaction.created
        self.callback_times.append((interaction_id, elapsed))
        if elapsed > self.interaction_timeout and interaction_id not in self.late_answers:
            self.late_answers.append(interaction_id)

    def _rate_headers(self, name: str, key: str) -> tuple[dict[str, str], bool]:
        """Count a request against its bucket; return Discord's headers and if it is over."""
        limit, per = self._limits.get(name, (50, 1.0))
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(limit, per))
        bucket.limit, bucket.per = limit, per
        if now >= bucket.reset_at:
            bucket.used, bucket.reset_at = 0, now + per
        bucket.used += 1
        remaining = bucket.limit - bucket.used
        reset_after = max(bucket.reset_at - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(name.encode()).hexdigest()[:16],
        }
        return headers, remaining < 0

    def _retry_in(self, key: str) -> float:
        bucket = self._buckets[key]
        return round(max(bucket.reset_at - time.monotonic(), 0.001), 3)

    @staticmethod
    def _error(failure: ApiError, headers: dict[str, str]) -> web.Response:
        headers = dict(headers)
        if failure.status == 429:
            # Discord's 429s come through its proxy: discord.py reads a 429 without Via as a
            # Cloudflare ban and gives up.
            headers.update(
                {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(failure.retry_after or 0))),
                    "X-RateLimit-Scope": "global" if failure.is_global else "user",
                    "X-RateLimit-Remaining": "0",
                }
            )
            if failure.is_global:
                headers["X-RateLimit-Global"] = "true"
        return _json_response(failure.body(), status=failure.status, headers=headers)

    # --- arranging the world ----------------------------------------------------------------

    def add_user(
        self, user_id: int, name: str, *, locale: str = "en-US", bot: bool = False
    ) -> None:
        """Add a Discord user; ``locale`` is their client's language, sent with interactions."""
        if user_id == BOT_ID:
            raise ValueError(f"{BOT_ID} is the bot itself")
        self.users[user_id] = self._user_json(user_id, name, bot=bot)
        self.locales[user_id] = locale

    def add_guild(
        self,
        guild_id: int,
        name: str = "Demo",
        *,
        owner_id: int | None = None,
        bot_role_position: int = 1,
        bot_permissions: int = BOT_PERMISSIONS,
        locale: str = "en-US",
    ) -> None:
        """Add a guild with @everyone and the bot's own managed role, the bot a member."""
        owner = owner_id if owner_id is not None else next(iter(set(self.users) - {BOT_ID}), 1)
        guild = Guild(guild_id, name, owner, locale=locale)
        self.guilds[guild_id] = guild
        guild.roles[guild_id] = _role(guild_id, "@everyone", 0, EVERYONE_PERMISSIONS)
        bot_role = self.snowflake()
        guild.roles[bot_role] = {
            **_role(bot_role, BOT_NAME_ROLE, bot_role_position, bot_permissions),
            "managed": True,
            "tags": {"bot_id": str(BOT_ID)},
        }
        guild.members[BOT_ID] = self._new_member([bot_role])

    def add_role(
        self, guild_id: int, role_id: int, name: str, position: int, *, permissions: int = 0
    ) -> None:
        """Add a role at ``position`` (higher is more powerful; equal positions tie by id)."""
        role = _role(role_id, name, position, permissions)
        self.guild(guild_id).roles[role_id] = role
        self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": dict(role)})

    def bot_role(self, guild_id: int) -> int:
        """Return the id of the bot's own managed role in a guild."""
        guild = self.guild(guild_id)
        return next(int(r["id"]) for r in guild.roles.values() if r.get("managed"))

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        *,
        type: int = TEXT,
        tags: tuple[str, ...] = (),
    ) -> None:
        """Add a text channel, or a forum (``type=FORUM``) with ``tags`` to choose from."""
        guild = self.guild(guild_id)
        channel: dict[str, Any] = {
            "id": str(channel_id),
            "guild_id": str(guild_id),
            "name": name,
            "type": type,
            "position": len(guild.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
            "last_message_id": None,
        }
        if type == FORUM:
            channel["available_tags"] = [
                {
                    "id": str(channel_id + index + 1),
                    "name": tag,
                    "moderated": False,
                    "emoji_id": None,
                    "emoji_name": None,
                }
                for index, tag in enumerate(tags)
            ]
            channel["flags"] = 0
        guild.channels[channel_id] = channel
        self.channel_guild[channel_id] = guild_id

    def tag_id(self, forum_id: int, name: str) -> str:
        """Return the id of a forum's tag by name."""
        forum = self.channel(forum_id)
        return next(t["id"] for t in forum["available_tags"] if t["name"] == name)

    def _new_member(self, roles: list[int]) -> dict[str, Any]:
        return {
            "roles": [str(r) for r in roles],
            "joined_at": self.iso_now(),
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "premium_since": None,
            "communication_disabled_until": None,
        }

    def add_member(self, guild_id: int, user_id: int, roles: tuple[int, ...] = ()) -> None:
        """Make a user a member of a guild without any event."""
        self.user(user_id)
        self.guild(guild_id).members[user_id] = self._new_member(list(roles))

    def close_dms(self, user_id: int, closed: bool = True) -> None:
        """Make a user refuse DMs from the bot (sending then fails with 403 50007)."""
        self.user(user_id)
        if closed:
            self.dms_closed.add(user_id)
        else:
            self.dms_closed.discard(user_id)

    def guild_create_json(self, guild_id: int) -> dict[str, Any]:
        """Return the GUILD_CREATE payload: the guild with its roles, channels and members."""
        guild = self.guild(guild_id)
        plain = [c for c in guild.channels.values() if "thread_metadata" not in c]
        threads = [
            c
            for c in guild.channels.values()
            if "thread_metadata" in c and not c["thread_metadata"]["archived"]
        ]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(guild.owner_id),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": ["COMMUNITY"],
            "mfa_level": 0,
            "system_channel_id": plain[0]["id"] if plain else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "preferred_locale": guild.locale,
            "premium_tier": 0,
            "nsfw_level": 0,
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "joined_at": self.iso_now(),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [self.member_json(guild, user_id) for user_id in guild.members],
            "channels": plain,
            "threads": threads,
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": list(guild.events.values()),
            "soundboard_sounds": [],
        }

    # --- building and changing messages -----------------------------------------------------

    def dm_channel(self, user_id: int) -> dict[str, Any]:
        """Return (creating once) the DM channel with a user."""
        channel = self.dm_channels.get(user_id)
        if channel is None:
            channel = {
                "id": str(self.snowflake()),
                "type": DM,
                "last_message_id": None,
                "recipients": [dict(self.user(user_id))],
            }
            self.dm_channels[user_id] = channel
        return channel

    def post(
        self,
        channel_id: int,
        author_id: int,
        body: dict[str, Any],
        files: list[dict[str, Any]],
        *,
        message_id: str | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        message_type: int = 0,
        interaction: Interaction | None = None,
    ) -> dict[str, Any]:
        """Create a message, keep it, and dispatch MESSAGE_CREATE unless it is ephemeral."""
        message = self.message_json(
            channel_id,
            author_id,
            body,
            message_id=int(message_id) if message_id else None,
            flags=flags,
            webhook_id=webhook_id,
            message_type=message_type,
        )
        if files:
            message["attachments"] = [
                {
                    "id": str(self.snowflake()),
                    "filename": f["filename"],
                    "size": len(f["data"]),
                    "url": f"https://cdn.invalid/{f['filename']}",
                    "proxy_url": f"https://cdn.invalid/{f['filename']}",
                }
                for f in files
            ]
            self.files[int(message["id"])] = files
        message["mentions"] = [
            dict(self.users[int(uid)])
            for uid in dict.fromkeys(_MENTION.findall(message["content"]))
            if int(uid) in self.users
        ]
        if interaction is not None:
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": dict(self.user(interaction.user_id)),
                "authorizing_integration_owners": {"0": str(interaction.guild_id or 0)},
            }
        reference = message.get("message_reference")
        if reference:
            target = self.messages.get(channel_id, {}).get(int(reference["message_id"]))
            if target is not None:
                message["referenced_message"] = dict(target)
        self.store_message(message, by_bot=author_id == BOT_ID)
        guild = self.guild_of_channel(channel_id)
        channel = self.channel(channel_id)
        channel["last_message_id"] = message["id"]
        if "thread_metadata" in channel:
            channel["message_count"] = channel.get("message_count", 0) + 1
        if not int(message["flags"]) & EPHEMERAL:
            event = dict(message)
            for key in self.absent_as_null:  # a Discord-compatible server's nulls
                event.setdefault(key, None)
            if guild is not None:
                # In a guild Discord adds the author's partial member (no ``user``; none for a
                # webhook's message) and a partial ``member`` to each mentioned user who is
                # one; a DM carries neither.
                if author_id in guild.members and webhook_id is None:
                    event["member"] = self.partial_member(guild, author_id)
                event["mentions"] = [
                    {**user, "member": self.partial_member(guild, int(user["id"]))}
                    if int(user["id"]) in guild.members
                    else user
                    for user in message["mentions"]
                ]
            self.gateway.dispatch("MESSAGE_CREATE", event)
        return message

    def interaction_message(
        self, interaction: Interaction, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Create a message answering an interaction (a response or a follow-up)."""
        return self.post(
            interaction.channel_id,
            BOT_ID,
            body,
            files,
            webhook_id=self.application_id,
            message_type=20 if interaction.type == 2 else 0,
            interaction=interaction,
        )

    def original(self, interaction: Interaction) -> dict[str, Any] | None:
        """Return an interaction's original response message, if it has one still."""
        if interaction.original_id is None or interaction.original_id in self.deleted:
            return None
        return self.messages.get(interaction.channel_id, {}).get(interaction.original_id)

    def edit(
        self, channel_id: int, message_id: int, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply an edit to a message (only the keys given change)."""
        message = self.find_message(channel_id, message_id)
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"]) | (int(message["flags"]) & EPHEMERAL)
        if files:
            self.files[message_id] = files
        message["edited_timestamp"] = self.iso_now()
        if not int(message["flags"]) & EPHEMERAL:
            self.gateway.dispatch("MESSAGE_UPDATE", dict(message))
        return message

    def remove(self, channel_id: int, message_id: int) -> None:
        """Delete a message."""
        self.deleted.add(message_id)
        guild = self.guild_of_channel(channel_id)
        data = {"id": str(message_id), "channel_id": str(channel_id)}
        if guild is not None:
            data["guild_id"] = str(guild.id)
        self.gateway.dispatch("MESSAGE_DELETE", data)

    def open_thread(
        self,
        guild: Guild,
        parent_id: int,
        owner_id: int,
        name: str,
        *,
        tags: list[str] | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Create a public thread (a forum post when the parent is a forum)."""
        thread_id = thread_id or self.snowflake()
        thread = {
            "id": str(thread_id),
            "guild_id": str(guild.id),
            "parent_id": str(parent_id),
            "owner_id": str(owner_id),
            "name": name,
            "type": PUBLIC_THREAD,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": list(tags or []),
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 4320,
                "archive_timestamp": self.iso_now(),
                "locked": False,
                "create_timestamp": self.iso_now(),
            },
        }
        guild.channels[thread_id] = thread
        self.channel_guild[thread_id] = guild.id
        self.gateway.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def change_roles(
        self, guild: Guild, user_id: int, *, add: tuple[int, ...] = (), remove: tuple[int, ...] = ()
    ) -> None:
        """Change a member's roles and dispatch GUILD_MEMBER_UPDATE if anything changed."""
        member = guild.members[user_id]
        before = list(member["roles"])
        roles = [r for r in before if int(r) not in remove]
        roles += [str(r) for r in add if str(r) not in roles]
        member["roles"] = roles
        if roles != before:
            self.gateway.dispatch(
                "GUILD_MEMBER_UPDATE",
                {"guild_id": str(guild.id), **self.member_json(guild, user_id)},
            )

    # --- people acting ----------------------------------------------------------------------

    def user_says(
        self, channel_id: int, user_id: int, content: str, *, reply_to: int | None = None
    ) -> dict[str, Any]:
        """Post a message as a person (``<@id>`` in it mentions); dispatch MESSAGE_CREATE."""
        self.user(user_id)
        channel = self.channel(channel_id)
        if int(channel["type"]) == FORUM:
            raise ValueError("people post in a forum with user_posts()")
        guild = self.guild_of_channel(channel_id)
        if guild is not None and user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        if guild is None and self.dm_user(channel_id) != user_id:
            raise ValueError(f"user {user_id} can't write in DM channel {channel_id}")
        body: dict[str, Any] = {"content": content}
        if reply_to is not None:
            self.find_message(channel_id, reply_to)
            body["message_reference"] = {"message_id": str(reply_to)}
        return self.post(channel_id, user_id, body, [])

    def user_reacts(
        self, channel_id: int, user_id: int, message_id: int, emoji: str, *, added: bool = True
    ) -> None:
        """Add (or take back) a person's unicode emoji reaction; dispatch the gateway event."""
        self.find_message(channel_id, message_id)
        guild = self.guild_of_channel(channel_id)
        if guild is None or user_id not in guild.members:
            raise ValueError(f"user {user_id} can't react in channel {channel_id}")
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "guild_id": str(guild.id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if added:  # Discord sends the member with an add, not with a removal
            data["member"] = self.member_json(guild, user_id)
        event = "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE"
        self.gateway.dispatch(event, data)

    def user_posts(
        self, forum_id: int, user_id: int, title: str, content: str, *, tags: tuple[str, ...] = ()
    ) -> int:
        """Open a forum post as a person; return its thread id (also its first message's id)."""
        forum = self.channel(forum_id)
        guild = self.guild_of_channel(forum_id)
        if int(forum["type"]) != FORUM or guild is None:
            raise ValueError(f"channel {forum_id} is not a forum")
        tag_ids = [self.tag_id(forum_id, tag) for tag in tags]
        thread = self.open_thread(guild, forum_id, user_id, title, tags=tag_ids)
        self.post(int(thread["id"]), user_id, {"content": content}, [], message_id=thread["id"])
        return int(thread["id"])

    def _interaction_base(
        self, kind: int, guild_id: int, channel_id: int, user_id: int, data: dict[str, Any]
    ) -> tuple[Interaction, dict[str, Any]]:
        guild = self.guild(guild_id)
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
        interaction = Interaction(
            id=self.snowflake(),
            token=secrets.token_urlsafe(32),
            type=kind,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            created=self.loop_time(),
            data=data,
        )
        self.interactions[interaction.id] = interaction
        self.by_token[interaction.token] = interaction
        member = self.member_json(guild, user_id)
        member["permissions"] = str(self.permissions(guild, user_id))
        payload = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": guild.locale, "features": []},
            "channel_id": str(channel_id),
            "channel": dict(self.channel(channel_id)),
            "member": member,
            "token": interaction.token,
            "version": 1,
            "app_permissions": str(self.permissions(guild, BOT_ID)),
            "locale": self.locales.get(user_id, "en-US"),
            "guild_locale": guild.locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        return interaction, payload

    def run_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        validate: bool = True,
    ) -> int:
        """Run a slash command as a person and return the interaction id.

        ``name`` is one word or two (a subcommand). With ``validate`` the stand-in checks the
        command and its options against what the bot synced, as Discord's client does before
        sending anything (it raises ValueError instead of sending); ``validate=False`` sends
        what a stale or hostile client might.
        """
        words = name.split(" ")
        options = dict(options or {})
        synced = {c["name"]: c for c in self.commands.get(guild_id, [])}
        command = synced.get(words[0])
        if validate and command is None:
            raise ValueError(f"no command /{words[0]} synced in guild {guild_id}")
        schema = command.get("options", []) if command else []
        if len(words) == 2:
            sub = next((o for o in schema if o["name"] == words[1]), None)
            if validate and (sub is None or sub["type"] != OPTION_SUB):
                raise ValueError(f"/{words[0]} has no subcommand {words[1]}")
            schema = (sub or {}).get("options", [])
        resolved: dict[str, Any] = {}
        values = []
        by_name = {o["name"]: o for o in schema}
        for option_name, value in options.items():
            spec = by_name.get(option_name)
            if validate:
                self._validate_option(option_name, spec, value)
            kind = spec["type"] if spec else (OPTION_INTEGER if isinstance(value, int) else 3)
            if kind == OPTION_USER:
                self._resolve_user(guild_id, int(value), resolved)
            sent = str(value) if kind == OPTION_USER else value
            values.append({"name": option_name, "type": kind, "value": sent})
        if validate:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        if len(words) == 2:
            values = [{"name": words[1], "type": OPTION_SUB, "options": values}]
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self.snowflake()),
            "name": words[0],
            "type": 1,
            "guild_id": str(guild_id),
        }
        if values:
            data["options"] = values
        if resolved:
            data["resolved"] = resolved
        interaction, payload = self._interaction_base(2, guild_id, channel_id, user_id, data)
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction.id

    def _validate_option(self, name: str, spec: dict[str, Any] | None, value: Any) -> None:
        if spec is None:
            raise ValueError(f"unknown option {name}")
        kind = spec["type"]
        if kind == OPTION_INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if "min_value" in spec and value < spec["min_value"]:
                raise ValueError(f"{name} below {spec['min_value']}")
            if "max_value" in spec and value > spec["max_value"]:
                raise ValueError(f"{name} above {spec['max_value']}")
        elif kind == OPTION_STRING:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            if len(value) > spec.get("max_length", 6000):
                raise ValueError(f"{name} longer than {spec['max_length']}")
        elif kind == OPTION_USER and int(value) not in self.users:
            raise ValueError(f"{name}: unknown user {value}")
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{name} must be one of {[c['value'] for c in choices]}")

    def _resolve_user(self, guild_id: int, user_id: int, resolved: dict[str, Any]) -> None:
        guild = self.guild(guild_id)
        resolved.setdefault("users", {})[str(user_id)] = dict(self.user(user_id))
        if user_id in guild.members:
            member = {k: v for k, v in guild.members[user_id].items() if k not in ("deaf", "mute")}
            member["permissions"] = str(self.permissions(guild, user_id))
            resolved.setdefault("members", {})[str(user_id)] = member

    def buttons(self, channel_id: int, message_id: int) -> list[dict[str, Any]]:
        """Return the buttons on a message, row by row, flattened."""
        message = self.find_message(channel_id, message_id)
        return [item for row in message["components"] for item in row["components"]]

    def press(
        self,
        channel_id: int,
        message_id: int,
        user_id: int,
        custom_id: str | None = None,
        *,
        label: str | None = None,
    ) -> int:
        """Press a button on a bot message (by custom id or label); return the interaction id."""
        message = self.find_message(channel_id, message_id)
        buttons = self.buttons(channel_id, message_id)
        button = next(
            (
                b
                for b in buttons
                if (custom_id is not None and b.get("custom_id") == custom_id)
                or (label is not None and b.get("label") == label)
            ),
            None,
        )
        if button is None or "custom_id" not in button:
            raise ValueError(f"message {message_id} has no such button: {buttons}")
        guild = self.guild_of_channel(channel_id)
        if guild is None:
            raise ValueError("the stand-in presses buttons in guild channels only")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        interaction, payload = self._interaction_base(3, guild.id, channel_id, user_id, data)
        interaction.message_id = message_id
        payload["message"] = dict(message)
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction.id

    def open_invite(
        self,
        guild: Guild,
        channel: dict[str, Any],
        inviter_id: int,
        *,
        max_uses: int = 0,
        max_age: int = 86400,
        temporary: bool = False,
    ) -> dict[str, Any]:
        """Create an invite (with its metadata) and dispatch INVITE_CREATE."""
        code = secrets.token_urlsafe(6)
        created = self.iso_now()
        expires = (
            datetime.fromtimestamp(self.clock() + max_age, UTC).isoformat() if max_age else None
        )
        invite = {
            "type": 0,
            "code": code,
            "guild": {"id": str(guild.id), "name": guild.name, "features": [], "icon": None},
            "channel": {"id": channel["id"], "name": channel["name"], "type": channel["type"]},
            "inviter": dict(self.user(inviter_id)),
            "uses": 0,
            "max_uses": max_uses,
            "max_age": max_age,
            "temporary": temporary,
            "created_at": created,
            "expires_at": expires,
        }
        guild.invites[code] = invite
        self.gateway.dispatch(
            "INVITE_CREATE",
            {
                "channel_id": channel["id"],
                "guild_id": str(guild.id),
                "code": code,
                "created_at": created,
                "inviter": dict(self.user(inviter_id)),
                "max_age": max_age,
                "max_uses": max_uses,
                "temporary": temporary,
                "uses": 0,
            },
        )
        return invite

    def user_invites(self, channel_id: int, user_id: int, *, max_uses: int = 0) -> str:
        """Let a member make an invite in Discord's own menu; return its code."""
        guild = self.guild_of_channel(channel_id)
        assert guild is not None
        return str(
            self.open_invite(guild, self.channel(channel_id), user_id, max_uses=max_uses)["code"]
        )

    def delete_invite(self, guild_id: int, code: str) -> None:
        """Remove an invite (revoked, or used up) and dispatch INVITE_DELETE."""
        invite = self.guild(guild_id).invites.pop(code)
        self.gateway.dispatch(
            "INVITE_DELETE",
            {"channel_id": invite["channel"]["id"], "guild_id": str(guild_id), "code": code},
        )

    def member_joins(self, guild_id: int, user_id: int, invite: str | None = None) -> None:
        """Add a member (through ``invite``: its uses go up, a used-up one is deleted) and
        dispatch GUILD_MEMBER_ADD."""
        guild = self.guild(guild_id)
        if user_id in guild.members:
            raise ValueError(f"user {user_id} is already in guild {guild_id}")
        if invite is not None:
            used = guild.invites[invite]
            used["uses"] += 1
            if used["max_uses"] and used["uses"] >= used["max_uses"]:
                self.delete_invite(guild_id, invite)
        self.add_member(guild_id, user_id)
        self.gateway.dispatch(
            "GUILD_MEMBER_ADD", {"guild_id": str(guild_id), **self.member_json(guild, user_id)}
        )

    def member_leaves(self, guild_id: int, user_id: int) -> None:
        """Remove a member and dispatch GUILD_MEMBER_REMOVE."""
        guild = self.guild(guild_id)
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not in guild {guild_id}")
        del guild.members[user_id]
        self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild_id), "user": dict(self.user(user_id))}
        )

    def set_roles(self, guild_id: int, user_id: int, roles: tuple[int, ...]) -> None:
        """Change a member's roles as someone other than the bot (a moderator, another bot)."""
        guild = self.guild(guild_id)
        current = {int(r) for r in guild.members[user_id]["roles"]}
        self.change_roles(
            guild,
            user_id,
            add=tuple(r for r in roles if r not in current),
            remove=tuple(current - set(roles)),
        )

    # --- steering the server ----------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        code: int = 0,
        message: str | None = None,
        retry_after: float | None = None,
        is_global: bool = False,
        times: int = 1,
        after: bool = False,
    ) -> None:
        """Make the next ``times`` calls of a route (by its name, e.g. ``add_role``) fail.

        With ``after`` the call is carried out first and only its answer fails, as when a
        proxy in front of Discord times out on a request Discord did handle.
        """
        if route not in {spec.name for spec, _ in self.rest.routes}:
            raise ValueError(f"unknown route {route!r}")
        failure = ApiError(
            status,
            code,
            message or f"{status}: stand-in failure",
            retry_after=retry_after if status == 429 else None,
            is_global=is_global,
        )
        self._failures.setdefault(route, deque()).extend([(failure, after)] * times)

    def limit(self, route: str, count: int, per: float) -> None:
        """Allow ``count`` calls of a route per ``per`` seconds per guild or channel, then 429."""
        self._limits[route] = (count, per)

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the gateway connection; the bot should reconnect and RESUME its session."""
        self.gateway.ready.clear()
        await self.gateway.disconnect(code)

    # --- inspecting -------------------------------------------------------------------------

    def sent(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Return the bot's messages (all channels, or one), oldest first, as they are now.

        Each is the Message JSON plus ``ephemeral``, ``deleted``, ``edited`` and ``files``
        (uploaded ``{"filename", "data"}``).
        """
        out = []
        for channel, message_id in self.bot_messages:
            if channel_id is not None and channel != channel_id:
                continue
            message = self.messages[channel][message_id]
            out.append(
                {
                    **message,
                    "ephemeral": bool(int(message["flags"]) & EPHEMERAL),
                    "deleted": message_id in self.deleted,
                    "edited": message["edited_timestamp"] is not None,
                    "files": self.files.get(message_id, []),
                }
            )
        return out

    def answers(self, interaction_id: int) -> list[dict[str, Any]]:
        """Return the messages that answer an interaction (original first), as they are now."""
        interaction = self.interactions[interaction_id]
        ids = [interaction.original_id, *interaction.followups]
        return [m for m in self.sent(interaction.channel_id) if int(m["id"]) in ids]

    def called(self, route: str) -> list[dict[str, Any]]:
        """Return the path parameters of every call of a route, in order."""
        return [params for name, _, params in self.calls if name == route]

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test's deadline, not a cancel scope
        *,
        interval: float = 0.01,
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy and return that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if loop.time() >= deadline:
                break
            await asyncio.sleep(interval)
        recent = ", ".join(name for name, _, _ in self.calls[-8:]) or "none"
        raise AssertionError(
            f"condition not met within {timeout:g}s; last REST calls: {recent}; "
            f"stand-in errors: {self.server_errors}"
        )

    async def answered(self, interaction_id: int, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until an interaction has an answer with content, then return its messages."""

        def done() -> list[dict[str, Any]] | None:
            interaction = self.interactions[interaction_id]
            if interaction.response_type == 6:
                return [{"acknowledged": True}]
            messages = self.answers(interaction_id)
            return [m for m in messages if not int(m["flags"]) & 128 and not m["deleted"]] or None

        result: list[dict[str, Any]] = await self.wait_for(done, timeout)
        return result


BOT_NAME_ROLE = "Cohort"


def _role(role_id: int, name: str, position: int, permissions: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Answer JSON with Discord's exact content type (discord.py compares it verbatim)."""
    headers = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
