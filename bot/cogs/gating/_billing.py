"""Checkout links and billing-portal links for members (``/join``, ``/billing``)."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select, update

from bot.cogs.gating import _events as ev
from bot.cogs.gating._stripe import CheckoutLink, Gateway, StripeUnavailable
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.config import OfferConfig, OfferKind
from bot.core.errors import UserError
from bot.store.tables import checkout_refs, stripe_customers

log = logging.getLogger(__name__)


async def customer_of(
    cohort: Cohort, community: Community, member_id: int, *, live: bool
) -> str | None:
    """Return the member's newest Stripe customer in the current mode."""
    async with cohort.db.read() as conn:
        return await conn.scalar(
            select(stripe_customers.c.customer_id)
            .where(
                stripe_customers.c.community_id == community.id,
                stripe_customers.c.member_id == member_id,
                stripe_customers.c.livemode.is_(live),
            )
            .order_by(stripe_customers.c.id.desc())
            .limit(1)
        )


class Billing:
    """Creates Checkout Sessions tied to a member, and portal sessions for their customer."""

    def __init__(self, cohort: Cohort, gateway: Gateway | None, live: bool) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.live = live

    async def checkout(
        self,
        community: Community,
        member_id: int,
        account_id: int,
        offer: OfferConfig,
        price_id: str,
        locale: str,
    ) -> CheckoutLink:
        """Create a Checkout Session for a member, tied to a fresh opaque reference."""
        if self.gateway is None:
            raise UserError("gating.unavailable")
        ref = "co_" + secrets.token_urlsafe(18)
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await conn.execute(
                checkout_refs.insert().values(
                    community_id=community.id,
                    ref=ref,
                    member_id=member_id,
                    account_id=account_id,
                    offer_id=offer.id,
                    price_id=price_id,
                    livemode=self.live,
                    created_at=now,
                )
            )
        customer = await customer_of(self.cohort, community, member_id, live=self.live)
        try:
            link = await self.gateway.create_checkout(
                price_id=price_id,
                subscription=offer.kind is OfferKind.TIER,
                ref=ref,
                customer_id=customer,
                trial_days=offer.trial_days,
                locale=locale,
                metadata={ev.REF_KEY: ref, ev.COMMUNITY_KEY: community.slug},
            )
        except StripeUnavailable:
            raise UserError("gating.stripe_down") from None
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(checkout_refs)
                .where(checkout_refs.c.ref == ref)
                .values(session_id=link.session_id)
            )
        return link

    async def portal(self, community: Community, member_id: int) -> str:
        """Return a billing-portal link for the member."""
        if self.gateway is None:
            raise UserError("gating.unavailable")
        customer = await customer_of(self.cohort, community, member_id, live=self.live)
        if customer is None:
            raise UserError("gating.billing.none")
        try:
            return await self.gateway.create_portal(customer)
        except StripeUnavailable:
            raise UserError("gating.stripe_down") from None
