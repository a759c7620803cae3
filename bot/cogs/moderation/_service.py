"""Moderation actions: act on every platform a member is on, record the case, tell everyone.

A platform's refusal makes the case ``failed`` (never done), and the moderator is told why.
Timed mutes and bans are lifted on schedule by ``_expiry.Expiries``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.cogs.moderation import _store as store
from bot.cogs.moderation._rules import (
    APPEAL_ACTION,
    APPEALABLE,
    Action,
    Expiry,
    Source,
    State,
    chunks,
    escalation_action,
    escalation_step,
    purge_since,
    slowmode_allows,
)
from bot.cogs.moderation._store import Case, NewCase, SlowmodeKey
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.community import Community
from bot.core.dispatch import ROLE_ORDER
from bot.core.events import MessagePosted
from bot.core.identity import Account
from bot.core.notify import direct_message
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef, Platform, PlatformError, PlatformErrorReason
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

MAX_TRACKED = 20_000  # slowmode: last-message times kept in memory before old ones are dropped

Act = Callable[[Platform, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a moderator (member, name) or, with ``member_id`` None, Cohort itself."""

    member_id: int | None
    name: str


@dataclass(slots=True)
class Outcome:
    """What an action came to: its case, what platforms refused, whether the DM went out."""

    case: Case
    refusals: list[PlatformError] = field(default_factory=list)
    told: bool = False
    escalated: Outcome | None = None


class ModerationService:
    """Moderation for one bot: actions, cases, the mod log, expiry and slowmode."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.slow: dict[SlowmodeKey, int] = {}
        self._last: dict[tuple[SlowmodeKey, int], datetime] = {}

    async def start(self) -> None:
        """Load the slowmodes the bot enforces."""
        self.slow = await store.slowmodes(self.cohort.db)

    # --- where to act ------------------------------------------------------------------------

    @staticmethod
    def spaces(community: Community, platform: PlatformName) -> tuple[str, ...]:
        """Return the guilds or chats of a community on ``platform`` (the console has one)."""
        if platform is PlatformName.DISCORD:
            return community.config.discord_guilds
        if platform is PlatformName.TELEGRAM:
            return community.config.telegram_chats
        return (community.slug,)

    async def role_of(self, community: Community, member_id: int) -> Role:
        """Return a member's highest role over their linked accounts."""
        linked = await self.cohort.identity.accounts_of(member_id)
        held = {community.role_of(a.platform, a.platform_user_id) for a in linked}
        return max(held, key=ROLE_ORDER.index) if held else Role.MEMBER

    async def each_space(
        self, community: Community, member_id: int, act: Act, *, missing_ok: bool
    ) -> tuple[bool, list[PlatformError]]:
        """Run ``act`` in every space of every platform the member has an account on.

        Return whether any space took it, and the refusals. ``missing_ok``: a space the member
        is not in is nothing to do.
        """
        refusals: list[PlatformError] = []
        acted = False
        for account in await self.cohort.identity.accounts_of(member_id):
            platform = self.cohort.platforms.get(account.platform)
            if platform is None:
                continue
            for space in self.spaces(community, account.platform):
                try:
                    await act(platform, space, account.platform_user_id)
                    acted = True
                except PlatformError as exc:
                    log.warning(
                        "moderation: %s refused in %s for member %s: %s",
                        account.platform,
                        space,
                        member_id,
                        exc,
                    )
                    if missing_ok and exc.reason is PlatformErrorReason.NOT_FOUND:
                        continue
                    refusals.append(exc)
        if not acted and not refusals:
            refusals.append(PlatformError(PlatformErrorReason.NOT_FOUND, "no space to act in"))
        return acted, refusals

    # --- actions -----------------------------------------------------------------------------

    async def act(
        self,
        community: Community,
        actor: Actor,
        target: Account,
        action: Action,
        reason: str,
        *,
        source: Source = Source.MODERATOR,
        duration: timedelta | None = None,
        delete_days: int = 0,
    ) -> Outcome:
        """Take ``action`` on ``target`` everywhere, record the case, DM them, log it.

        A mute lasts ``duration``; a ban with one is lifted after it.
        """
        now = self.cohort.clock.now()
        until = now + duration if duration is not None else None
        member_id = target.member_id
        refusals: list[PlatformError] = []
        acted = False
        if action is Action.MUTE:
            acted, refusals = await self.each_space(
                community,
                member_id,
                lambda p, space, user: p.timeout_member(space, user, until),
                missing_ok=True,
            )
        elif action is Action.UNMUTE:
            acted, refusals = await self.each_space(
                community,
                member_id,
                lambda p, space, user: p.timeout_member(space, user, None),
                missing_ok=True,
            )
        elif action is Action.KICK:
            acted, refusals = await self.each_space(
                community,
                member_id,
                lambda p, space, user: p.remove_member(space, user),
                missing_ok=True,
            )
        elif action is Action.BAN:
            acted, refusals = await self.each_space(
                community,
                member_id,
                lambda p, space, user: p.ban_member(space, user, delete_days=delete_days),
                missing_ok=False,
            )
        elif action is Action.UNBAN:
            acted, refusals = await self.each_space(
                community,
                member_id,
                lambda p, space, user: p.unban_member(space, user),
                missing_ok=True,
            )
        state = State.FAILED if refusals else State.DONE
        timed = action in (Action.MUTE, Action.BAN) and until is not None
        new = NewCase(
            action=action,
            source=source,
            member_id=member_id,
            moderator_id=actor.member_id,
            reason=reason,
            state=state,
            created_at=now,
            until=until,
            detail="; ".join(str(r) for r in refusals) or None,
            # Lifted on schedule wherever it took, even if another space refused it.
            expiry=Expiry.PENDING if timed and acted else None,
        )
        async with self.cohort.db.write() as conn:
            case = await store.add_case_in(conn, community.id, new)
            warnings = 0
            if action is Action.WARN:
                since = now - community.config.moderation.warning_expiry
                warnings = await store.live_warnings_in(conn, community.id, member_id, since)
        if state is State.DONE and action in (Action.UNMUTE, Action.UNBAN):
            lifted = Action.MUTE if action is Action.UNMUTE else Action.BAN
            await store.cancel_expiries(self.cohort.db, community.id, member_id, lifted)
        outcome = Outcome(case, refusals)
        if state is State.DONE:
            outcome.told = await self.tell_member(community, case, now)
        await self.post_log(community, case, actor.name, target.display_name)
        if action is Action.WARN:
            outcome.escalated = await self._escalate(community, actor, target, warnings)
        return outcome

    async def _escalate(
        self, community: Community, actor: Actor, target: Account, warnings: int
    ) -> Outcome | None:
        """Take the step that this many live warnings reach, if any."""
        step = escalation_step(community.config.moderation.escalation, warnings)
        if step is None:
            return None
        action = escalation_action(step)
        duration = step.duration if action is not Action.KICK else None
        reason = self.cohort.i18n.plain(
            community.config.locale, "moderation.escalation_reason", count=warnings
        )
        return await self.act(
            community, actor, target, action, reason, source=Source.ESCALATION, duration=duration
        )

    async def tell_member(self, community: Community, case: Case, now: datetime) -> bool:
        """DM the member what was done and why; False when no platform reached them."""
        if case.member_id is None or case.action in (Action.PURGE, Action.SLOWMODE):
            return False
        i18n = self.cohort.i18n

        appeal = (
            community.config.moderation.appeal_channel is not None
            and case.action in APPEALABLE
            and case.state is State.DONE
        )

        def build(locale: str) -> Reply:
            length = i18n.duration(locale, case.until - now) if case.until else ""
            buttons = (
                (
                    Button(
                        i18n.plain(locale, "moderation.appeal.button"),
                        action=APPEAL_ACTION,
                        payload=str(case.number),
                    ),
                )
                if appeal
                else ()
            )
            return Reply(
                text=i18n.text(
                    locale,
                    f"moderation.dm.{case.action.value}",
                    community=community.config.name,
                    reason=case.reason,
                    duration=length,
                    number=case.number,
                ),
                buttons=buttons,
            )

        return await direct_message(self.cohort, community, case.member_id, build)

    async def post_log(
        self, community: Community, case: Case, actor: str, target: str | None
    ) -> None:
        """Post a case in each configured mod-log channel, in the community's language."""
        channels = community.config.moderation.log_channels
        if not channels:
            return
        text = self.describe(community.config.locale, case, actor, target)
        for address in channels:
            platform = self.cohort.platforms.get(address.platform)
            if platform is None:
                continue
            where = ChannelRef(address.platform, address.channel_id, address.thread_id)
            try:
                await platform.send(where, Reply(text=text))
            except PlatformError as exc:
                log.warning("moderation: could not post case %s to %s: %s", case.number, where, exc)

    def describe(self, locale: str, case: Case, actor: str, target: str | None) -> str:
        """Write one case on one line (the mod log, /modlog, /case)."""
        i18n = self.cohort.i18n
        length = (
            i18n.duration(locale, case.until - case.created_at) if case.until is not None else ""
        )
        params: dict[str, object] = {
            "number": case.number,
            "actor": actor,
            "target": target or "—",
            "reason": _reason(case),
            "duration": length,
        }
        if case.action is Action.PURGE:  # the reason is how many were deleted
            params["count"] = int(case.reason) if case.reason.isdigit() else 0
            params["target"] = f"({target})" if target else ""
        text = i18n.text(locale, f"moderation.log.{case.action.value}", **params)
        if case.source is not Source.MODERATOR:
            text += " " + i18n.text(locale, f"moderation.source.{case.source.value}")
        if case.state is State.FAILED:
            text += " " + i18n.text(locale, "moderation.log.failed")
        return text

    # --- channels ----------------------------------------------------------------------------

    async def purge(
        self,
        community: Community,
        actor: Actor,
        platform: Platform,
        channel: ChannelRef,
        count: int,
        member: Account | None,
    ) -> tuple[Case, int, list[PlatformError]]:
        """Delete the latest ``count`` messages of a channel (of one member); return the case."""
        now = self.cohort.clock.now()
        ids = await store.recent_messages(
            self.cohort.db,
            community.id,
            channel.platform,
            channel.channel_id,
            thread_id=channel.thread_id,
            member_id=member.member_id if member else None,
            since=purge_since(channel.platform, now),
            limit=count,
        )
        refusals: list[PlatformError] = []
        deleted: list[str] = []
        for chunk in chunks(ids):
            try:
                await platform.delete_messages(channel, chunk)
                deleted += chunk
            except PlatformError as exc:
                log.warning("moderation: purge refused in %s: %s", channel, exc)
                refusals.append(exc)
        await store.forget_messages(
            self.cohort.db, community.id, channel.platform, channel.channel_id, deleted
        )
        case = await store.add_case(
            self.cohort.db,
            community.id,
            NewCase(
                action=Action.PURGE,
                source=Source.MODERATOR,
                member_id=member.member_id if member else None,
                moderator_id=actor.member_id,
                reason=str(len(deleted)),
                state=State.FAILED if refusals else State.DONE,
                created_at=now,
                detail="; ".join(str(r) for r in refusals) or None,
                platform=channel.platform,
                channel_id=channel.channel_id,
            ),
        )
        await self.post_log(community, case, actor.name, member.display_name if member else None)
        return case, len(deleted), refusals

    async def slowmode(
        self,
        community: Community,
        actor: Actor,
        platform: Platform,
        channel: ChannelRef,
        seconds: int,
    ) -> tuple[Case, bool, list[PlatformError]]:
        """Set a channel's slowmode, natively or enforced by the bot; return whether native."""
        now = self.cohort.clock.now()
        key: SlowmodeKey = (community.id, channel.platform.value, channel.channel_id)
        refusals: list[PlatformError] = []
        native = False
        try:
            native = await platform.set_slowmode(channel, seconds)
        except PlatformError as exc:
            refusals.append(exc)
        if not refusals:
            enforced = 0 if native else seconds
            await store.set_slowmode(self.cohort.db, key, enforced, now)
            if enforced:
                self.slow[key] = enforced
            else:
                self.slow.pop(key, None)
        case = await store.add_case(
            self.cohort.db,
            community.id,
            NewCase(
                action=Action.SLOWMODE,
                source=Source.MODERATOR,
                member_id=None,
                moderator_id=actor.member_id,
                reason=str(seconds),
                state=State.FAILED if refusals else State.DONE,
                created_at=now,
                detail="; ".join(str(r) for r in refusals) or None,
                platform=channel.platform,
                channel_id=channel.channel_id,
            ),
        )
        await self.post_log(community, case, actor.name, None)
        return case, native, refusals

    def slowed(self, event: MessagePosted) -> bool:
        """Tell whether the message's channel has a slowmode."""
        slow = self.slow
        return bool(slow) and (
            (event.community.id, event.channel.platform.value, event.channel.channel_id) in slow
        )

    async def enforce_slowmode(self, event: MessagePosted) -> bool:
        """Delete a message posted too soon after the same member's last; return True if so."""
        if not self.slow:
            return False
        key: SlowmodeKey = (
            event.community.id,
            event.channel.platform.value,
            event.channel.channel_id,
        )
        seconds = self.slow.get(key)
        if seconds is None:
            return False
        account = event.account
        if event.community.role_of(account.platform, account.platform_user_id) is not Role.MEMBER:
            return False
        slot = (key, account.member_id)
        if slowmode_allows(self._last.get(slot), event.posted_at, seconds):
            if len(self._last) >= MAX_TRACKED:
                self._prune(event.posted_at)
            self._last[slot] = event.posted_at
            return False
        platform = self.cohort.platforms.get(event.channel.platform)
        if platform is None:
            return False
        try:
            await platform.delete(MessageRef(event.channel, event.message_id))
        except PlatformError as exc:
            log.warning("moderation: could not enforce slowmode in %s: %s", event.channel, exc)
        return True

    def _prune(self, now: datetime) -> None:
        """Forget last-message times older than the longest slowmode."""
        longest = timedelta(seconds=max(self.slow.values(), default=0))
        self._last = {k: v for k, v in self._last.items() if now - v < longest}


def _reason(case: Case) -> str:
    """Write a case's reason for its line: an unmute or unban names only what it ends."""
    if case.action in (Action.UNMUTE, Action.UNBAN):
        return f"({case.reason})" if case.reason else ""
    return case.reason or "—"
