"""What gating tells people: members by direct message, organizers in the admin channel."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Row

from bot.cogs.gating._access import community_by_id
from bot.cogs.gating._billing import customer_of
from bot.cogs.gating._outcomes import NoticeKind, Outcome
from bot.cogs.gating._stripe import Gateway, StripeUnavailable
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.i18n import normalize_locale
from bot.core.notify import direct_message
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, PlatformError, PlatformErrorReason
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

PLATFORM_TIMEOUT = 30.0


class Notices:
    """Direct messages to members and alerts to the admin channel; never raises on a refusal."""

    def __init__(self, cohort: Cohort, gateway: Gateway | None, live: bool) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.live = live

    async def notify(self, outcome: Outcome) -> None:
        """Send the direct messages an applied event asked for."""
        if outcome.community_id is None:
            return
        community = community_by_id(self.cohort, outcome.community_id)
        for kind, member_id, offer_id in outcome.notices:
            offer = community.config.offer(offer_id)
            name = offer.name if offer is not None else offer_id
            if kind is NoticeKind.PAYMENT_FAILED:
                await self._dm_payment_failed(community, member_id, name)
            else:
                await self.dm(community, member_id, "gating.notice.trial_ending", offer=name)

    async def _dm_payment_failed(self, community: Community, member_id: int, name: str) -> None:
        url = None
        customer = await customer_of(self.cohort, community, member_id, live=self.live)
        if customer and self.gateway is not None:
            try:
                url = await self.gateway.create_portal(customer)
            except StripeUnavailable:
                url = None
        await self.dm(community, member_id, "gating.notice.payment_failed", offer=name, url=url)

    async def dm(
        self,
        community: Community,
        member_id: int,
        key: str,
        *,
        url: str | None = None,
        **params: Any,
    ) -> bool:
        """Message a member privately on the first platform that reaches them."""
        i18n = self.cohort.i18n

        def build(locale: str) -> Reply:
            buttons = (Button(i18n.plain(locale, "gating.button.billing"), url=url),) if url else ()
            return Reply(text=i18n.text(locale, key, **params), buttons=buttons)

        return await direct_message(self.cohort, community, member_id, build)

    async def dm_invite(self, community: Community, row: Row[Any], link: str, offer: str) -> None:
        """Send an access row's account its Telegram invite link (a closed DM is not an error)."""
        member, linked = await self.cohort.identity.profile(row.member_id)
        account = next((a for a in linked if a.id == row.account_id), None)
        locale = (
            member.locale
            or normalize_locale(account.locale if account else None)
            or community.config.locale
        )
        i18n = self.cohort.i18n
        reply = Reply(
            text=i18n.text(locale, "gating.notice.invite", offer=offer),
            buttons=(Button(i18n.plain(locale, "gating.button.enter"), url=link),),
        )
        platform = self.cohort.platforms[PlatformName(row.platform)]
        try:
            await asyncio.wait_for(platform.direct_message(row.user_id, reply), PLATFORM_TIMEOUT)
        except PlatformError as exc:
            if exc.reason is not PlatformErrorReason.DM_CLOSED:
                raise
            log.info("gating: member %s has no DM open; /membership shows the link", row.member_id)

    async def alert(self, community: Community, key: str, **params: Any) -> None:
        """Tell the community's admin channel about a problem (and always the log)."""
        where = community.config.gating.admin_channel
        text = self.cohort.i18n.text(community.config.locale, key, **params)
        if where is None:
            log.error("gating: %s (no admin_channel configured)", text)
            return
        platform_name, _, channel_id = where.partition(":")
        platform = self.cohort.platforms.get(PlatformName(platform_name))
        if platform is None:
            log.error("gating: %s (the admin channel's platform is not running)", text)
            return
        try:
            await platform.send(ChannelRef(platform.name, channel_id), Reply(text=text))
        except PlatformError:
            log.exception("gating: could not alert the admin channel: %s", text)
