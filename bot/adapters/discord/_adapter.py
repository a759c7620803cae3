"""Translate between discord.py and the core, both ways."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord._buttons import CUSTOM_ID_LIMIT, CohortButton
from bot.adapters.discord._commands import CommandRenderer, payload_hash, read_invocation
from bot.adapters.discord._order import KeyedOrder, Pacer
from bot.adapters.discord._render import STYLES, label, render
from bot.adapters.discord._sync import store_hash, stored_hash
from bot.core.cohort import Cohort
from bot.core.commands import OptionKind
from bot.core.community import Community
from bot.core.config import DiscordConfig
from bot.core.errors import ConfigError
from bot.core.i18n import normalize_locale
from bot.core.identity import Caller
from bot.core.parsing import Mention, MentionKind
from bot.core.platforms import PlatformName
from bot.core.ports import (
    AccessTarget,
    ChannelRef,
    MessageRef,
    PlatformError,
    PlatformErrorReason,
    ScheduledEvent,
)
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_RETRIES = 4
CANNOT_DM = 50007
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
THREAD_NAME_LIMIT = 100
# Discord's application flags: the privileged intents the Developer Portal switched on.
MEMBERS_FLAGS = (1 << 14) | (1 << 15)
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)


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


def _caller_from_json(user: dict[str, Any]) -> Caller:
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


class InteractionAnswer:
    """Answer one interaction exactly once, deferring when the work takes too long.

    The first answer is the interaction's response; later ones are follow-ups. When the
    handler is still running after ``defer_after`` seconds the interaction is deferred with a
    private "thinking" message; the first answer then replaces it (private answers) or
    removes it and follows up in public. ``finish`` makes sure something answered.
    """

    def __init__(
        self,
        adapter: DiscordAdapter,
        interaction: discord.Interaction,
        community: Community | None,
        channel: ChannelRef | None,
        locale: str,
    ) -> None:
        self.adapter = adapter
        self.interaction = interaction
        self.community = community
        self.channel = channel or ChannelRef(PlatformName.DISCORD, str(interaction.channel_id))
        self.locale = locale
        self.lock = asyncio.Lock()
        self.thinking = False
        self.answered = False

    async def respond(self, reply: Reply) -> MessageRef | None:
        """Send ``reply`` as the response, the deferred answer, or a follow-up."""
        rendered = render(reply)
        view = await self.adapter.view(self.community, reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        interaction = self.interaction
        async with self.lock:
            message: Any
            if not interaction.response.is_done():
                callback = await self.adapter.call(
                    lambda: interaction.response.send_message(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral
                    )
                )
                message = callback.resource if callback is not None else None
            elif self.thinking:
                self.thinking = False
                if reply.ephemeral:
                    message = await self.adapter.call(
                        lambda: interaction.edit_original_response(
                            **rendered.edit_kwargs(), view=view
                        )
                    )
                else:
                    # The "thinking" message is private; a public answer is a new message.
                    await self.adapter.call(interaction.delete_original_response)
                    message = await self.adapter.call(
                        lambda: interaction.followup.send(
                            **rendered.send_kwargs(), **extra, wait=True
                        )
                    )
            else:
                message = await self.adapter.call(
                    lambda: interaction.followup.send(
                        **rendered.send_kwargs(), **extra, ephemeral=reply.ephemeral, wait=True
                    )
                )
            self.answered = True
        message_id = getattr(message, "id", None)
        return MessageRef(self.channel, str(message_id)) if message_id else None

    async def defer(self) -> None:
        """Show "thinking" (privately) if nothing answered yet."""
        async with self.lock:
            if self.interaction.response.is_done():
                return
            try:
                await self.interaction.response.defer(ephemeral=True, thinking=True)
            except discord.HTTPException:
                log.exception("discord: could not defer interaction %s", self.interaction.id)
                return
            self.thinking = True

    async def finish(self) -> None:
        """Make sure the interaction was answered: Discord must never say it failed."""
        async with self.lock:
            try:
                if not self.interaction.response.is_done():
                    if self.interaction.type is discord.InteractionType.component:
                        await self.interaction.response.defer()  # acknowledge the press
                    else:
                        await self.interaction.response.send_message(
                            self.adapter.text(self.locale, "discord.done"), ephemeral=True
                        )
                elif self.thinking:
                    self.thinking = False
                    await self.interaction.edit_original_response(
                        content=self.adapter.text(self.locale, "discord.done")
                    )
            except discord.HTTPException:
                log.exception("discord: could not finish interaction %s", self.interaction.id)

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run the handler with a defer timer, then make sure something answered."""
        timer = asyncio.get_running_loop().call_later(
            self.adapter.config.defer_after, lambda: self.adapter.spawn(self.defer())
        )
        try:
            await work()
        finally:
            timer.cancel()
            await self.finish()


class DiscordAdapter:
    """Implements the Platform port on Discord and feeds the core Discord's events."""

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
        self.client = CohortClient(
            self,
            intents=intents(),
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=60.0,
            enable_debug_events=False,
        )
        self.renderer = CommandRenderer(cohort.registry, cohort.i18n)
        self.stopping = False
        self.synced: dict[str, bool] = {}  # guild id -> whether start sent its commands
        self._order = KeyedOrder()
        self._pacers: dict[int, Pacer] = {}
        self._expected: dict[tuple[int, int, int, bool], int] = {}
        self._parents: dict[int, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connect: asyncio.Task[None] | None = None
        self._started = False

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
        missing = self._missing_intents(self.client.application_flags.value)
        if missing:
            await self.client.close()
            raise self._intents_error(missing)
        gateway = self.config.gateway_url
        if gateway is None:
            _shards, gateway, _limits = await self.call(self.client.http.get_bot_gateway)
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
        self._connect = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._connect}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            error = self._connect.exception() if self._connect in done else None
            await self.client.close()
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise self._intents_error(["Server Members Intent", "Message Content Intent"])
            if error is not None:
                raise error
            raise PlatformError(PlatformErrorReason.UNAVAILABLE, "no READY from the gateway")
        log.info("discord: connected as %s to %d guild(s)", self.client.user, len(self.guilds()))
        await self.sync_commands()
        await self.check_roles()
        self._started = True

    @staticmethod
    def _missing_intents(flags: int) -> list[str]:
        missing = []
        if not flags & MEMBERS_FLAGS:
            missing.append("Server Members Intent")
        if not flags & MESSAGE_CONTENT_FLAGS:
            missing.append("Message Content Intent")
        return missing

    @staticmethod
    def _intents_error(missing: list[str]) -> ConfigError:
        names = " and ".join(missing)
        return ConfigError(
            "discord.token",
            f"a bot with the {names} switched on (Developer Portal → your application → Bot → "
            "Privileged Gateway Intents)",
            "them switched off" if len(missing) > 1 else "it switched off",
        )

    def guilds(self) -> list[discord.Guild]:
        """Return the configured guilds the bot is in."""
        wanted = {g for c in self.cohort.communities.values() for g in c.config.discord_guilds}
        return [g for g in self.client.guilds if str(g.id) in wanted]

    async def stop(self) -> None:
        """Take no new events, let the ones in hand answer, then close the gateway cleanly."""
        self.stopping = True
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT)
        await self.client.close()
        if self._connect is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._connect

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background, tracked so that ``stop`` waits for it."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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

    async def on_ready(self) -> None:
        """After a new session (not the first, which ``start`` handles): sync what changed."""
        if self._started and not self.stopping:
            with self._tracked():
                await self.sync_commands()

    # --- slash commands ----------------------------------------------------------------------

    async def sync_commands(self) -> None:
        """Send each configured guild the commands, unless they are what it last received."""
        payload = self.renderer.payload()
        digest = payload_hash(payload)
        application_id = self.client.application_id
        assert application_id is not None
        for guild in self.guilds():
            community = self.cohort.community_for(PlatformName.DISCORD, str(guild.id))
            assert community is not None
            if await stored_hash(self.cohort.db, community.id, str(guild.id)) == digest:
                self.synced[str(guild.id)] = False
                continue
            try:
                await self.call(
                    lambda g=guild: self.client.http.bulk_upsert_guild_commands(
                        application_id, g.id, payload
                    )
                )
            except PlatformError as exc:
                log.error("discord: could not sync commands to %s: %s", guild.id, exc)
                continue
            await store_hash(
                self.cohort.db, community.id, str(guild.id), digest, self.cohort.clock.now()
            )
            self.synced[str(guild.id)] = True
            log.info("discord: synced %d commands to guild %s", len(payload), guild.id)

    async def on_command(self, interaction: discord.Interaction) -> None:
        """Run a slash command through the core and answer it, whatever happens."""
        if self.stopping:
            return
        with self._tracked():
            locale = self._locale(interaction)
            community = self._community(interaction.guild_id)
            channel = await self._channel_ref(interaction.channel) if interaction.channel else None
            answer = InteractionAnswer(self, interaction, community, channel, locale)
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
                if user is not None:
                    await self.cohort.identity.resolve(community.id, _caller_from_json(user))
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

    async def view(
        self, community: Community | None, buttons: tuple[Button, ...]
    ) -> discord.ui.View | None:
        """Return a persistent view of the reply's buttons (None without buttons)."""
        if not buttons:
            return None
        view = discord.ui.View(timeout=None)
        for button in buttons:
            if button.url:
                view.add_item(
                    discord.ui.Button(
                        label=label(button.label), url=button.url, style=discord.ButtonStyle.link
                    )
                )
                continue
            owner = community or next(iter(self.cohort.communities.values()))
            data = await self.cohort.buttons.encode(owner.id, button, limit=CUSTOM_ID_LIMIT)
            view.add_item(CohortButton(data, label(button.label), STYLES[button.style]))
        return view

    async def on_press(self, interaction: discord.Interaction, data: str) -> None:
        """Run the action behind a pressed button and answer the press, whatever happens."""
        if self.stopping:
            return
        with self._tracked():
            locale = self._locale(interaction)
            community = self._community(interaction.guild_id)
            channel = await self._channel_ref(interaction.channel) if interaction.channel else None
            answer = InteractionAnswer(self, interaction, community, channel, locale)

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

    def _community(self, guild_id: int | None) -> Community | None:
        """Return a guild's community; DMs belong to the first community with Discord."""
        if guild_id is not None:
            found = self.cohort.community_for(PlatformName.DISCORD, str(guild_id))
            if found is None:
                log.warning("discord: guild %s is in no community", guild_id)
            return found
        communities = list(self.cohort.communities.values())
        with_discord = [c for c in communities if c.config.discord_guilds]
        return (with_discord or communities or [None])[0]

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

    async def on_member_join(self, member: discord.Member) -> None:
        """Tell the core a person joined a guild."""
        if self.stopping:
            return
        with self._tracked():
            async with self._order.turn((member.guild.id, member.id)):
                community = self._community(member.guild.id)
                if community is not None:
                    await self.cohort.dispatcher.member_joined(
                        community, caller_of(member), str(member.guild.id)
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

    def _expect(self, guild_id: int, user_id: int, role_id: int, added: bool, n: int) -> None:
        key = (guild_id, user_id, role_id, added)
        self._expected[key] = self._expected.get(key, 0) + n
        if self._expected[key] <= 0:
            del self._expected[key]

    def _was_expected(self, member: discord.Member, role_id: int, added: bool) -> bool:
        key = (member.guild.id, member.id, role_id, added)
        if key not in self._expected:
            return False
        self._expect(*key, -1)
        return True

    # --- calling Discord ---------------------------------------------------------------------

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Make a Discord call; retry 5xx and network failures; map errors to the port's.

        discord.py already waits out 429s (its buckets) and retries 500/502/504 a few times.
        """
        delay = self.retry_delay
        for attempt in range(NETWORK_RETRIES + 1):
            try:
                return await make()
            except discord.Forbidden as exc:
                reason = (
                    PlatformErrorReason.DM_CLOSED
                    if exc.code == CANNOT_DM
                    else PlatformErrorReason.FORBIDDEN
                )
                raise PlatformError(reason, f"{exc.code} {exc.text}") from exc
            except discord.NotFound as exc:
                raise PlatformError(
                    PlatformErrorReason.NOT_FOUND, f"{exc.code} {exc.text}"
                ) from exc
            except discord.RateLimited as exc:
                raise PlatformError(PlatformErrorReason.RATE_LIMITED, str(exc)) from exc
            except (TimeoutError, discord.DiscordServerError, aiohttp.ClientError, OSError) as exc:
                if attempt == NETWORK_RETRIES:
                    raise PlatformError(PlatformErrorReason.UNAVAILABLE, str(exc)) from exc
                log.warning("discord: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
            except discord.HTTPException as exc:
                raise PlatformError(
                    PlatformErrorReason.INVALID, f"{exc.status} {exc.code} {exc.text}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def text(self, locale: str, key: str, /, **params: Any) -> str:
        """Translate an adapter message and render it as Discord Markdown."""
        return render(Reply(text=self.cohort.i18n.text(locale, key, **params))).content or ""

    def _community_of(self, channel: ChannelRef) -> Community | None:
        return self._community(self._guild_id_of(channel))

    def _guild_id_of(self, channel: ChannelRef) -> int | None:
        found = self.client.get_channel(int(channel.thread_id or channel.channel_id))
        guild = getattr(found, "guild", None)
        return guild.id if guild is not None else None

    # --- the Platform port -------------------------------------------------------------------

    def _messageable(self, channel: ChannelRef) -> discord.PartialMessageable:
        """Return a channel, thread or forum post to send in, without fetching it."""
        return self.client.get_partial_messageable(int(channel.thread_id or channel.channel_id))

    def _partial(self, message: MessageRef) -> discord.PartialMessage:
        """Return a message to act on, without fetching it."""
        return self._messageable(message.channel).get_partial_message(int(message.message_id))

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Post ``reply`` in a channel, thread or forum post."""
        target = self._messageable(channel)
        rendered = render(reply)
        view = await self.view(self._community_of(channel), reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        message = await self.call(lambda: target.send(**rendered.send_kwargs(), **extra))
        return MessageRef(channel, str(message.id))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace a bot message's text, embed and buttons."""
        partial = self._partial(message)
        rendered = render(reply)
        view = await self.view(self._community_of(message.channel), reply.buttons)
        await self.call(lambda: partial.edit(**rendered.edit_kwargs(), view=view))

    async def delete(self, message: MessageRef) -> None:
        """Delete a message."""
        await self.call(self._partial(message).delete)

    async def pin(self, message: MessageRef) -> None:
        """Pin a message (the bot needs Manage Messages in the channel)."""
        await self.call(self._partial(message).pin)

    async def unpin(self, message: MessageRef) -> None:
        """Unpin a message."""
        await self.call(self._partial(message).unpin)

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Message a person privately; DM_CLOSED (50007) when they do not take DMs from us."""
        user = self.client.get_user(int(user_id))
        if user is None:
            user = await self.call(lambda: self.client.fetch_user(int(user_id)))
        found: discord.User = user
        dm = await self.call(found.create_dm)
        rendered = render(reply)
        view = await self.view(None, reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        message = await self.call(lambda: dm.send(**rendered.send_kwargs(), **extra))
        return MessageRef(ChannelRef(PlatformName.DISCORD, str(dm.id)), str(message.id))

    async def _channel(self, channel_id: int) -> Any:
        found = self.client.get_channel(channel_id)
        if found is None:
            found = await self.call(lambda: self.client.fetch_channel(channel_id))
        return found

    async def create_thread(
        self, channel: ChannelRef, title: str, reply: Reply, *, tags: tuple[str, ...] = ()
    ) -> ChannelRef:
        """Open a forum post (with the tags that exist there) or a thread on a new message."""
        parent = await self._channel(int(channel.channel_id))
        rendered = render(reply)
        view = await self.view(self._community_of(channel), reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        name = title[:THREAD_NAME_LIMIT] or "…"
        if isinstance(parent, discord.ForumChannel):
            applied = [t for t in parent.available_tags if t.name in tags]
            unknown = set(tags) - {t.name for t in applied}
            if unknown:
                log.warning("discord: forum %s has no tags %s", parent.id, sorted(unknown))
            created = await self.call(
                lambda: parent.create_thread(
                    name=name, applied_tags=applied, **rendered.send_kwargs(), **extra
                )
            )
            thread = created.thread
        elif isinstance(parent, discord.TextChannel):
            first = await self.call(lambda: parent.send(**rendered.send_kwargs(), **extra))
            thread = await self.call(lambda: first.create_thread(name=name))
        else:
            raise PlatformError(PlatformErrorReason.INVALID, f"{parent!r} takes no threads")
        self._parents[thread.id] = parent.id
        return ChannelRef(PlatformName.DISCORD, str(parent.id), str(thread.id))

    async def close_thread(self, thread: ChannelRef, *, lock: bool = False) -> None:
        """Archive a thread or forum post, and lock it if asked."""
        if thread.thread_id is None:
            raise PlatformError(PlatformErrorReason.INVALID, "not a thread")
        found = await self._channel(int(thread.thread_id))
        if not isinstance(found, discord.Thread):
            raise PlatformError(PlatformErrorReason.INVALID, f"{thread.thread_id} is no thread")
        await self.call(lambda: found.edit(archived=True, locked=lock))

    async def rename_thread(self, thread: ChannelRef, title: str) -> None:
        """Rename a thread or forum post (Discord allows 100 characters)."""
        if thread.thread_id is None:
            raise PlatformError(PlatformErrorReason.INVALID, "not a thread")
        found = await self._channel(int(thread.thread_id))
        if not isinstance(found, discord.Thread):
            raise PlatformError(PlatformErrorReason.INVALID, f"{thread.thread_id} is no thread")
        await self.call(lambda: found.edit(name=title[:100]))

    def _pacer(self, guild_id: int) -> Pacer:
        pacer = self._pacers.get(guild_id)
        if pacer is None:
            pacer = self._pacers[guild_id] = Pacer(1.0 / self.config.role_changes_per_second)
        return pacer

    async def _change_role(self, user_id: str, target: AccessTarget, *, add: bool) -> None:
        """Add or remove a role, paced per guild; only return once Discord confirmed it."""
        if target.role_id is None:
            raise PlatformError(PlatformErrorReason.INVALID, "a Discord target needs a role")
        guild_id, member_id, role_id = int(target.space_id), int(user_id), int(target.role_id)
        guild = self.client.get_guild(guild_id)
        if guild is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {guild_id}")
        await self._pacer(guild_id).wait()
        member = guild.get_member(member_id)
        if member is None:
            member = await self.call(lambda: guild.fetch_member(member_id))
        found: discord.Member = member
        role = discord.Object(role_id)
        reason = "Cohort: access granted" if add else "Cohort: access ended"
        self._expect(guild_id, member_id, role_id, add, 1)
        try:
            if add:
                await self.call(lambda: found.add_roles(role, reason=reason))
            else:
                await self.call(lambda: found.remove_roles(role, reason=reason))
        except PlatformError as exc:
            self._expect(guild_id, member_id, role_id, add, -1)
            if exc.reason is PlatformErrorReason.FORBIDDEN:
                community = self._community(guild_id)
                if community is not None:
                    await self.report(
                        community,
                        "discord.role_forbidden",
                        role=self._role_name(guild, role_id),
                        guild=guild.name,
                        bot_role=self._bot_role_name(guild),
                    )
            raise

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        """Give a person a role (the target's ``role_id`` in guild ``space_id``)."""
        await self._change_role(user_id, target, add=True)

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        """Take a role from a person."""
        await self._change_role(user_id, target, add=False)

    async def create_invite(
        self,
        target: AccessTarget,
        *,
        expires_at: datetime | None = None,
        member_limit: int | None = 1,
        join_request: bool = False,
    ) -> str:
        """Create an invite into the guild (its system channel, else its first text channel)."""
        if join_request:
            raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Discord has no join requests")
        guild = self.client.get_guild(int(target.space_id))
        if guild is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {target.space_id}")
        channel = guild.system_channel or next(iter(guild.text_channels), None)
        if channel is None:
            raise PlatformError(PlatformErrorReason.INVALID, "the guild has no text channel")
        max_age = 0
        if expires_at is not None:
            max_age = max(
                1, min(604_800, int((expires_at - self.cohort.clock.now()).total_seconds()))
            )
        invite = await self.call(
            lambda: channel.create_invite(max_age=max_age, max_uses=member_limit or 0, unique=True)
        )
        return str(invite.url)

    async def approve_join_request(self, space_id: str, user_id: str) -> None:
        """Refuse: Discord has no join requests (paid access is a role)."""
        raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Discord has no join requests")

    async def decline_join_request(self, space_id: str, user_id: str) -> None:
        """Refuse: Discord has no join requests (paid access is a role)."""
        raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Discord has no join requests")

    async def remove_member(self, space_id: str, user_id: str) -> None:
        """Remove a person from a guild (a kick: they may come back with an invite)."""
        guild = self.client.get_guild(int(space_id))
        if guild is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {space_id}")
        await self.call(lambda: guild.kick(discord.Object(int(user_id)), reason="Cohort"))

    async def create_scheduled_event(self, space_id: str, event: ScheduledEvent) -> str:
        """Create an external guild scheduled event and return its id."""
        guild = self._event_guild(space_id)
        fields = _event_fields(event)
        created = await self.call(
            lambda: guild.create_scheduled_event(
                **fields,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
            )
        )
        return str(created.id)

    async def edit_scheduled_event(
        self, space_id: str, event_id: str, event: ScheduledEvent
    ) -> None:
        """Change what differs in a guild scheduled event; NOT_FOUND when it is gone or over.

        A moderator may have deleted, cancelled or ended the event in Discord meanwhile: any of
        those is NOT_FOUND, so the caller stops keeping it in step.
        """
        current = await self._fetch_event(space_id, event_id)
        wanted = _event_fields(event)
        have = {
            "name": current.name,
            "description": current.description or "",
            "start_time": current.start_time,
            "end_time": current.end_time,
            "location": current.location,
        }
        changes = {key: value for key, value in wanted.items() if have[key] != value}
        if changes:
            await self.call(lambda: current.edit(**changes))

    async def delete_scheduled_event(self, space_id: str, event_id: str) -> None:
        """Delete a guild scheduled event; NOT_FOUND when it is already gone."""
        current = await self._fetch_event(space_id, event_id)
        await self.call(current.delete)

    def _event_guild(self, space_id: str) -> discord.Guild:
        guild = self.client.get_guild(int(space_id))
        if guild is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {space_id}")
        return guild

    async def _fetch_event(self, space_id: str, event_id: str) -> discord.ScheduledEvent:
        """Read an event as it is now (the gateway does not tell us about moderators' edits)."""
        guild = self._event_guild(space_id)
        current = await self.call(
            lambda: guild.fetch_scheduled_event(int(event_id), with_counts=False)
        )
        if current.status in (discord.EventStatus.completed, discord.EventStatus.cancelled):
            raise PlatformError(
                PlatformErrorReason.NOT_FOUND, f"event {event_id} is {current.status.name}"
            )
        return current

    # --- role hierarchy and reports to admins ------------------------------------------------

    @staticmethod
    def _role_name(guild: discord.Guild, role_id: int) -> str:
        role = guild.get_role(role_id)
        return role.name if role is not None else str(role_id)

    @staticmethod
    def _bot_role_name(guild: discord.Guild) -> str:
        return guild.me.top_role.name if guild.me is not None else "Cohort"

    def role_problems(
        self, guild: discord.Guild, role_ids: tuple[str, ...]
    ) -> dict[str, list[str]]:
        """Return what stops the bot managing ``role_ids``: by kind, the role names."""
        me = guild.me
        problems: dict[str, list[str]] = {"unknown": [], "above": [], "managed": []}
        if me is None:
            return problems
        if role_ids and not me.guild_permissions.manage_roles:
            problems["permission"] = [guild.name]
        for role_id in role_ids:
            role = guild.get_role(int(role_id))
            if role is None:
                problems["unknown"].append(role_id)
            elif role.managed:
                problems["managed"].append(role.name)
            elif role >= me.top_role:  # discord.py orders equal positions by id, as Discord does
                problems["above"].append(role.name)
        return {kind: names for kind, names in problems.items() if names}

    async def check_roles(self) -> None:
        """Check the bot may manage each community's managed roles; tell its admins if not."""
        for guild in self.guilds():
            community = self._community(guild.id)
            if community is None:
                continue
            problems = self.role_problems(guild, community.config.discord_managed_roles)
            for kind, names in problems.items():
                await self.report(
                    community,
                    f"discord.roles_{kind}",
                    guild=guild.name,
                    roles=", ".join(names),
                    bot_role=self._bot_role_name(guild),
                )

    async def report(self, community: Community, key: str, /, **params: Any) -> None:
        """Tell a community's admins about a misconfiguration, in the community's language.

        To the admin channel when one is configured; else a DM to each Discord admin; else
        (no admin reachable) the guild's system channel; the log always gets it.
        """
        locale = community.config.locale
        reply = Reply(text=self.cohort.i18n.text(locale, key, **params))
        log.warning("discord: %s: %s", community.slug, self.cohort.i18n.plain("en", key, **params))
        channel_id = community.config.discord_admin_channel
        try:
            if channel_id is not None:
                await self.send(ChannelRef(PlatformName.DISCORD, channel_id), reply)
                return
            reached = 0
            for ref in community.config.admins:
                if ref.platform is PlatformName.DISCORD:
                    with contextlib.suppress(PlatformError):
                        await self.direct_message(ref.user_id, reply)
                        reached += 1
            if reached:
                return
            for guild in self.guilds():
                if str(guild.id) in community.config.discord_guilds and guild.system_channel:
                    system = ChannelRef(PlatformName.DISCORD, str(guild.system_channel.id))
                    await self.send(system, reply)
                    return
        except PlatformError as exc:
            log.error("discord: could not tell the admins of %s: %s", community.slug, exc)


def _event_fields(event: ScheduledEvent) -> dict[str, Any]:
    """Return a scheduled event as discord.py's keyword arguments, within Discord's limits."""
    return {
        "name": event.title[:100],
        "description": event.description[:1000],
        "start_time": event.start,
        "end_time": event.end,
        "location": event.location[:100] or "-",
    }
