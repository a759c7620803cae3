"""The Platform port on Discord: send, edit, threads, roles, invites, events, reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import discord

from bot.adapters.discord._buttons import CUSTOM_ID_LIMIT, CohortButton
from bot.adapters.discord._client import CohortClient
from bot.adapters.discord._order import Pacer
from bot.adapters.discord._render import STYLES, label, render
from bot.adapters.discord._shards import ShardPlan
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.config import DiscordConfig
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
THREAD_NAME_LIMIT = 100


class DiscordPlatform:
    """Implements the Platform port on Discord: the calls Cohort makes, and their errors."""

    cohort: Cohort
    config: DiscordConfig
    client: CohortClient
    retry_delay: float
    _pacers: dict[int, Pacer]
    _parents: dict[int, int]
    _expected: dict[tuple[int, int, int, bool], int]
    _channel_guilds: dict[int, int | None]  # channels outside this process's shards
    plan: ShardPlan | None

    def _all_shards(self) -> bool:
        """Tell whether this process hears every guild (it opens every shard)."""
        return self.plan is None or self.plan.all

    async def _guild(self, guild_id: int) -> discord.Guild:
        """Return a guild from the cache, or from Discord when another process holds its shard.

        A fetched guild has no channels or members: fetch what you need.
        """
        guild = self.client.get_guild(guild_id)
        if guild is not None:
            return guild
        if self._all_shards():
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"not in guild {guild_id}")
        return await self.call(lambda: self.client.fetch_guild(guild_id, with_counts=False))

    def guilds(self) -> list[discord.Guild]:
        """Return the configured guilds the bot is in."""
        wanted = {g for c in self.cohort.communities.values() for g in c.config.discord_guilds}
        return [g for g in self.client.guilds if str(g.id) in wanted]

    def _community(self, guild_id: int | None) -> Community | None:
        """Return a guild's community; DMs belong to the first community with Discord."""
        if guild_id is not None:
            found = self.cohort.community_for(PlatformName.DISCORD, str(guild_id))
            if found is None:
                log.warning("discord: guild %s is in no community", guild_id)
            return found
        communities = list(self.cohort.communities.values())
        with_discord = [c for c in communities if c.config.discord_guilds]
        candidates = with_discord or communities
        return candidates[0] if candidates else None

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
            except RuntimeError as exc:  # aiohttp: "Session is closed"
                if not self.client.is_closed():
                    raise
                raise PlatformError(
                    PlatformErrorReason.UNAVAILABLE, "the client is closed"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def text(self, locale: str, key: str, /, **params: Any) -> str:
        """Translate an adapter message and render it as Discord Markdown."""
        return render(Reply(text=self.cohort.i18n.text(locale, key, **params))).content or ""

    async def _community_of(self, channel: ChannelRef) -> Community | None:
        return self._community(await self._guild_id_of(channel))

    async def _guild_id_of(self, channel: ChannelRef) -> int | None:
        channel_id = int(channel.thread_id or channel.channel_id)
        found = self.client.get_channel(channel_id)
        if found is None and not self._all_shards():
            # A channel of a guild on another process's shard: ask Discord once.
            if channel_id not in self._channel_guilds:
                try:
                    fetched = await self.call(lambda: self.client.fetch_channel(channel_id))
                except PlatformError:
                    return None  # not remembered: the next call asks again
                self._channel_guilds[channel_id] = getattr(fetched, "guild_id", None)
            return self._channel_guilds[channel_id]
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
        view = await self.view(await self._community_of(channel), reply.buttons)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        message = await self.call(lambda: target.send(**rendered.send_kwargs(), **extra))
        return MessageRef(channel, str(message.id))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace a bot message's text, embed and buttons."""
        partial = self._partial(message)
        rendered = render(reply)
        view = await self.view(await self._community_of(message.channel), reply.buttons)
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
        view = await self.view(await self._community_of(channel), reply.buttons)
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
        guild = await self._guild(guild_id)
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
        guild = await self._guild(int(target.space_id))
        if self.client.get_guild(guild.id) is None:  # fetched: its channels are not known
            found = await self.call(guild.fetch_channels)
            texts = [c for c in found if isinstance(c, discord.TextChannel)]
            system_id = getattr(guild, "_system_channel_id", None)  # kept, though not its channel
            system = [c for c in texts if c.id == system_id]
            channel: discord.TextChannel | None = next(iter(system + texts), None)
        else:
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
        guild = await self._guild(int(space_id))
        await self.call(lambda: guild.kick(discord.Object(int(user_id)), reason="Cohort"))

    async def create_scheduled_event(self, space_id: str, event: ScheduledEvent) -> str:
        """Create an external guild scheduled event and return its id."""
        guild = await self._event_guild(space_id)
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

    async def _event_guild(self, space_id: str) -> discord.Guild:
        return await self._guild(int(space_id))

    async def _fetch_event(self, space_id: str, event_id: str) -> discord.ScheduledEvent:
        """Read an event as it is now (the gateway does not tell us about moderators' edits)."""
        guild = await self._event_guild(space_id)
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
        me: discord.Member | None = guild.me  # None while the guild is not fully loaded
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
