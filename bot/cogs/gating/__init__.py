"""Paid access through Stripe: tiers and courses unlock Discord roles and Telegram chats.

The service replaces ``cohort.entitlements``, so other cogs ask it what a member holds:

    held = await cohort.entitlements.tiers_of(member_id, now)        # tiers, for Permission.TIER
    from bot.cogs.gating import Gating
    if isinstance(cohort.entitlements, Gating):
        owned = await cohort.entitlements.offers_of(member_id, now)  # tiers and courses
"""

from __future__ import annotations

from pathlib import Path

from bot.cogs.gating._cog import GatingCog
from bot.cogs.gating._demo import DemoError, DemoGateway, state_path
from bot.cogs.gating._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.gating._privacy import revoke_on_forget
from bot.cogs.gating._rules import SourceKind, SourceState, Standing, entitled, standing
from bot.cogs.gating._service import Gating, Received, Report
from bot.cogs.gating._simulate import base_url
from bot.cogs.gating._stripe import BadSignature, Gateway, StripeGateway
from bot.core.cohort import Cohort
from bot.core.events import JoinRequested, MemberJoined, MemberLeft

__all__ = [
    "BadSignature",
    "DemoError",
    "DemoGateway",
    "Gating",
    "GatingCog",
    "Received",
    "Report",
    "SourceKind",
    "SourceState",
    "Standing",
    "entitled",
    "setup",
    "standing",
]


def setup(cohort: Cohort) -> None:
    """Install the gating service as the entitlements, its commands, listeners and jobs."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    config = cohort.config.stripe
    gateway: Gateway | None = None
    if cohort.config.demo.enabled:  # never beside a live key: the config refuses it
        names = {
            price: offer.name
            for community in cohort.config.communities
            for offer in community.offers
            for price in offer.prices
        }
        gateway = DemoGateway(
            cohort.clock,
            base_url=base_url(cohort.config),
            names=names,
            state=state_path(cohort.config.database.url),
        )
    elif config.secret_key:
        gateway = StripeGateway(config, cohort.clock)
    service = Gating(cohort, gateway)
    cohort.entitlements = service
    cog = GatingCog(cohort, service)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    cohort.events.subscribe(MemberJoined, cog.on_joined)
    cohort.events.subscribe(MemberLeft, cog.on_left)
    cohort.events.subscribe(JoinRequested, cog.on_join_request)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    cohort.privacy.erase_hooks.append(revoke_on_forget(cohort))
    cohort.on_start(service.start)
    cohort.on_stop(service.stop)
    cohort.every("gating.reconcile", config.reconcile_every, service.reconcile)
