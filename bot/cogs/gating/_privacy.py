"""What gating holds about a member: money is kept under an anonymous id, platform grants go.

Purchases, Stripe customers, access sources and the audit are bookkeeping: an erasure keeps
them whole with the member replaced by an anonymous id, so the books still add up and a late
Stripe event still lands somewhere. What each platform account was granted goes; with
``paid_access_on_forget = "revoke"`` the roles and chats are taken away after the commit.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating._access import HOLDING as HELD
from bot.core.cohort import Cohort
from bot.core.config import PaidAccessOnForget
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, PlatformError
from bot.core.privacy import Erase, EraseHook, Erasure, Holding
from bot.store.tables import (
    access_sources,
    checkout_refs,
    gating_access,
    gating_audit,
    purchases,
    stripe_customers,
)

log = logging.getLogger(__name__)

MONEY = "bookkeeping: kept whole under an anonymous id"

HOLDINGS = (
    Holding(purchases.c.member_id, Erase.ANONYMISE, f"purchases and refunds ({MONEY})"),
    Holding(stripe_customers.c.member_id, Erase.ANONYMISE, f"Stripe customer ids ({MONEY})"),
    Holding(
        access_sources.c.member_id,
        Erase.ANONYMISE,
        f"subscriptions, payments and grants behind paid access ({MONEY})",
    ),
    Holding(access_sources.c.actor_id, Erase.DETACH, "access an organizer granted"),
    Holding(gating_audit.c.member_id, Erase.ANONYMISE, f"the access audit ({MONEY})"),
    Holding(gating_audit.c.actor_id, Erase.DETACH, "access changes an organizer made"),
    Holding(
        checkout_refs.c.member_id,
        Erase.ANONYMISE,
        f"checkouts started, so a late payment is still recorded ({MONEY})",
    ),
    Holding(gating_access.c.member_id, Erase.DELETE, "roles and chats granted to each account"),
)


def revoke_on_forget(cohort: Cohort) -> EraseHook:
    """Return the hook that, where configured, takes an erased member's paid access away."""

    async def hook(conn: AsyncConnection, erasure: Erasure) -> None:
        community = next(
            (c for c in cohort.communities.values() if c.id == erasure.community_id), None
        )
        if community is None or (
            community.config.privacy.paid_access_on_forget is not PaidAccessOnForget.REVOKE
        ):
            return
        rows = (
            await conn.execute(
                select(
                    gating_access.c.platform,
                    gating_access.c.user_id,
                    gating_access.c.space_id,
                    gating_access.c.role_id,
                ).where(
                    gating_access.c.member_id == erasure.member_id,
                    gating_access.c.state.in_([s.value for s in HELD]),
                )
            )
        ).all()
        targets = [
            (r.user_id, AccessTarget(PlatformName(r.platform), r.space_id, r.role_id or None))
            for r in rows
        ]

        async def revoke() -> None:
            for user_id, target in targets:
                platform = cohort.platforms.get(target.platform)
                if platform is None:
                    continue
                try:
                    await platform.revoke_access(user_id, target)
                except PlatformError as exc:
                    log.warning(
                        "privacy: could not revoke %s access in %s: %s",
                        target.platform,
                        target.space_id,
                        exc.reason,
                    )

        if targets:
            erasure.after.append(revoke)

    return hook
