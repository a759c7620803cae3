"""discord.py's client for Cohort: intents, events routed to the adapter, gateway failures.

Every gateway event passes through a guard before discord.py parses it: the adapter notes its
arrival (``/healthz``'s last event), and an event discord.py cannot read (a field sent as null
where Discord omits it) is logged and skipped instead of ending ``connect()``, which would leave
the bot connected to nothing. ``classify`` sorts what does end the gateway task for the
supervisor: a refused token or intents cannot heal; the network and Discord's 5xx do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.adapters.discord._buttons import CohortButton
from bot.core.errors import ConfigError
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.supervise import Failure, FailureKind, unexpected

if TYPE_CHECKING:
    from bot.adapters.discord._adapter import DiscordAdapter

log = logging.getLogger(__name__)

# Without READY there is no session to speak of: its failure ends the connection (and the
# supervisor opens a new one); any other event discord.py cannot read is skipped.
VITAL_EVENTS = frozenset({"READY"})
# Gateway close codes no reconnect heals (Discord's "Gateway Close Event Codes").
FATAL_CLOSE_CODES = {
    4004: "invalid_token",
    4010: "invalid_shard",
    4011: "sharding_required",
    4012: "invalid_api_version",
    4013: "invalid_intents",
    4014: "disallowed_intents",
}
# (error type, kind, reason); the first match wins, so subclasses come first.
_FAILURES: tuple[tuple[type[BaseException], FailureKind, str], ...] = (
    (discord.PrivilegedIntentsRequired, FailureKind.FATAL, "disallowed_intents"),
    (discord.LoginFailure, FailureKind.FATAL, "invalid_token"),
    (discord.GatewayNotFound, FailureKind.TRANSIENT, "gateway_not_found"),
    (discord.DiscordServerError, FailureKind.TRANSIENT, "server_error"),
    (aiohttp.ClientError, FailureKind.TRANSIENT, "network"),
    (TimeoutError, FailureKind.TRANSIENT, "timeout"),
    (OSError, FailureKind.TRANSIENT, "network"),
)


def classify(exc: BaseException) -> Failure:
    """Classify the end of a gateway connection for the supervisor."""
    if isinstance(exc, discord.ConnectionClosed):
        fatal = FATAL_CLOSE_CODES.get(exc.code or 0)
        if fatal is not None:
            return Failure(FailureKind.FATAL, fatal)
        return Failure(FailureKind.TRANSIENT, f"closed_{exc.code}")
    if isinstance(exc, discord.RateLimited):
        return Failure(FailureKind.RETRY_AFTER, "rate_limited", exc.retry_after)
    for kind_of, kind, reason in _FAILURES:
        if isinstance(exc, kind_of):
            return Failure(kind, reason)
    return unexpected(exc)


def intents() -> discord.Intents:
    """Return the intents Cohort needs: guilds, members, messages, their text, reactions,
    invites."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True  # privileged: joins, leaves, role changes
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.guild_reactions = True  # Q&A votes
    wanted.invites = True  # which invite a joining member used (referrals)
    wanted.message_content = True  # privileged: points and Q&A read what people write
    return wanted


# Discord's application flags: the privileged intents the Developer Portal switched on.
MEMBERS_FLAGS = (1 << 14) | (1 << 15)
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)


def missing_intents(flags: int) -> list[str]:
    """Name the privileged intents the application's flags do not switch on."""
    missing = []
    if not flags & MEMBERS_FLAGS:
        missing.append("Server Members Intent")
    if not flags & MESSAGE_CONTENT_FLAGS:
        missing.append("Message Content Intent")
    return missing


def intents_error(missing: list[str]) -> ConfigError:
    """Return the config error naming the privileged intents to switch on."""
    names = " and ".join(missing)
    return ConfigError(
        "discord.token",
        f"a bot with the {names} switched on (Developer Portal → your application → Bot → "
        "Privileged Gateway Intents)",
        "them switched off" if len(missing) > 1 else "it switched off",
    )


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


def role_ids_of(author: discord.abc.User) -> frozenset[str]:
    """Return the ids of the roles a message's author holds in its guild (none in a DM).

    In a guild Discord sends the author's partial member (its ``roles``) with each message and
    discord.py makes the author a ``Member``; @everyone, which every member holds, is left out.
    """
    if not isinstance(author, discord.Member):
        return frozenset()
    return frozenset(str(role.id) for role in author.roles if not role.is_default())


def caller_from_json(user: dict[str, Any]) -> Caller:
    """Describe a user from an interaction's ``resolved.users`` to the core."""
    return Caller(
        platform=PlatformName.DISCORD,
        user_id=str(user["id"]),
        display_name=str(user.get("global_name") or user.get("username") or user["id"]),
        username=user.get("username"),
        is_bot=bool(user.get("bot", False)),
    )


class CohortClient(discord.AutoShardedClient):
    """discord.py's sharded client (this process's shards), every event routed to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        # discord.py's ConnectionState maps each gateway event to its parse_* method; the
        # gateway calls them with no guard of its own.
        parsers: dict[str, Callable[[Any], None]] = self._connection.parsers
        for event, parse in parsers.items():
            parsers[event] = self._guarded(event, parse)

    def _guarded(self, event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap one parser: note the event's arrival, and skip it if it cannot be read."""

        def run(data: Any) -> None:
            self.adapter.received()
            try:
                parse(data)
            except Exception as exc:
                if event in VITAL_EVENTS:
                    raise
                self.adapter.unreadable(event, exc)

        return run

    async def setup_hook(self) -> None:
        """Route every Cohort button, including those sent before a restart."""
        self.add_dynamic_items(CohortButton)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for the shard's turn to IDENTIFY (Discord's max_concurrency buckets)."""
        await self.adapter.pacer.wait(shard_id or 0)

    async def on_ready(self) -> None:
        """Note that every shard of this process has its guilds."""
        self.adapter.on_ready()

    async def on_shard_ready(self, shard_id: int) -> None:
        """Sync what changed once a shard's new session has its guilds."""
        await self.adapter.on_shard_ready(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        """Note that a shard's session is back after a reconnect."""
        self.adapter.on_shard_resumed(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        """Note that a shard's connection dropped (discord.py reconnects it by itself)."""
        self.adapter.on_shard_disconnect(shard_id)

    async def on_resumed(self) -> None:
        """Note that the gateway session is back after a reconnect."""
        self.adapter.on_resumed()

    async def on_disconnect(self) -> None:
        """Note that the gateway connection dropped (discord.py reconnects by itself)."""
        self.adapter.on_disconnect()

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

    async def on_invite_create(self, invite: discord.Invite) -> None:
        """Note a new invite, for telling which one a joining member used."""
        self.adapter.on_invite(invite, created=True)

    async def on_invite_delete(self, invite: discord.Invite) -> None:
        """Note a deleted invite."""
        self.adapter.on_invite(invite, created=False)

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
