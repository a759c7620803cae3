"""Translate between discord.py and the core, both ways."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterator
from functools import partial
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord._client import (
    CohortClient,
    caller_from_json,
    caller_of,
    classify,
    intents,
    intents_error,
    missing_intents,
    role_ids_of,
)
from bot.adapters.discord._commands import CommandRenderer, payload_hash, read_invocation
from bot.adapters.discord._interaction import InteractionAnswer
from bot.adapters.discord._invites import InviteTracker, Uses
from bot.adapters.discord._moderation import DiscordModeration
from bot.adapters.discord._order import KeyedOrder, Pacer
from bot.adapters.discord._shards import (
    SHARD_CLOSES,
    IdentifyPacer,
    ShardHealth,
    ShardPlan,
    shard_count_error,
)
from bot.adapters.discord._sync import store_hash, stored_hash
from bot.core.cohort import Cohort
from bot.core.commands import OptionKind
from bot.core.community import Community
from bot.core.config import DiscordConfig
from bot.core.errors import ConfigError
from bot.core.i18n import normalize_locale
from bot.core.parsing import Mention, MentionKind
from bot.core.platforms import PlatformName
from bot.core.ports import (
    ChannelRef,
    PlatformError,
    PlatformErrorReason,
)
from bot.core.replies import Reply
from bot.core.supervise import Watch
from bot.store.locks import one_at_a_time

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class DiscordAdapter(DiscordModeration):
    """Connects to Discord and feeds the core Discord's events; the port is ``DiscordPlatform``."""

    name = PlatformName.DISCORD

    def __init__(
        self,
        cohort: Cohort,
        config: DiscordConfig,
        *,
        guild_ready_timeout: float = 2.0,
        retry_delay: float = 0.5,
    ) -> None:
        if not config.token:
            raise ValueError("the Discord adapter needs a token")
        self.cohort = cohort
        self.config = config
        self.retry_delay = retry_delay
        self.guild_ready_timeout = guild_ready_timeout
        self.plan: ShardPlan | None = None  # known once Discord said how many shards it wants
        self.pacer = IdentifyPacer()
        self.shards = ShardHealth(cohort.supervisor)
        self.client = self._new_client()
        self.renderer = CommandRenderer(cohort.registry, cohort.i18n)
        self.stopping = False
        self.synced: dict[str, bool] = {}  # guild id -> whether start sent its commands
        self._order = KeyedOrder()
        self._pacers: dict[int, Pacer] = {}
        self._expected: dict[tuple[int, int, int, bool], int] = {}
        self._parents: dict[int, int] = {}
        self._channel_guilds: dict[int, int | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.gateway: Watch | None = None  # the supervised gateway connection, once READY
        self.invites = InviteTracker(self._invite_uses)
        self._started = False

    def _new_client(self) -> CohortClient:
        """Return a discord.py client for this process's shards (all, until they are known)."""
        plan = self.plan
        return CohortClient(
            self,
            intents=intents(),
            guild_ready_timeout=self.guild_ready_timeout,
            max_ratelimit_timeout=60.0,
            enable_debug_events=False,
            shard_count=plan.count if plan is not None else None,
            shard_ids=list(plan.ids) if plan is not None and not plan.all else None,
        )

    def _probe(self, shard_id: int) -> tuple[bool, float]:
        """Return whether a shard is connected and its heartbeat latency (``/healthz``)."""
        info = self.client.get_shard(shard_id)
        if info is None or info.is_closed():
            return False, math.nan
        return True, info.latency

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, connect to the gateway, and wait until the guilds are known.

        Raises ConfigError, in plain words, for a refused token or missing privileged intents.
        """
        # discord.py reads both from class attributes: the public knobs for another server.
        Route.BASE = self.config.api_base.rstrip("/")
        token = self.config.token.reveal() if self.config.token else ""
        try:
            await self.call(lambda: self.client.login(token))
        except discord.LoginFailure:
            await self.client.close()
            raise ConfigError("discord.token", "a bot token Discord accepts", "refused") from None
        except PlatformError as exc:
            await self.client.close()
            raise ConfigError(
                "discord.api_base", "a Discord API that answers", f"{exc.reason} ({exc.detail})"
            ) from None
        missing = missing_intents(self.client.application_flags.value)
        if missing:
            await self.client.close()
            raise intents_error(missing)
        recommended, found, limits = await self.call(self.client.http.get_bot_gateway)
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.config.gateway_url or str(found))
        self.plan = plan = ShardPlan.of(self.config, recommended)
        self.pacer = IdentifyPacer(int(limits.get("max_concurrency", 1)))
        self.client.shard_count = plan.count
        self.client.shard_ids = None if plan.all else list(plan.ids)
        self.shards.open(plan, self._probe)
        log.info("discord: opening %s", plan.describe())
        first = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, first},
            timeout=READY_TIMEOUT + self.pacer.spread(plan.ids),
            return_when=asyncio.FIRST_COMPLETED,
        )
        if ready not in done:
            ready.cancel()
            await self.client.close()
            await asyncio.wait({ready, first})
            error = None if first.cancelled() else first.exception()
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise intents_error(["Server Members Intent", "Message Content Intent"])
            if isinstance(error, discord.ConnectionClosed) and error.code in SHARD_CLOSES:
                raise shard_count_error(plan, error.code) from None
            if error is not None:
                raise error
            raise PlatformError(PlatformErrorReason.UNAVAILABLE, "no READY from the gateway")
        # From here on the connection is supervised: when it ends it is logged and reopened.
        self.gateway = self.cohort.supervisor.run(
            "discord.gateway", self._reconnect, classify=classify, first=first
        )
        self.gateway.ok()
        log.info("discord: connected as %s to %d guild(s)", self.client.user, len(self.guilds()))
        await self.sync_commands()
        await self.check_roles()
        await self.remember_invites()
        self._started = True

    async def _reconnect(self) -> None:
        """Open new gateway sessions after the last connection ended unexpectedly.

        discord.py's sharded client closes itself (its HTTP session too) when a shard ends in
        a way it does not handle, so a new client logs in and opens this process's shards.
        """
        await self.client.close()  # what is left of the old one (a no-op when it is closed)
        for shard_id in self.shards.watches:
            self.shards.lost(shard_id)
        self.client = self._new_client()
        token = self.config.token.reveal() if self.config.token else ""
        await self.client.login(token)
        await self.client.connect(reconnect=True)

    async def stop(self) -> None:
        """Take no new events, let the ones in hand answer, then close the gateway cleanly."""
        self.stopping = True
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_TIMEOUT)
            for task in late:
                log.warning("discord: %s still running at shutdown; cancelled", task.get_name())
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self.gateway is not None:
            await self.gateway.stop(end=self.client.close)
        else:
            await self.client.close()
        await self.shards.stop()

    def received(self) -> None:
        """Note that the gateway delivered an event (``/healthz``'s last event)."""
        self.cohort.supervisor.seen(self.name)

    def unreadable(self, event: str, exc: Exception) -> None:
        """Log a gateway event discord.py could not read (it is skipped) and count it."""
        log.error(
            "discord: a %s event could not be read (%s); skipped it",
            event,
            type(exc).__name__,
            exc_info=exc,
        )
        if self.gateway is not None:
            self.gateway.skip(f"unreadable_{event.lower()}")

    def on_resumed(self) -> None:
        """Note that the session is back after discord.py reconnected by itself."""
        if self.gateway is not None:
            self.gateway.ok()

    def on_disconnect(self) -> None:
        """Note that the connection dropped; discord.py reconnects (and resumes) by itself."""
        if self.gateway is None or self.stopping:
            return
        if self.gateway.up:
            log.warning("discord: gateway connection lost; reconnecting")
        else:
            log.error("discord: gateway still unreachable; reconnecting again")
        self.gateway.lost("disconnected")

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    def on_ready(self) -> None:
        """Note that every shard of this process has a session with its guilds."""
        if self.gateway is not None:
            self.gateway.ok()

    async def on_shard_ready(self, shard_id: int) -> None:
        """Sync what changed after a shard's new session (not the first: ``start`` does it)."""
        self.shards.ready(shard_id)
        if self.gateway is not None:
            self.gateway.ok()
        if self._started and not self.stopping:
            with self._tracked():
                await self.sync_commands()
                await self.remember_invites()

    def on_shard_resumed(self, shard_id: int) -> None:
        """Note that a shard's session is back after discord.py reconnected it."""
        self.shards.ready(shard_id)

    def on_shard_disconnect(self, shard_id: int) -> None:
        """Note that a shard's connection dropped; discord.py reconnects it by itself."""
        if not self.stopping:
            self.shards.lost(shard_id)

    # --- slash commands ----------------------------------------------------------------------

    async def sync_commands(self) -> None:
        """Send each guild this process hears the commands, unless it has them already.

        A guild is synced by the process whose shard carries it; the stored hash and an
        advisory lock per guild (PostgreSQL) make it once even if two processes hold it.
        """
        payload = self.renderer.payload()
        digest = payload_hash(payload)
        for guild in self.guilds():
            async with one_at_a_time(self.cohort.db, f"discord.commands.{guild.id}") as mine:
                if mine:
                    await self._sync_guild(guild, payload, digest)
                else:
                    self.synced[str(guild.id)] = False  # another process is syncing it

    async def _sync_guild(
        self, guild: discord.Guild, payload: list[dict[str, Any]], digest: str
    ) -> None:
        """Send one guild the commands unless it has them (by the stored hash)."""
        application_id = self.client.application_id
        assert application_id is not None
        community = self.cohort.community_for(PlatformName.DISCORD, str(guild.id))
        assert community is not None
        if await stored_hash(self.cohort.db, community.id, str(guild.id)) == digest:
            self.synced[str(guild.id)] = False
            return
        try:
            await self.call(
                partial(
                    self.client.http.bulk_upsert_guild_commands,
                    application_id,
                    guild.id,
                    payload,
                )
            )
        except PlatformError as exc:
            log.error("discord: could not sync commands to %s: %s", guild.id, exc)
            return
        await store_hash(
            self.cohort.db, community.id, str(guild.id), digest, self.cohort.clock.now()
        )
        self.synced[str(guild.id)] = True
        log.info("discord: synced %d commands to guild %s", len(payload), guild.id)

    async def on_command(self, interaction: discord.Interaction) -> None:
        """Run a slash command through the core and answer it, whatever happens."""
        if self.stopping:
            return
        received = asyncio.get_running_loop().time()  # Discord's 3 seconds are running
        with self._tracked():
            locale = self._locale(interaction)
            community = self._community(interaction.guild_id)
            channel = await self._channel_ref(interaction.channel) if interaction.channel else None
            answer = InteractionAnswer(
                self, interaction, community, channel, locale, received=received
            )
            await answer.run(lambda: self._run_command(interaction, community, channel, answer))

    async def _run_command(
        self,
        interaction: discord.Interaction,
        community: Community | None,
        channel: ChannelRef | None,
        answer: InteractionAnswer,
    ) -> None:
        if community is None:
            await answer.respond(
                Reply(text=self.text(answer.locale, "discord.elsewhere"), ephemeral=True)
            )
            return
        data: dict[str, Any] = dict(interaction.data or {})
        invocation = read_invocation(data)
        spec = self.cohort.registry.get(invocation.name)
        kinds = {o.name: o.kind for o in spec.options} if spec else {}
        values: dict[str, Any] = {}
        text_values: dict[str, str] = {}
        users = (data.get("resolved") or {}).get("users") or {}
        for name, value in invocation.options.items():
            if kinds.get(name) is OptionKind.MEMBER:
                user = users.get(str(value))
                # A bot (Cohort itself included) is never a member: it stays unknown.
                if user is not None and not user.get("bot"):
                    await self.cohort.identity.resolve(community.id, caller_from_json(user))
                values[name] = Mention(MentionKind.USER_ID, str(value))
            else:
                text_values[name] = str(value)
        await self.cohort.dispatcher.run(
            self,
            community,
            caller_of(interaction.user, str(interaction.locale)),
            channel,
            invocation.name,
            values,
            answer.respond,
            text_values=text_values,
        )

    # --- buttons -----------------------------------------------------------------------------

    async def on_press(self, interaction: discord.Interaction, data: str) -> None:
        """Run the action behind a pressed button and answer the press, whatever happens."""
        if self.stopping:
            return
        received = asyncio.get_running_loop().time()  # Discord's 3 seconds are running
        with self._tracked():
            locale = self._locale(interaction)
            community = self._community(interaction.guild_id)
            channel = await self._channel_ref(interaction.channel) if interaction.channel else None
            answer = InteractionAnswer(
                self, interaction, community, channel, locale, received=received
            )

            async def work() -> None:
                if community is None:
                    return
                decoded = await self.cohort.buttons.decode(community.id, data)
                action, payload = decoded or ("", "")
                await self.cohort.dispatcher.press(
                    self,
                    community,
                    caller_of(interaction.user, str(interaction.locale)),
                    channel,
                    action,
                    payload,
                    answer.respond,
                )

            await answer.run(work)

    # --- events in ---------------------------------------------------------------------------

    def _locale(self, interaction: discord.Interaction) -> str:
        community = self._community(interaction.guild_id)
        fallback = community.config.locale if community else "en"
        return normalize_locale(str(interaction.locale)) or fallback

    async def _channel_ref(self, channel: Any) -> ChannelRef:
        """Describe where something happened; a thread (or forum post) names its parent."""
        channel_id = int(channel.id)
        if isinstance(channel, discord.Thread):
            self._parents[channel_id] = channel.parent_id
        elif (
            not isinstance(channel, (discord.abc.GuildChannel, discord.DMChannel))
            and channel_id not in self._parents
            and getattr(channel, "guild", None) is not None
        ):
            # A thread the cache does not hold (discord.py gives a partial channel).
            try:
                fetched = await self.call(lambda: self.client.fetch_channel(channel_id))
            except PlatformError:
                fetched = None
            if isinstance(fetched, discord.Thread):
                self._parents[channel_id] = fetched.parent_id
        parent = self._parents.get(channel_id)
        if parent is not None:
            return ChannelRef(PlatformName.DISCORD, str(parent), str(channel_id))
        return ChannelRef(PlatformName.DISCORD, str(channel_id))

    async def on_message(self, message: discord.Message) -> None:
        """Hand a person's message to the core: thread, reply and mentions included."""
        if (
            self.stopping
            or message.author.bot
            or message.type
            not in (
                discord.MessageType.default,
                discord.MessageType.reply,
            )
        ):
            return
        with self._tracked():
            async with self._order.turn(message.channel.id):
                community = self._community(message.guild.id if message.guild else None)
                if community is None:
                    return
                reference = message.reference
                reply_to = (
                    str(reference.message_id)
                    if reference is not None and reference.message_id is not None
                    else None
                )
                await self.cohort.dispatcher.message_posted(
                    community,
                    caller_of(message.author),
                    await self._channel_ref(message.channel),
                    str(message.id),
                    message.content,
                    message.created_at,
                    reply_to_message_id=reply_to,
                    mentions=tuple(str(user.id) for user in message.mentions),
                    role_ids=role_ids_of(message.author),
                )

    async def on_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Tell the core a message was deleted, in its channel's order."""
        if self.stopping:
            return
        with self._tracked():
            async with self._order.turn(payload.channel_id):
                community = self._community(payload.guild_id)
                if community is None:
                    return
                channel = self.client.get_channel(payload.channel_id) or discord.Object(
                    payload.channel_id
                )
                await self.cohort.dispatcher.message_deleted(
                    community, await self._channel_ref(channel), str(payload.message_id)
                )

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        """Tell the core about a reaction in a guild, in its channel's order."""
        if self.stopping or payload.guild_id is None:
            return
        with self._tracked():
            async with self._order.turn(payload.channel_id):
                community = self._community(payload.guild_id)
                if community is None:
                    return
                channel = self.client.get_channel(payload.channel_id) or discord.Object(
                    payload.channel_id
                )
                who = caller_of(payload.member) if payload.member is not None else None
                await self.cohort.dispatcher.reaction_changed(
                    community,
                    who or str(payload.user_id),
                    await self._channel_ref(channel),
                    str(payload.message_id),
                    str(payload.emoji),
                    added=added,
                )

    # --- invites: which one a joining member used ----------------------------------------------

    async def _invite_uses(self, guild_id: int) -> dict[str, Uses]:
        """Read a guild's invites and their uses (needs the Manage Server permission)."""
        guild = self.client.get_guild(guild_id)
        if guild is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {guild_id}")
        found = await self.call(guild.invites)
        return {i.code: Uses(i.uses or 0, i.max_uses or 0, str(i.url)) for i in found}

    async def remember_invites(self) -> None:
        """Read the invites of every guild of a community, for the joins to come."""
        for guild in self.guilds():
            await self.invites.remember(guild.id)

    def on_invite(self, invite: discord.Invite, *, created: bool) -> None:
        """Keep the invite uses up to date as invites are made and deleted."""
        if invite.guild is None:
            return
        if created:
            uses = Uses(invite.uses or 0, invite.max_uses or 0, str(invite.url))
            self.invites.created(invite.guild.id, invite.code, uses)
        else:
            self.invites.deleted(invite.guild.id, invite.code)

    async def on_member_join(self, member: discord.Member) -> None:
        """Tell the core a person joined a guild, and through which invite when that is sure."""
        if self.stopping:
            return
        with self._tracked():
            async with self._order.turn((member.guild.id, member.id)):
                community = self._community(member.guild.id)
                if community is not None:
                    link = None
                    if not member.bot:
                        link = await self.invites.joined(member.guild.id, member.id)
                    await self.cohort.dispatcher.member_joined(
                        community, caller_of(member), str(member.guild.id), invite_link=link
                    )

    async def on_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Tell the core a person left (or was removed from) a guild."""
        if self.stopping:
            return
        with self._tracked():
            async with self._order.turn((payload.guild_id, payload.user.id)):
                community = self._community(payload.guild_id)
                if community is not None:
                    await self.cohort.dispatcher.member_left(
                        community, caller_of(payload.user), str(payload.guild_id)
                    )

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        """Tell the core about role changes made by others (the bot's own are expected)."""
        if self.stopping:
            return
        old = {r.id for r in before.roles}
        new = {r.id for r in after.roles}
        added = [r for r in sorted(new - old) if not self._was_expected(after, r, True)]
        removed = [r for r in sorted(old - new) if not self._was_expected(after, r, False)]
        if not added and not removed:
            return
        with self._tracked():
            async with self._order.turn((after.guild.id, after.id)):
                community = self._community(after.guild.id)
                if community is not None:
                    await self.cohort.dispatcher.roles_changed(
                        community,
                        caller_of(after),
                        str(after.guild.id),
                        tuple(map(str, added)),
                        tuple(map(str, removed)),
                    )
