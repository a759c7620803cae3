"""Automod on the message path: rules from config, staff and chosen roles and tiers exempt.

Every hit is a case.

A message costs a few dictionary look-ups and, when it holds a hint of a link, one regular
expression; the database is read only when a rule may have been broken (the account's age for
a link, the member's tiers before acting).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from bot.cogs.moderation import _automod_rules as rules
from bot.cogs.moderation import _store as store
from bot.cogs.moderation._rules import Action, Source, State
from bot.cogs.moderation._service import Actor, ModerationService
from bot.cogs.moderation._store import NewCase
from bot.core.community import Community
from bot.core.config import AutomodAction, AutomodChannel, AutomodRule
from bot.core.events import MessagePosted
from bot.core.ports import MessageRef, PlatformError
from bot.store.tables import accounts

log = logging.getLogger(__name__)

AUTOMOD = "automod"
MAX_ACCOUNTS = 100_000


class Automod:
    """Checks each member's message against the community's automod rules."""

    def __init__(self, service: ModerationService) -> None:
        self.service = service
        self.cohort = service.cohort
        self.windows = rules.Windows()
        self._channels: dict[int, dict[tuple[str, str], AutomodChannel]] = {}
        self._staff: dict[int, frozenset[tuple[str, str]]] = {}
        self._seen_at: dict[int, datetime] = {}  # by account; it never changes

    def _is_staff(self, community: Community, platform: str, user_id: str) -> bool:
        staff = self._staff.get(community.id)
        if staff is None:
            config = community.config
            refs = config.admins + config.organizers + config.moderators
            staff = frozenset((r.platform.value, r.user_id) for r in refs)
            self._staff[community.id] = staff
        return (platform, user_id) in staff

    def _channel(
        self, community: Community, platform: str, channel_id: str
    ) -> AutomodChannel | None:
        table = self._channels.get(community.id)
        if table is None:
            table = {
                (c.channel.platform.value, c.channel.channel_id): c
                for c in community.config.moderation.automod.channels
            }
            self._channels[community.id] = table
        return table.get((platform, channel_id))

    @staticmethod
    def enabled(event: MessagePosted) -> bool:
        """Tell whether the message's community applies automod rules at all."""
        return event.community.config.moderation.automod.enabled

    async def check(self, event: MessagePosted) -> bool:
        """Apply the rules to one message; return True when it broke one and was acted on."""
        community = event.community
        config = community.config.moderation.automod
        if not config.enabled:
            return False
        account = event.account
        channel = event.channel
        if channel.channel_id == account.platform_user_id:
            return False  # a private chat with the bot (Telegram numbers it by the user)
        if self._is_staff(community, account.platform.value, account.platform_user_id):
            return False
        override = self._channel(community, channel.platform.value, channel.channel_id)
        if event.role_ids and rules.exempt_by_role(config, override, event.role_ids):
            return False
        off = frozenset(override.off) if override else frozenset()
        allow = override.allow_links if override else ()
        found = rules.links(event.text)
        mentions = rules.mention_count(event.text, event.mentions)
        hits = rules.stateless_hits(config, found, mentions, off=off, allow=allow)
        at = event.posted_at
        flood = config.flood
        if flood.on and AutomodRule.FLOOD not in off:
            key = (community.id, channel.platform.value, channel.channel_id, account.member_id)
            if self.windows.flood(key, at, flood.within, flood.messages):
                hits.append(rules.Hit(AutomodRule.FLOOD, flood.action))
        repeats = config.repeats
        if repeats.on and AutomodRule.REPEATS not in off:
            key2 = (community.id, account.member_id)
            if self.windows.repeats(key2, at, event.text, repeats.within, repeats.count):
                hits.append(rules.Hit(AutomodRule.REPEATS, repeats.action))
        if found and config.new_accounts.on and AutomodRule.NEW_ACCOUNTS not in off:
            hit = rules.new_account_hit(config, True, await self._first_seen(account.id), at, off)
            if hit is not None:
                hits.append(hit)
        if not hits:
            return False
        if config.exempt_tiers:
            tiers = await self.cohort.entitlements.tiers_of(account.member_id, at)
            if tiers & set(config.exempt_tiers):
                return False
        await self._act(event, hits)
        return True

    async def _first_seen(self, account_id: int) -> datetime:
        """Return when Cohort first saw an account: read once, then kept (bounded)."""
        first: datetime | None = self._seen_at.get(account_id)
        if first is None:
            async with self.cohort.db.read() as conn:
                first = (
                    await conn.execute(
                        select(accounts.c.created_at).where(accounts.c.id == account_id)
                    )
                ).scalar_one()
            if len(self._seen_at) >= MAX_ACCOUNTS:
                self._seen_at.clear()
            self._seen_at[account_id] = first
        return first

    async def _act(self, event: MessagePosted, hits: list[rules.Hit]) -> None:
        """Delete the message, then record the hit (warn or mute the member when asked)."""
        community = event.community
        names = ", ".join(sorted({h.rule.value for h in hits}))
        reason = self.cohort.i18n.plain(community.config.locale, "moderation.automod", rules=names)
        refusal: PlatformError | None = None
        platform = self.cohort.platforms.get(event.channel.platform)
        if platform is not None:
            try:
                await platform.delete(MessageRef(event.channel, event.message_id))
            except PlatformError as exc:
                log.warning("automod: could not delete %s: %s", event.message_id, exc)
                refusal = exc
        action = rules.harshest(hits)
        actor = Actor(None, AUTOMOD)
        if action is AutomodAction.DELETE or refusal is not None:
            case = await store.add_case(
                self.cohort.db,
                community.id,
                NewCase(
                    action=Action.DELETE,
                    source=Source.AUTOMOD,
                    member_id=event.account.member_id,
                    moderator_id=None,
                    reason=reason,
                    state=State.FAILED if refusal else State.DONE,
                    created_at=self.cohort.clock.now(),
                    detail=str(refusal) if refusal else None,
                    platform=event.channel.platform,
                    channel_id=event.channel.channel_id,
                ),
            )
            await self.service.post_log(community, case, AUTOMOD, event.account.display_name)
            if refusal is not None or action is AutomodAction.DELETE:
                return
        duration = community.config.moderation.automod.mute_duration
        await self.service.act(
            community,
            actor,
            event.account,
            Action.MUTE if action is AutomodAction.MUTE else Action.WARN,
            reason,
            source=Source.AUTOMOD,
            duration=duration if action is AutomodAction.MUTE else None,
        )
