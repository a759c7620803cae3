"""The stand-in's in-memory Discord: users, guilds, roles, channels, members, messages."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
BOT_ID = 900_000_000_000_000_001
APPLICATION_ID = BOT_ID  # a bot's application id is its user id
BOT_NAME = "Cohort"

# Channel types.
TEXT, DM, CATEGORY, PUBLIC_THREAD, FORUM = 0, 1, 4, 11, 15
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, 12})

# Permission bits the stand-in checks.
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
MANAGE_ROLES = 1 << 28
MANAGE_THREADS = 1 << 34
MANAGE_EVENTS = 1 << 33
CREATE_EVENTS = 1 << 44
CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
MODERATE_MEMBERS = 1 << 40
EVERYONE_PERMISSIONS = (1 << 10) | SEND_MESSAGES | (1 << 16) | (1 << 31) | (1 << 38)
BOT_PERMISSIONS = (
    EVERYONE_PERMISSIONS
    | MANAGE_ROLES
    | MANAGE_MESSAGES
    | MANAGE_THREADS
    | MANAGE_EVENTS
    | CREATE_EVENTS
    | CREATE_INSTANT_INVITE
    | KICK_MEMBERS
    | BAN_MEMBERS
    | MODERATE_MEMBERS
    | MANAGE_CHANNELS
)

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_MEMBERS = 1 << 1
INTENT_GUILD_INVITES = 1 << 6
INTENT_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_REACTIONS = 1 << 10
INTENT_DM_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT

EPHEMERAL = 1 << 6
LOADING = 1 << 7


class ApiError(Exception):
    """A REST failure in Discord's shape: HTTP status, JSON error code, message."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        retry_after: float | None = None,
        is_global: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.retry_after = retry_after
        self.is_global = is_global

    def body(self) -> dict[str, Any]:
        """Return the JSON body Discord sends with this error."""
        if self.status == 429:
            return {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after or 0.0,
                "global": self.is_global,
                "code": self.code,
            }
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid_form(path: str, code: str, message: str) -> ApiError:
    """Return the 400 50035 Discord gives for one bad field, e.g. ``embeds.0.title``."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors=errors)


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
CANNOT_DM = (403, 50007, "Cannot send messages to this user")
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_MEMBER = (404, 10007, "Unknown Member")
UNKNOWN_ROLE = (404, 10011, "Unknown Role")
UNKNOWN_USER = (404, 10013, "Unknown User")
UNKNOWN_GUILD = (404, 10004, "Unknown Guild")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
UNKNOWN_EVENT = (404, 10070, "Unknown Guild Scheduled Event")
UNKNOWN_BAN = (404, 10026, "Unknown Ban")
ALREADY_ACKNOWLEDGED = (400, 40060, "Interaction has already been acknowledged.")
EMPTY_MESSAGE = (400, 50006, "Cannot send an empty message")


def error(spec: tuple[int, int, str]) -> ApiError:
    """Return an ApiError from one of the constants above."""
    return ApiError(*spec)


@dataclass
class Guild:
    """A guild the bot is in."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    invites: dict[str, dict[str, Any]] = field(default_factory=dict)
    bans: dict[int, dict[str, Any]] = field(default_factory=dict)
    locale: str = "en-US"


@dataclass
class Interaction:
    """One interaction the stand-in sent the bot, and how the bot answered it."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    created: float  # loop time
    data: dict[str, Any]
    message_id: int | None = None  # the message a component sat on
    response_type: int | None = None
    answered_after: float | None = None
    original_id: int | None = None
    followups: list[int] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        """Say whether the bot acknowledged the interaction at all."""
        return self.response_type is not None


class World:
    """State and Discord-shaped JSON builders shared by the REST routes and the test helpers."""

    def __init__(self, *, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.clock = clock
        self.bot_user: dict[str, Any] = self._user_json(BOT_ID, BOT_NAME, bot=True)
        self.users: dict[int, dict[str, Any]] = {BOT_ID: self.bot_user}
        self.locales: dict[int, str] = {}
        self.guilds: dict[int, Guild] = {}
        self.channel_guild: dict[int, int] = {}
        self.dm_channels: dict[int, dict[str, Any]] = {}  # by user id
        self.dms_closed: set[int] = set()
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.bot_messages: list[tuple[int, int]] = []
        self.deleted: set[int] = set()
        # What moderation did: (guild, user, until), (guild, user, delete seconds), (channel, ids).
        self.timeouts: list[tuple[int, int, str | None]] = []
        self.ban_log: list[tuple[int, int, int]] = []
        self.bulk_deletes: list[tuple[int, list[int]]] = []
        self.commands: dict[int, list[dict[str, Any]]] = {}
        self.command_puts: dict[int, int] = {}
        self.interactions: dict[int, Interaction] = {}
        self.by_token: dict[str, Interaction] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self._serial = itertools.count(1)

    # --- ids and time -----------------------------------------------------------------------

    def snowflake(self) -> int:
        """Return a fresh snowflake whose timestamp is now."""
        ms = int(self.clock() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._serial) & 0x3FFFFF)

    def iso_now(self) -> str:
        """Return now as Discord writes timestamps."""
        return datetime.fromtimestamp(self.clock(), UTC).isoformat()

    # --- users ------------------------------------------------------------------------------

    @staticmethod
    def _user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(user_id),
            "username": name.lower(),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
        }
        if bot:
            data["bot"] = True
        return data

    def user(self, user_id: int) -> dict[str, Any]:
        """Return a known user's JSON or raise KeyError naming the id."""
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}: call add_user() first") from None

    def guild(self, guild_id: int) -> Guild:
        """Return a known guild or raise KeyError naming the id."""
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise KeyError(f"unknown guild {guild_id}: call add_guild() first") from None

    def member_json(self, guild: Guild, user_id: int) -> dict[str, Any]:
        """Return a guild member object, with its user."""
        member = guild.members[user_id]
        return {**member, "user": dict(self.user(user_id))}

    def partial_member(self, guild: Guild, user_id: int) -> dict[str, Any]:
        """Return a guild member as a message carries it: without ``user``, roles copied."""
        member = guild.members[user_id]
        return {**member, "roles": list(member["roles"])}

    def permissions(self, guild: Guild, user_id: int) -> int:
        """Return a member's guild permissions: the union of their roles' (owners get all)."""
        if user_id == guild.owner_id:
            return (1 << 50) - 1
        member = guild.members.get(user_id)
        if member is None:
            return 0
        value = int(guild.roles[guild.id]["permissions"])
        for role_id in member["roles"]:
            value |= int(guild.roles[int(role_id)]["permissions"])
        if value & ADMINISTRATOR:
            return (1 << 50) - 1
        return value

    def top_position(self, guild: Guild, user_id: int) -> tuple[int, int]:
        """Return a member's highest role as ``(position, -id)``: Discord breaks ties by id."""
        member = guild.members.get(user_id)
        roles = [guild.roles[int(r)] for r in member["roles"]] if member else []
        roles.append(guild.roles[guild.id])
        return max((int(r["position"]), -int(r["id"])) for r in roles)

    def may_manage_role(self, guild: Guild, role_id: int) -> bool:
        """Say whether the bot may give or take ``role_id`` (permission and hierarchy)."""
        if not self.permissions(guild, BOT_ID) & MANAGE_ROLES:
            return False
        role = guild.roles[role_id]
        if role.get("managed"):
            return False
        return self.top_position(guild, BOT_ID) > (int(role["position"]), -role_id)

    # --- channels ---------------------------------------------------------------------------

    def channel(self, channel_id: int) -> dict[str, Any]:
        """Return a guild channel, thread or DM channel, or raise a 404."""
        guild_id = self.channel_guild.get(channel_id)
        if guild_id is not None:
            return self.guilds[guild_id].channels[channel_id]
        for dm in self.dm_channels.values():
            if int(dm["id"]) == channel_id:
                return dm
        raise error(UNKNOWN_CHANNEL)

    def guild_of_channel(self, channel_id: int) -> Guild | None:
        """Return the guild a channel is in, or None for DMs."""
        guild_id = self.channel_guild.get(channel_id)
        return self.guilds[guild_id] if guild_id is not None else None

    def dm_user(self, channel_id: int) -> int | None:
        """Return the user a DM channel is with, or None."""
        for user_id, dm in self.dm_channels.items():
            if int(dm["id"]) == channel_id:
                return user_id
        return None

    # --- messages ---------------------------------------------------------------------------

    def store_message(self, message: dict[str, Any], *, by_bot: bool) -> dict[str, Any]:
        """Keep a message; the bot's also count as sent."""
        channel_id, message_id = int(message["channel_id"]), int(message["id"])
        self.messages.setdefault(channel_id, {})[message_id] = message
        if by_bot:
            self.bot_messages.append((channel_id, message_id))
        return message

    def find_message(self, channel_id: int, message_id: int) -> dict[str, Any]:
        """Return a message that exists, or raise a 404."""
        message = self.messages.get(channel_id, {}).get(message_id)
        if message is None or message_id in self.deleted:
            raise error(UNKNOWN_MESSAGE)
        return message

    def message_json(
        self,
        channel_id: int,
        author_id: int,
        body: dict[str, Any],
        *,
        message_id: int | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        message_type: int = 0,
    ) -> dict[str, Any]:
        """Build a Message object from what the bot or a person sent."""
        guild = self.guild_of_channel(channel_id)
        message: dict[str, Any] = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel_id),
            "author": dict(self.user(author_id)),
            "content": body.get("content") or "",
            "timestamp": self.iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": list(body.get("attachments", [])),
            "embeds": list(body.get("embeds") or []),
            "components": list(body.get("components") or []),
            "pinned": False,
            "type": message_type,
            "flags": flags | int(body.get("flags") or 0),
        }
        if guild is not None:
            message["guild_id"] = str(guild.id)
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        reference = body.get("message_reference")
        if reference:
            message["message_reference"] = {
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel_id),
                **({"guild_id": str(guild.id)} if guild else {}),
            }
            message["type"] = 19
        return message
