"""The gating service: what other cogs and the commands ask, and the worker that runs it all.

``Gating`` is the real ``cohort.entitlements``. It wires the parts together and runs one
worker task that does the work in order: it applies the inbox in batches (``_inbox``, with
``_apply`` for the rules of one event), then makes the platform calls the ``gating_access``
rows ask for (``_queue``), then lets lapsed sources go. The webhook only verifies and stores;
a kick wakes the worker at once. The commands and listeners use its parts: ``billing``,
``grants``, ``members``, ``notices`` and ``reconcile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating._access import (
    community_by_id,
    loaded_community,
    loaded_ids,
    offers_held,
    recompute_pairs,
    write_retrying,
)
from bot.cogs.gating._apply import Applier
from bot.cogs.gating._billing import Billing
from bot.cogs.gating._grants import Grants, Holding
from bot.cogs.gating._inbox import Inbox, next_event
from bot.cogs.gating._members import Members
from bot.cogs.gating._notices import Notices
from bot.cogs.gating._orphans import Orphans
from bot.cogs.gating._queue import AccessQueue, next_call
from bot.cogs.gating._reconcile import Reconciler, Report
from bot.cogs.gating._stripe import BadSignature, Gateway, verify
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.config import OfferKind, StripeMode
from bot.core.supervise import Watch
from bot.core.versions import CacheName, VersionedCache
from bot.store.tables import access_sources, members

log = logging.getLogger(__name__)

POLL = 5.0  # seconds between passes when nothing kicks the worker
SOURCES_CACHED = 10_000  # members whose access sources are kept in memory

# A member's community (None: no such member) and access-source rows.
Sources = tuple[int | None, tuple[Row[tuple[object, ...]], ...]]


class Received(StrEnum):
    """What the webhook did with a verified delivery."""

    STORED = "stored"
    DUPLICATE = "duplicate"


class Gating:
    """Paid access: the real ``cohort.entitlements``, the webhook's inbox and its worker."""

    def __init__(self, cohort: Cohort, gateway: Gateway | None) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.live = cohort.config.stripe.mode is StripeMode.LIVE
        self.applier = Applier(cohort, self.live)
        self.notices = Notices(cohort, gateway, self.live)
        self.orphans = Orphans(cohort)  # rows of communities the config no longer has
        self.inbox = Inbox(cohort, gateway, self.applier, self.notices, self.orphans)
        self.queue = AccessQueue(cohort, self.notices)
        self.billing = Billing(cohort, gateway, self.live)
        self.grants = Grants(cohort, self.applier, self.kick)
        self.members = Members(cohort, self.kick)
        self.reconciler = Reconciler(cohort, gateway, self.applier, self.inbox, self.kick)
        self.applied_hooks: list[Callable[[str], Awaitable[None]]] = self.inbox.hooks
        self._kick = asyncio.Event()
        self._worker: Watch | None = None
        self._stopping = False
        self._pass = asyncio.Lock()
        self._looked: datetime | None = None  # when the last pass looked for lapses
        # A member's access sources, evaluated at each call's time (lapses need no invalidation).
        self._sources: VersionedCache[int, Sources] = VersionedCache(
            cohort.versions, (CacheName.PROFILE, CacheName.ACCESS), size=SOURCES_CACHED
        )

    # --- entitlements (what other cogs ask) -------------------------------------------------

    def community(self, community_id: int) -> Community:
        """Return a loaded community by its row id."""
        return community_by_id(self.cohort, community_id)

    async def offers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return the offers (tiers and courses) ``member_id`` holds at ``now``."""
        community_id, rows = await self._sources.get(
            member_id, lambda: self._read_sources(member_id)
        )
        community = loaded_community(self.cohort, community_id) if community_id else None
        if community is None:  # no such member, or a community the config no longer has
            return frozenset()
        return frozenset(offers_held(community, rows, now))

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return the tiers ``member_id`` holds at ``now`` (what Permission.TIER checks)."""
        community_id, rows = await self._sources.get(
            member_id, lambda: self._read_sources(member_id)
        )
        community = loaded_community(self.cohort, community_id) if community_id else None
        if community is None:
            return frozenset()
        return frozenset(
            o
            for o in offers_held(community, rows, now)
            if (offer := community.config.offer(o)) and offer.kind is OfferKind.TIER
        )

    async def _read_sources(self, member_id: int) -> Sources:
        """Read a member's community and access-source rows (what ``offers_of`` evaluates)."""
        async with self.cohort.db.read() as conn:
            community_id = await conn.scalar(
                select(members.c.community_id).where(members.c.id == member_id)
            )
            if community_id is None:
                return None, ()
            rows = (
                await conn.execute(
                    select(access_sources).where(
                        access_sources.c.community_id == community_id,
                        access_sources.c.member_id == member_id,
                    )
                )
            ).all()
        return int(community_id), tuple(rows)

    # --- the webhook ------------------------------------------------------------------------

    async def receive(self, payload: bytes, header: str | None) -> Received:
        """Verify a webhook delivery and store it in the inbox; raise BadSignature if forged."""
        secret = self.cohort.config.stripe.webhook_secret
        if not secret:
            raise BadSignature("no webhook secret is configured")
        now = self.cohort.clock.now()
        event = verify(
            payload,
            header,
            secret.reveal(),
            now=now,
            tolerance=self.cohort.config.stripe.webhook_tolerance,
        )
        stored = await self.store_event(event, payload.decode("utf-8"), now)
        self.kick()
        return Received.STORED if stored else Received.DUPLICATE

    async def store_event(self, event: dict[str, Any], body: str, now: datetime) -> bool:
        """Put one event in the inbox unless its id is there; return whether it was new."""
        return await self.inbox.store(event, body, now)

    # --- the worker -------------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the worker now."""
        self._kick.set()

    async def start(self) -> None:
        """Start the worker, supervised; its first pass drains what an earlier run left."""
        if self._worker is None:
            self._stopping = False
            self._worker = self.cohort.supervisor.run("gating.worker", self._loop)
            self._worker.details = self.orphans.details  # what waits for unknown communities

    async def stop(self) -> None:
        """Let the worker finish its pass, stop it and close the Stripe session."""
        self._stopping = True
        self._kick.set()
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        if self.gateway is not None:
            await self.gateway.close()

    @property
    def stopping(self) -> bool:
        """Tell whether the worker was asked to stop."""
        return self._stopping

    async def _loop(self) -> None:
        worker = self._worker
        while not self._stopping:
            self._kick.clear()
            try:
                await self.run_due()
            except Exception as exc:
                log.exception("gating: worker pass failed")
                if worker is not None:
                    worker.failed(exc)  # counted: max_failures failed passes in a row give up
            else:
                if worker is not None:
                    worker.ok()
            if self.stopping:  # asked while the pass ran
                break
            try:
                wait = await self.next_wait()
            except Exception:
                log.exception("gating: could not read the next lapse")
                wait = POLL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), wait)

    async def next_wait(self) -> float:
        """Return the seconds until the next lapse, platform call or event retry, at most ``POLL``.

        A lapse counts if it falls due after the last pass looked (``_looked``): one that came
        due while the pass ran, or on a wake-up a hair early, is due now (0). One the pass saw
        due and left (its write failed, say) is not counted, so that it neither spins the
        worker nor hides a later lapse behind the poll; the next pass looks at it again. A
        platform call is due at its ``next_attempt_at`` (a retry at its backoff,
        ``_queue.backoff``); an inbox event deferred or held back at its own (``next_event``).
        """
        loaded = loaded_ids(self.cohort)
        now = self.cohort.clock.now()
        lapsing: list[ColumnElement[bool]] = [
            access_sources.c.entitled.is_(True),
            access_sources.c.community_id.in_(loaded),
            access_sources.c.access_until.is_not(None),
        ]
        if self._looked is not None:
            lapsing.append(access_sources.c.access_until > self._looked)
        async with self.cohort.db.read() as conn:
            lapse = await conn.scalar(
                select(func.min(access_sources.c.access_until)).where(*lapsing)
            )
            call = await next_call(conn, loaded, now)
            event = await next_event(conn, loaded, self.inbox.looked)
        wait = POLL
        for when in (lapse, call, event):
            if isinstance(when, datetime):
                wait = min(wait, max(0.0, (when - now).total_seconds()))
        return wait

    async def run_due(self) -> int:
        """Apply due inbox events, make due platform calls, let lapsed sources go."""
        async with self._pass:
            return await self._run_due()

    async def _run_due(self) -> int:
        await self.orphans.rearm(self.cohort.clock.now())  # (the first pass of a process)
        done = await self._lapse_due()
        while True:
            # A batch of events, then the platform calls they asked for: under a backlog,
            # the first buyers get in while later events are still being applied.
            applied = await self.inbox.drain(max_batches=1)
            acted = await self.queue.run()
            done += applied + acted
            if not applied and not acted:
                await self.orphans.survey()  # the first pass, or one that met such rows
                return done

    async def _lapse_due(self) -> int:
        """Recompute members whose access lapses by itself now (period end, grace, grant end)."""
        now = self.cohort.clock.now()
        self._looked = now
        async with self.cohort.db.read() as conn:
            due = (
                await conn.execute(
                    select(access_sources.c.community_id, access_sources.c.member_id)
                    .where(
                        access_sources.c.community_id.in_(loaded_ids(self.cohort)),
                        access_sources.c.entitled.is_(True),
                        access_sources.c.access_until.is_not(None),
                        access_sources.c.access_until <= now,
                    )
                    .distinct()
                )
            ).all()
        if not due:
            return 0
        pairs = [(r.community_id, r.member_id) for r in due]

        async def lapse(conn: AsyncConnection) -> int:
            return await recompute_pairs(conn, self.cohort, pairs, now)

        await write_retrying(self.cohort, "the lapse pass", lapse)
        return len(due)

    # --- reconciliation ----------------------------------------------------------------------

    async def reconcile(self) -> Report:
        """Compare Stripe, the database and the platforms; fix drift and report it.

        The platform calls the fixes ask for are made before it returns, in a pass of the
        worker's own; the report counts the access that pass gave or took away.
        """
        report = await self.reconciler.reconcile()
        report.problems = await self.reconciler.preflight()
        async with self._pass:
            before = self.queue.changed
            await self._run_due()
            report.access_changes = self.queue.changed - before
        return report


__all__ = ["BadSignature", "Gating", "Holding", "Received", "Report"]
