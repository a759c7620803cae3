"""Reconciliation (rule 11): Stripe, the database and the platforms compared and healed."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import (
    AccessState,
    gated_targets,
    recompute,
    recompute_pairs,
)
from bot.cogs.gating._apply import Applier, differs
from bot.cogs.gating._inbox import Inbox
from bot.cogs.gating._notices import PLATFORM_TIMEOUT
from bot.cogs.gating._outcomes import EventStatus
from bot.cogs.gating._rules import SourceKind
from bot.cogs.gating._stripe import StripeGateway, StripeUnavailable
from bot.core.cohort import Cohort
from bot.core.ports import PlatformError
from bot.store.tables import access_sources, gating_access

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(days=30)
# A reconciliation snapshot is taken to be at least this fresh, to allow for clock skew.
RECONCILE_SKEW = 60


@dataclass(slots=True)
class Report:
    """What a reconciliation pass found and changed."""

    subscriptions: int = 0
    fixed: list[str] = field(default_factory=list)
    replayed: int = 0
    access_changes: int = 0
    retried: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # platform, space, code
    stripe_error: str | None = None


class Reconciler:
    """Runs reconciliation passes and the permissions preflight."""

    def __init__(
        self, cohort: Cohort, gateway: StripeGateway | None, applier: Applier, inbox: Inbox
    ) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.applier = applier
        self.inbox = inbox
        self.live = applier.live

    async def reconcile(self) -> Report:
        """Compare Stripe, the database and the platforms; fix drift and report it."""
        report = Report()
        now = self.cohort.clock.now()
        if self.gateway is not None:
            try:
                await self._reconcile_stripe(report, now)
            except StripeUnavailable as exc:
                # Not an answer: nothing is taken away because Stripe could not be asked.
                report.stripe_error = str(exc)
        async with self.cohort.db.write() as conn:
            # Parked failures: try again as if nothing had happened on the platform (a grant
            # from nothing; a revocation of what may still be there). Backing-off ones: now.
            for desired, state in ((True, AccessState.NONE), (False, AccessState.GRANTED)):
                parked = await conn.execute(
                    update(gating_access)
                    .where(
                        gating_access.c.state == AccessState.FAILED.value,
                        gating_access.c.desired.is_(desired),
                    )
                    .values(state=state.value, next_attempt_at=now, attempts=0)
                )
                report.retried += int(parked.rowcount)
            waiting = await conn.execute(
                update(gating_access)
                .where(
                    gating_access.c.next_attempt_at.is_not(None),
                    gating_access.c.attempts > 0,
                )
                .values(next_attempt_at=now, attempts=0)
            )
            report.retried += int(waiting.rowcount)
            who = (
                await conn.execute(
                    select(access_sources.c.community_id, access_sources.c.member_id).distinct()
                )
            ).all()
            report.access_changes += await recompute_pairs(conn, self.cohort, who, now)
        return report

    async def _reconcile_stripe(self, report: Report, now: datetime) -> None:
        assert self.gateway is not None
        found = await self.gateway.subscriptions()
        report.subscriptions = len(found)
        version = int(now.timestamp()) - RECONCILE_SKEW
        for obj in found:
            if bool(obj.get("livemode")) != self.live:
                continue
            snap = ev.subscription(obj)
            async with self.cohort.db.write() as conn:
                before = await self.applier.source(conn, SourceKind.SUBSCRIPTION, snap.id)
                if before is not None and not differs(before, snap):
                    continue
                outcome = await self.applier.on_subscription(
                    conn, obj, version, now, {}, reconciling=True
                )
                if outcome.status is not EventStatus.APPLIED or outcome.community_id is None:
                    continue
                for member_id in outcome.members:
                    await recompute(
                        conn, self.applier.community(outcome.community_id), member_id, now
                    )
            was = before.status if before is not None else "-"
            report.fixed.append(f"{snap.id}: {was} -> {snap.status}")
        for event in await self.gateway.undelivered_events(now - REPLAY_WINDOW):
            if await self.inbox.store(event, json.dumps(event), now):
                report.replayed += 1

    async def preflight(self) -> list[tuple[str, str, str]]:
        """Ask each platform whether the bot may manage every gated target."""
        problems: list[tuple[str, str, str]] = []
        for community in self.cohort.communities.values():
            for target in sorted(gated_targets(community), key=str):
                platform = self.cohort.platforms.get(target.platform)
                check = getattr(platform, "check_access_rights", None)
                if check is None:
                    continue
                try:
                    codes = await asyncio.wait_for(check(target.port()), PLATFORM_TIMEOUT)
                except (PlatformError, TimeoutError) as exc:
                    codes = [f"unreachable ({exc})"]
                where = f"{target.space_id}/{target.role_id}" if target.role_id else target.space_id
                problems += [(target.platform.value, where, code) for code in codes]
        return problems
