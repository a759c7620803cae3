"""Reconciliation (rule 11): Stripe, the database and the platforms compared and healed.

Stripe's subscriptions, its refunds of the last ``REPLAY_WINDOW`` and every dispute are read
and compared with what Cohort holds; what differs is applied as Stripe has it now, dated by
Stripe's clock at the read (so an older event that comes later changes nothing). Events Stripe
could not deliver are stored again. The report names each change, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import (
    AccessState,
    gated_targets,
    loaded_ids,
    lock_members,
    recompute_pairs,
    write_retrying,
)
from bot.cogs.gating._apply import Applier, differs
from bot.cogs.gating._fetch import FETCH_ROUNDS, Reads, read_all
from bot.cogs.gating._inbox import Inbox
from bot.cogs.gating._notices import PLATFORM_TIMEOUT
from bot.cogs.gating._outcomes import Defer, EventStatus, NeedFetch
from bot.cogs.gating._rules import SourceKind
from bot.cogs.gating._stripe import Gateway, StripeUnavailable
from bot.core.cohort import Cohort
from bot.core.ports import PlatformError
from bot.store.tables import access_sources, gating_access

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(days=30)  # Stripe keeps events this long; refunds are read as far


class FixKind(StrEnum):
    """What a reconciliation pass changed about one subscription or payment."""

    FOUND = "found"  # a subscription Cohort did not hold
    STATUS = "status"
    CANCELING = "canceling"  # now cancels at the end of its period
    RESUMED = "resumed"  # no longer cancels at the end of its period
    PERIOD = "period"  # its period moved
    REFUNDED = "refunded"
    DISPUTE = "dispute"


@dataclass(frozen=True, slots=True)
class Fix:
    """One change a pass made, to the subscription or payment ``ref``."""

    ref: str
    kind: FixKind
    before: str = ""
    after: str = ""


@dataclass(slots=True)
class Report:
    """What a reconciliation pass found and changed."""

    subscriptions: int = 0
    fixed: list[Fix] = field(default_factory=list)
    replayed: int = 0
    access_changes: int = 0  # access granted or taken away on the platforms by the pass
    retried: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # platform, space, code
    stripe_error: str | None = None

    @property
    def fixed_refs(self) -> int:
        """Return how many subscriptions and payments were changed."""
        return len({fix.ref for fix in self.fixed})


class Reconciler:
    """Runs reconciliation passes and the permissions preflight."""

    def __init__(
        self,
        cohort: Cohort,
        gateway: Gateway | None,
        applier: Applier,
        inbox: Inbox,
        kick: Callable[[], None],
    ) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.applier = applier
        self.inbox = inbox
        self.live = applier.live
        self.kick = kick  # wakes the worker for what the writes made due (calls, events, lapses)

    async def reconcile(self) -> Report:
        """Compare Stripe and the database, fix drift; mark platform calls to make again.

        The worker is woken once the writes are committed, as after any other write of the
        cog: what they made due runs then, not on its poll. A community the config no longer
        has is left as it is (``_orphans``).
        """
        report = Report()
        now = self.cohort.clock.now()
        try:
            if self.gateway is not None:
                try:
                    await self._reconcile_stripe(report, now)
                except StripeUnavailable as exc:
                    # Not an answer: nothing is taken away because Stripe could not be asked.
                    report.stripe_error = str(exc)
            await self._rearm(report, now)
        finally:
            self.kick()  # also after a failure: what was committed before it is due
        return report

    async def _rearm(self, report: Report, now: datetime) -> None:
        """Make failed and backing-off platform calls due, recompute every member's access.

        One transaction, tried again whole if it loses a race (``write_retrying``): it
        recomputes every member, so another process's transaction holding a few of them and
        waiting for one it holds can make PostgreSQL fail it. Only the run that committed is
        counted in ``report``.
        """
        loaded = loaded_ids(self.cohort)

        async def rearm(conn: AsyncConnection) -> int:
            retried = 0
            who = (
                await conn.execute(
                    select(access_sources.c.community_id, access_sources.c.member_id)
                    .where(access_sources.c.community_id.in_(loaded))
                    .distinct()
                )
            ).all()
            if conn.dialect.name == "postgresql":
                # The members first, in id order, as every recompute takes them: writing their
                # access rows first would wait for a member another process holds while it
                # waits for one of those rows (``tests/cogs/gating/test_access.py``).
                rows = select(gating_access.c.member_id).where(
                    gating_access.c.community_id.in_(loaded)
                )
                await lock_members(conn, {m for _, m in who} | set(await conn.scalars(rows)))
            # Parked failures: try again as if nothing had happened on the platform (a grant
            # from nothing; a revocation of what may still be there). Backing-off ones: now.
            for desired, state in ((True, AccessState.NONE), (False, AccessState.GRANTED)):
                parked = await conn.execute(
                    update(gating_access)
                    .where(
                        gating_access.c.community_id.in_(loaded),
                        gating_access.c.state == AccessState.FAILED.value,
                        gating_access.c.desired.is_(desired),
                    )
                    .values(state=state.value, next_attempt_at=now, attempts=0)
                )
                retried += int(parked.rowcount)
            waiting = await conn.execute(
                update(gating_access)
                .where(
                    gating_access.c.community_id.in_(loaded),
                    gating_access.c.next_attempt_at.is_not(None),
                    gating_access.c.attempts > 0,
                )
                .values(next_attempt_at=now, attempts=0)
            )
            retried += int(waiting.rowcount)
            await recompute_pairs(conn, self.cohort, [(c, m) for c, m in who], now)
            return retried

        report.retried += await write_retrying(self.cohort, "a reconciliation", rearm)

    async def _reconcile_stripe(self, report: Report, now: datetime) -> None:
        assert self.gateway is not None
        listing = await self.gateway.subscriptions()
        report.subscriptions = len(listing.items)
        for obj in listing.items:
            if self._ours(ev.EventType.SUBSCRIPTION_UPDATED, obj):
                report.fixed += await self._subscription(obj, listing.as_of, now)
        refunds = await self.gateway.refunds(now - REPLAY_WINDOW)
        charges: dict[str, dict[str, Any]] = {}
        for refund in refunds.items:
            charge = refund.get("charge")
            if refund.get("status") == "succeeded" and isinstance(charge, dict):
                charges.setdefault(str(charge.get("id")), charge)
        for charge in charges.values():
            if self._ours(ev.EventType.CHARGE_REFUNDED, charge) and ev.fully_refunded(charge):
                report.fixed += await self._settle(self._refund(charge, refunds.as_of, now))
        disputes = await self.gateway.disputes()
        for dispute in disputes.items:
            if self._ours(ev.EventType.DISPUTE_CLOSED, dispute):
                report.fixed += await self._settle(self._dispute(dispute, disputes.as_of, now))
        for event in await self.gateway.undelivered_events(now - REPLAY_WINDOW):
            if await self.inbox.store(event, json.dumps(event), now):
                report.replayed += 1

    def _ours(self, kind: ev.EventType, obj: dict[str, Any]) -> bool:
        """Say whether a listed object is of this mode and readable as ``kind`` shows it."""
        return bool(obj.get("livemode")) == self.live and ev.problem(kind, obj) is None

    async def _subscription(self, obj: dict[str, Any], as_of: int, now: datetime) -> list[Fix]:
        """Hold a subscription as Stripe listed it; return what that changed."""
        snap = ev.subscription(obj)
        async with self.cohort.db.write() as conn:
            before = await self.applier.source(conn, SourceKind.SUBSCRIPTION, snap.id)
            if before is not None and not differs(before, snap):
                return []
            try:
                outcome = await self.applier.on_subscription(
                    conn, obj, as_of, now, {}, read_at=as_of
                )
            except Defer:
                return []  # no member to place it with: its checkout will
            if outcome.status is not EventStatus.APPLIED:
                return []
        return describe(snap, before)

    def _refund(
        self, charge: dict[str, Any], as_of: int, now: datetime
    ) -> Callable[[AsyncConnection, Reads], Awaitable[list[Fix]]]:
        async def run(conn: AsyncConnection, fetched: Reads) -> list[Fix]:
            payments = self.applier.payments
            found = await payments.payment(conn, charge, fetched, now)
            if found is None or found[0].refunded:
                return []
            await payments.on_refund(conn, charge, as_of, now, fetched)
            return [Fix(found[0].payment_intent, FixKind.REFUNDED)]

        return run

    def _dispute(
        self, dispute: dict[str, Any], as_of: int, now: datetime
    ) -> Callable[[AsyncConnection, Reads], Awaitable[list[Fix]]]:
        async def run(conn: AsyncConnection, fetched: Reads) -> list[Fix]:
            payments = self.applier.payments
            found = await payments.payment(conn, dispute, fetched, now)
            status = str(dispute.get("status"))
            if found is None or _same_dispute(found[0], dispute):
                return []
            before = found[0].dispute_status or "-"
            await payments.on_dispute(conn, dispute, as_of, now, fetched)
            return [Fix(str(dispute["id"]), FixKind.DISPUTE, before, status)]

        return run

    async def _settle(
        self, run: Callable[[AsyncConnection, Reads], Awaitable[list[Fix]]]
    ) -> list[Fix]:
        """Run ``run`` in a write transaction, reading from Stripe what it asks for first."""
        fetched: Reads = {}
        for _round in range(FETCH_ROUNDS + 1):
            try:
                async with self.cohort.db.write() as conn:
                    return await run(conn, fetched)
            except NeedFetch as need:
                found, failed = await read_all(self.gateway, need.keys)
                if failed:
                    raise StripeUnavailable(next(iter(failed.values()))) from None
                fetched.update(found)
            except Defer:
                return []  # a payment of no subscription or Checkout Cohort knows
        return []

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


def describe(snap: ev.SubscriptionSnapshot, before: Row[Any] | None) -> list[Fix]:
    """Name what holding ``snap`` changed about a subscription held as ``before``."""
    if before is None:
        return [Fix(snap.id, FixKind.FOUND, after=snap.status)]
    fixes = []
    if before.status != snap.status:
        fixes.append(Fix(snap.id, FixKind.STATUS, before.status, snap.status))
    if bool(before.cancel_at_period_end) != snap.cancel_at_period_end:
        kind = FixKind.CANCELING if snap.cancel_at_period_end else FixKind.RESUMED
        fixes.append(Fix(snap.id, kind))
    if before.period_start != snap.period_start or before.period_end != snap.period_end:
        fixes.append(Fix(snap.id, FixKind.PERIOD, _day(before.period_end), _day(snap.period_end)))
    return fixes


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "-"


def _same_dispute(payment: Row[Any], dispute: dict[str, Any]) -> bool:
    return bool(
        payment.dispute_id == dispute.get("id") and payment.dispute_status == dispute.get("status")
    )
