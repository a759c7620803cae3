"""The gating service: the webhook inbox, applying events, the access queue, reconciliation.

One worker task does the work in order: it drains the inbox (each event in one write
transaction), then makes the platform calls the ``gating_access`` rows ask for, then lets
lapsed sources go. The webhook only verifies and stores; a kick wakes the worker at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import (
    HOLDING,
    AccessState,
    Target,
    gated_targets,
    grace_of,
    held_offers,
    recompute,
    recompute_many,
    state_of,
    targets_of,
)
from bot.cogs.gating._rules import (
    ManualStatus,
    PaymentStatus,
    SourceKind,
    SourceState,
    entitled,
)
from bot.cogs.gating._stripe import (
    BadSignature,
    CheckoutLink,
    StripeGateway,
    StripeUnavailable,
    verify,
)
from bot.cogs.points import Reason, award_in
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.community import Community
from bot.core.config import OfferConfig, OfferKind, StripeMode
from bot.core.errors import UserError
from bot.core.i18n import normalize_locale
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, PlatformError, PlatformErrorReason
from bot.core.replies import Button, Reply
from bot.store.batch import GroupCommit
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    access_sources,
    accounts,
    checkout_refs,
    gating_access,
    gating_audit,
    members,
    purchases,
    stripe_customers,
    stripe_events,
    stripe_payments,
)

log = logging.getLogger(__name__)

POLL = 5.0  # seconds between passes when nothing kicks the worker
BATCH = 200
# A batch of events holds the write lock at most about this long (the webhook waits for it).
BATCH_SECONDS = 0.2
ACCESS_BATCH = 50  # access rows read at a time; their results are written together
FETCH_CONCURRENCY = 8  # subscriptions read from Stripe at once after a batch
EVENT_ATTEMPTS = 16  # an event that still cannot be applied after this many tries is failed
# An event that came before what it refers to usually waits milliseconds for it.
EVENT_RETRY_FIRST = 0.25
ALERT_AFTER = 5  # transient platform failures before the admin channel hears of it
MAX_BACKOFF = timedelta(hours=1)
PLATFORM_TIMEOUT = 30.0
REPLAY_WINDOW = timedelta(days=30)
# A reconciliation snapshot is taken to be at least this fresh, to allow for clock skew.
RECONCILE_SKEW = 60
PERMANENT = frozenset(
    {PlatformErrorReason.FORBIDDEN, PlatformErrorReason.INVALID, PlatformErrorReason.UNSUPPORTED}
)


# Within a second, the events that make what others refer to come first.
_FIRST = {
    **dict.fromkeys(ev.SUBSCRIPTION_EVENTS, 0),
    ev.EventType.CHECKOUT_COMPLETED: 1,
    ev.EventType.CHECKOUT_ASYNC_SUCCEEDED: 2,
    ev.EventType.CHECKOUT_ASYNC_FAILED: 2,
    ev.EventType.INVOICE_PAID: 2,
}
_IN_SCOPE = bindparam("b_communities", expanding=True)
_SOURCE = select(access_sources).where(
    access_sources.c.community_id.in_(_IN_SCOPE),
    access_sources.c.kind == bindparam("b_kind"),
    access_sources.c.ref == bindparam("b_ref"),
)
_PAYMENT = select(stripe_payments).where(
    stripe_payments.c.community_id.in_(_IN_SCOPE),
    stripe_payments.c.payment_intent == bindparam("b_intent"),
)
_CUSTOMER = select(stripe_customers).where(
    stripe_customers.c.community_id.in_(_IN_SCOPE),
    stripe_customers.c.customer_id == bindparam("b_customer"),
)
_MARK_DONE = (
    update(stripe_events)
    .where(stripe_events.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        community_id=bindparam("b_community"),
        last_error=bindparam("b_error"),
        attempts=bindparam("b_attempts"),
        processed_at=bindparam("b_at"),
    )
)
_MARK_RETRY = (
    update(stripe_events)
    .where(stripe_events.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
    )
)


class EventStatus(StrEnum):
    """Where an inbox event stands."""

    PENDING = "pending"
    APPLIED = "applied"
    IGNORED = "ignored"
    FAILED = "failed"


class Received(StrEnum):
    """What the webhook did with a verified delivery."""

    STORED = "stored"
    DUPLICATE = "duplicate"


class Audit(StrEnum):
    """What an audit row records."""

    PURCHASE = "purchase"
    REFUND = "refund"
    DISPUTE = "dispute"
    GRANT = "grant"
    REVOKE = "revoke"
    PAYMENT_FAILED = "payment_failed"


class NoticeKind(StrEnum):
    """Direct messages the worker sends after an event is committed."""

    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"


class Defer(Exception):
    """The event refers to something not known yet (it came early): try it again later."""

    def __init__(self, message: str, waits_for: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.waits_for = waits_for  # what it needs, when the worker can tell it comes


class _NeedFetch(Exception):
    """The event alone cannot settle a subscription's state: read it from Stripe first."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(subscription_id)
        self.subscription_id = subscription_id


@dataclass(slots=True)
class _Outcome:
    status: EventStatus = EventStatus.APPLIED
    note: str | None = None
    community_id: int | None = None
    members: set[int] = field(default_factory=set)
    notices: list[tuple[NoticeKind, int, str]] = field(default_factory=list)  # kind, member, offer


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


@dataclass(frozen=True, slots=True)
class Holding:
    """One source of one offer for /membership and /members."""

    member_id: int
    offer_id: str
    kind: SourceKind
    state: SourceState
    entitled: bool
    until: datetime | None
    actor_id: int | None


class Gating:
    """Paid access: the real ``cohort.entitlements``, the webhook's inbox and its worker."""

    def __init__(self, cohort: Cohort, gateway: StripeGateway | None) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.live = cohort.config.stripe.mode is StripeMode.LIVE
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pass = asyncio.Lock()
        self._inbox = GroupCommit(cohort.db, stripe_events, ("event_id",))
        self.applied_hooks: list[Callable[[str], Awaitable[None]]] = []
        # Deferred events by what they wait for, and what the transactions made since the
        # last batch settled: hints that wake a waiting event at once instead of after its
        # backoff (a restart forgets them, and the backoff still holds).
        self._waiting: dict[tuple[str, str], set[int]] = {}
        self._made: set[tuple[str, str]] = set()

    # --- entitlements (what other cogs ask) -------------------------------------------------

    def community(self, community_id: int) -> Community:
        """Return a loaded community by its row id."""
        for community in self.cohort.communities.values():
            if community.id == community_id:
                return community
        raise LookupError(f"community {community_id} is not loaded")

    async def offers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return the offers (tiers and courses) ``member_id`` holds at ``now``."""
        async with self.cohort.db.read() as conn:
            community_id = await conn.scalar(
                select(members.c.community_id).where(members.c.id == member_id)
            )
            if community_id is None:
                return frozenset()
            return frozenset(await held_offers(conn, self.community(community_id), member_id, now))

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return the tiers ``member_id`` holds at ``now`` (what Permission.TIER checks)."""
        held = await self.offers_of(member_id, now)
        async with self.cohort.db.read() as conn:
            community_id = await conn.scalar(
                select(members.c.community_id).where(members.c.id == member_id)
            )
        if community_id is None:
            return frozenset()
        community = self.community(community_id)
        return frozenset(
            o for o in held if (offer := community.config.offer(o)) and offer.kind is OfferKind.TIER
        )

    async def holdings(self, community: Community, member_id: int) -> list[Holding]:
        """Return every source of a member, newest first."""
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            rows = (
                await conn.execute(
                    select(access_sources)
                    .where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.member_id == member_id,
                    )
                    .order_by(access_sources.c.updated_at.desc(), access_sources.c.id.desc())
                )
            ).all()
        return [self._holding(community, row, now) for row in rows]

    def _holding(self, community: Community, row: Row[Any], now: datetime) -> Holding:
        state = state_of(row)
        grace = grace_of(community, row.offer_id)
        is_in = community.config.offer(row.offer_id) is not None and entitled(state, grace, now)
        until = row.period_end if state.kind is SourceKind.SUBSCRIPTION else state.ends_at
        return Holding(row.member_id, row.offer_id, state.kind, state, is_in, until, row.actor_id)

    async def holders(
        self, community: Community, offer_id: str, *, page: int, size: int
    ) -> tuple[list[Holding], bool]:
        """Return one page of the sources that give ``offer_id`` now, and whether more follow."""
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            rows = (
                await conn.execute(
                    select(access_sources)
                    .where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.offer_id == offer_id,
                        access_sources.c.entitled.is_(True),
                    )
                    .order_by(access_sources.c.member_id, access_sources.c.id)
                )
            ).all()
        live = [h for row in rows if (h := self._holding(community, row, now)).entitled]
        chunk = live[page * size : (page + 1) * size]
        return chunk, len(live) > (page + 1) * size

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
        """Put one event in the inbox unless its id is there; return whether it was new.

        Deliveries that arrive together share one transaction (group commit); each caller
        returns only once its row is committed, so a 2xx always follows a durable write.
        """
        return await self._inbox.insert(
            {
                "community_id": None,
                "event_id": event["id"],
                "type": event["type"][:100],
                "livemode": bool(event.get("livemode")),
                "created": int(event["created"]),
                "payload": body,
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": None,
                "last_error": None,
                "received_at": now,
                "processed_at": None,
            }
        )

    # --- the worker -------------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the worker now."""
        self._kick.set()

    async def start(self) -> None:
        """Start the worker; its first pass drains what an earlier run left in the inbox."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="gating-worker")

    async def stop(self) -> None:
        """Let the worker finish its pass, stop it and close the Stripe session."""
        self._stopping = True
        self._kick.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.gateway is not None:
            await self.gateway.close()

    async def _loop(self) -> None:
        while not self._stopping:
            self._kick.clear()
            try:
                await self.run_due()
            except Exception:
                log.exception("gating: worker pass failed")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), POLL)

    async def run_due(self) -> int:
        """Apply due inbox events, make due platform calls, let lapsed sources go."""
        async with self._pass:
            done = await self._lapse_due()
            while True:
                # A batch of events, then the platform calls they asked for: under a backlog,
                # the first buyers get in while later events are still being applied.
                applied = await self._drain_inbox(max_batches=1)
                acted = await self._run_access()
                done += applied + acted
                if not applied and not acted:
                    return done

    async def _drain_inbox(self, *, max_batches: int | None = None) -> int:
        count = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            now = self.cohort.clock.now()
            async with self.cohort.db.read() as conn:
                due = (
                    await conn.execute(
                        select(stripe_events)
                        .where(
                            stripe_events.c.status == EventStatus.PENDING.value,
                            or_(
                                stripe_events.c.next_attempt_at.is_(None),
                                stripe_events.c.next_attempt_at <= now,
                            ),
                        )
                        .order_by(stripe_events.c.id)
                        .limit(BATCH)
                    )
                ).all()
            if not due:
                return count
            count += await self._apply_batch(due)
        return count

    async def _apply_batch(
        self, due: Sequence[Row[Any]], fetched: dict[str, dict[str, Any]] | None = None
    ) -> int:
        """Apply due events in one write transaction; return how many were taken.

        ``Defer`` and ``_NeedFetch`` are raised before an event writes anything, so the batch
        goes on past them: a deferred event is tried once more at the end of the batch (what
        it waits for may have come in it) and otherwise marked for a retry in the same
        transaction. The subscriptions that events need from Stripe are read after the commit,
        so that no HTTP call is made while the write lock is held, and those events follow in
        a batch of their own. Any other error rolls the whole batch back and its events are
        applied again one transaction each, where an error costs only its own event. Notices,
        hooks and platform calls follow the commit.
        """
        applied: list[tuple[Row[Any], _Outcome]] = []
        fetch: list[tuple[Row[Any], str]] = []
        known = fetched or {}
        taken = 0
        # In the order Stripe made them (the outcome does not depend on it, rule 2), so that
        # what an event refers to usually comes first: fewer deferrals and Stripe reads.
        due = sorted(due, key=lambda r: (r.created, _FIRST.get(r.type, 9), r.id))
        try:
            async with self.cohort.db.write() as conn:
                started = time.monotonic()
                deferred: list[tuple[Row[Any], dict[str, Any], Defer]] = []
                for row in due:
                    if applied and time.monotonic() - started > BATCH_SECONDS:
                        break
                    taken += 1
                    event = json.loads(row.payload)
                    try:
                        applied.append((row, await self._apply(conn, event, self._now(), known)))
                    except _NeedFetch as need:
                        if fetched is not None:  # read already: the event asks for another one
                            deferred.append((row, event, Defer(f"needs {need.subscription_id}")))
                        else:
                            fetch.append((row, need.subscription_id))
                    except Defer as exc:
                        deferred.append((row, event, exc))
                retry: list[tuple[Row[Any], Defer]] = []
                for row, event, exc in deferred:
                    if exc.waits_for is None or exc.waits_for not in self._made:
                        retry.append((row, exc))
                        continue
                    try:  # what it waits for came later in this batch
                        applied.append((row, await self._apply(conn, event, self._now(), known)))
                    except (Defer, _NeedFetch):
                        retry.append((row, exc))
                await self._settle_events(conn, applied, retry)
        except Exception:
            log.exception("gating: a batch of %s events failed; applying them one by one", taken)
            for row in due[:taken]:
                await self._apply_row(row)
            return taken
        for row, outcome in applied:
            await self._after(row, outcome)
        if fetch:
            await self._apply_fetched(fetch)
        return taken

    async def _apply_fetched(self, fetch: list[tuple[Row[Any], str]]) -> None:
        """Read from Stripe the subscriptions events asked for, then apply those events."""
        found: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        gateway = self.gateway
        if gateway is None:
            failed = dict.fromkeys(
                (s for _, s in fetch), "needs Stripe to settle the subscription, and no key is set"
            )
        else:
            limit = asyncio.Semaphore(FETCH_CONCURRENCY)

            async def read(subscription_id: str) -> None:
                async with limit:
                    try:
                        found[subscription_id] = await gateway.subscription(subscription_id)
                    except StripeUnavailable as exc:
                        failed[subscription_id] = str(exc)

            await asyncio.gather(*(read(s) for s in dict.fromkeys(s for _, s in fetch)))
        ready = [row for row, s in fetch if s in found]
        if ready:
            await self._apply_batch(ready, found)
        if failed:
            now = self._now()
            async with self.cohort.db.write() as conn:
                await conn.execute(
                    _MARK_RETRY,
                    [self._retry_values(row, failed[s], now) for row, s in fetch if s in failed],
                )

    def _now(self) -> datetime:
        return self.cohort.clock.now()

    async def _settle_events(
        self,
        conn: AsyncConnection,
        applied: list[tuple[Row[Any], _Outcome]],
        retry: list[tuple[Row[Any], Defer]],
    ) -> None:
        """Record what came of a batch's events, recompute the members they touched, and wake
        the events of earlier batches that wait for what this one made."""
        now = self._now()
        woken: set[int] = set()
        for key in self._made:
            woken |= self._waiting.pop(key, set())
        self._made.clear()
        for row, exc in retry:
            if exc.waits_for is not None:
                self._waiting.setdefault(exc.waits_for, set()).add(row.id)
        if woken:
            await conn.execute(
                update(stripe_events)
                .where(
                    stripe_events.c.id.in_(sorted(woken)),
                    stripe_events.c.status == EventStatus.PENDING.value,
                )
                .values(next_attempt_at=now)
            )
        touched: dict[int, set[int]] = {}
        done = []
        for row, outcome in applied:
            done.append(
                {
                    "b_id": row.id,
                    "b_status": outcome.status.value,
                    "b_community": outcome.community_id,
                    "b_error": outcome.note,
                    "b_attempts": row.attempts + 1,
                    "b_at": now,
                }
            )
            if outcome.community_id is not None:
                touched.setdefault(outcome.community_id, set()).update(outcome.members)
        if done:
            await conn.execute(_MARK_DONE, done)
        if retry:
            await conn.execute(
                _MARK_RETRY, [self._retry_values(r, f"deferred: {e}", now) for r, e in retry]
            )
        for community_id, member_ids in touched.items():
            await recompute_many(conn, self.community(community_id), member_ids, now)

    async def _after(self, row: Row[Any], outcome: _Outcome) -> None:
        """Send what an applied event asked for, once it is committed."""
        await self._notify(outcome)
        for hook in self.applied_hooks:
            await hook(row.event_id)

    async def _apply_row(self, row: Row[Any]) -> None:
        now = self.cohort.clock.now()
        event = json.loads(row.payload)
        fetched: dict[str, dict[str, Any]] = {}
        outcome: _Outcome | None = None
        error: str | None = None
        for _attempt in range(2):
            try:
                async with self.cohort.db.write() as conn:
                    outcome = await self._apply(conn, event, now, fetched)
                    await self._settle_events(conn, [(row, outcome)], [])
                break
            except _NeedFetch as need:
                if self.gateway is None:
                    error = "needs Stripe to settle the subscription, and no key is set"
                    break
                try:
                    fetched[need.subscription_id] = await self.gateway.subscription(
                        need.subscription_id
                    )
                except StripeUnavailable as exc:
                    error = str(exc)
                    break
            except Defer as exc:
                error = f"deferred: {exc}"
                if exc.waits_for is not None:
                    self._waiting.setdefault(exc.waits_for, set()).add(row.id)
                break
            except Exception as exc:
                log.exception("gating: event %s (%s) failed", row.event_id, row.type)
                error = f"{type(exc).__name__}: {exc}"[:500]
                break
        if outcome is None:
            retry = self._retry_values(row, error or "not applied", now)
            async with self.cohort.db.write() as conn:
                await conn.execute(_MARK_RETRY, retry)
            return
        await self._after(row, outcome)

    def _retry_values(self, row: Row[Any], error: str, now: datetime) -> dict[str, Any]:
        """Return the parameters of ``_MARK_RETRY`` for an event that could not be applied."""
        attempts = row.attempts + 1
        give_up = attempts >= EVENT_ATTEMPTS
        if give_up:
            log.error("gating: event %s (%s) given up: %s", row.event_id, row.type, error)
        return {
            "b_id": row.id,
            "b_status": (EventStatus.FAILED if give_up else EventStatus.PENDING).value,
            "b_attempts": attempts,
            "b_next": now + _backoff(attempts, first=EVENT_RETRY_FIRST),
            "b_error": error[:500],
        }

    # --- applying one event -----------------------------------------------------------------

    async def _apply(
        self,
        conn: AsyncConnection,
        event: dict[str, Any],
        now: datetime,
        fetched: dict[str, dict[str, Any]],
    ) -> _Outcome:
        if bool(event.get("livemode")) != self.live:
            return _Outcome(EventStatus.IGNORED, "other mode")
        try:
            kind = ev.EventType(event["type"])
        except ValueError:
            return _Outcome(EventStatus.IGNORED, "unhandled type")
        obj = event["data"]["object"]
        created = int(event["created"])
        if kind in ev.SUBSCRIPTION_EVENTS:
            return await self._on_subscription(conn, obj, created, now, fetched)
        if kind is ev.EventType.SUBSCRIPTION_TRIAL_WILL_END:
            return await self._on_trial_ending(conn, obj)
        if kind in (
            ev.EventType.CHECKOUT_COMPLETED,
            ev.EventType.CHECKOUT_ASYNC_SUCCEEDED,
            ev.EventType.CHECKOUT_ASYNC_FAILED,
        ):
            return await self._on_checkout(conn, kind, obj, created, now, fetched)
        if kind is ev.EventType.INVOICE_PAID:
            return await self._on_invoice_paid(conn, obj, created, now, fetched)
        if kind is ev.EventType.INVOICE_PAYMENT_FAILED:
            return await self._on_invoice_failed(conn, obj, now)
        if kind is ev.EventType.CHARGE_REFUNDED:
            return await self._on_refund(conn, obj, created, now)
        return await self._on_dispute(conn, obj, created, now)

    async def _owner(
        self, conn: AsyncConnection, ref: str | None, customer_id: str | None
    ) -> tuple[int, int, str | None, int | None] | None:
        """Return (community, member, offer asked for, account) from our ref or the customer."""
        if ref:
            row = (
                await conn.execute(select(checkout_refs).where(checkout_refs.c.ref == ref))
            ).first()
            if row is not None:
                return row.community_id, row.member_id, row.offer_id, row.account_id
        if customer_id:
            found = await conn.execute(
                _CUSTOMER, {"b_communities": self._scope(), "b_customer": customer_id}
            )
            row = found.first()
            if row is not None:
                return row.community_id, row.member_id, None, None
        return None

    async def _remember_customer(
        self,
        conn: AsyncConnection,
        community_id: int,
        member_id: int,
        customer_id: str | None,
        now: datetime,
    ) -> None:
        if not customer_id:
            return
        await insert_ignore_returning(
            conn,
            stripe_customers,
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "customer_id": customer_id,
                    "livemode": self.live,
                    "created_at": now,
                }
            ],
            keys=("community_id", "customer_id"),
        )

    def _scope(self) -> list[int]:
        """Return the loaded communities' ids (the lead column of the natural-key indexes)."""
        return [community.id for community in self.cohort.communities.values()]

    async def _source(self, conn: AsyncConnection, kind: SourceKind, ref: str) -> Row[Any] | None:
        found = await conn.execute(
            _SOURCE, {"b_communities": self._scope(), "b_kind": kind.value, "b_ref": ref}
        )
        return found.first()

    async def _put_source(
        self,
        conn: AsyncConnection,
        *,
        community_id: int,
        member_id: int,
        kind: SourceKind,
        ref: str,
        now: datetime,
        existing: Row[Any] | None,
        **values: Any,
    ) -> int:
        """Create or update the source ``(kind, ref)`` (``existing``, as read); return its id."""
        if existing is None:
            row = {
                "community_id": community_id,
                "member_id": member_id,
                "kind": kind.value,
                "ref": ref,
                "livemode": None if kind is SourceKind.MANUAL else self.live,
                "cancel_at_period_end": False,
                "refunded": False,
                "disputed": False,
                "version": 0,
                "entitled": False,
                "created_at": now,
                "updated_at": now,
                **values,
            }
            result = await conn.execute(access_sources.insert().values(**row))
            if kind is SourceKind.SUBSCRIPTION:
                self._made.add(_subscription_key(ref))
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        await conn.execute(
            update(access_sources)
            .where(access_sources.c.id == existing.id)
            .values(updated_at=now, **values)
        )
        return int(existing.id)

    async def _on_subscription(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: dict[str, dict[str, Any]],
        *,
        reconciling: bool = False,
    ) -> _Outcome:
        snap = ev.subscription(obj)
        if snap.id in fetched:
            snap = ev.subscription(fetched[snap.id])
            reconciling = True  # Stripe's state now: newer than any event so far
        existing = await self._source(conn, SourceKind.SUBSCRIPTION, snap.id)
        if existing is not None:
            community_id, member_id = existing.community_id, existing.member_id
            if not reconciling:
                if created < existing.version:
                    return _Outcome(EventStatus.IGNORED, "stale", community_id)
                if created == existing.version and _differs(existing, snap):
                    raise _NeedFetch(snap.id)  # two states stamped the same second
        else:
            owner = await self._owner(conn, snap.ref, snap.customer_id)
            if owner is None:
                return _Outcome(EventStatus.IGNORED, "not ours")
            community_id, member_id = owner[0], owner[1]
        community = self.community(community_id)
        offer = community.config.offer_for_price(snap.price_id or "")
        if offer is None and existing is not None:
            offer = community.config.offer(existing.offer_id)
        if offer is None:
            return _Outcome(EventStatus.IGNORED, "price of no offer", community_id)
        version = max(created, existing.version if existing is not None else 0)
        await self._put_source(
            conn,
            community_id=community_id,
            member_id=member_id,
            kind=SourceKind.SUBSCRIPTION,
            ref=snap.id,
            now=now,
            offer_id=offer.id,
            customer_id=snap.customer_id,
            status=snap.status,
            cancel_at_period_end=snap.cancel_at_period_end,
            period_start=snap.period_start,
            period_end=snap.period_end,
            version=version,
            existing=existing,
        )
        if existing is None or existing.customer_id != snap.customer_id:
            # (A source's customer was remembered in the transaction that stored it.)
            await self._remember_customer(conn, community_id, member_id, snap.customer_id, now)
        return _Outcome(community_id=community_id, members={member_id})

    async def _on_trial_ending(self, conn: AsyncConnection, obj: dict[str, Any]) -> _Outcome:
        existing_id = str(obj.get("id"))
        existing = await self._source(conn, SourceKind.SUBSCRIPTION, existing_id)
        if existing is None:
            raise Defer("trial ending of an unknown subscription", _subscription_key(existing_id))
        return _Outcome(
            community_id=existing.community_id,
            notices=[(NoticeKind.TRIAL_ENDING, existing.member_id, existing.offer_id)],
        )

    async def _on_checkout(
        self,
        conn: AsyncConnection,
        kind: ev.EventType,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: dict[str, dict[str, Any]],
    ) -> _Outcome:
        ref = obj.get("client_reference_id") or ev.metadata(obj).get(ev.REF_KEY)
        asked = (
            await conn.execute(select(checkout_refs).where(checkout_refs.c.ref == str(ref)))
        ).first()
        if asked is None:
            return _Outcome(EventStatus.IGNORED, "not ours")
        community_id, member_id = asked.community_id, asked.member_id
        subscription_id = ev._id(obj.get("subscription"))
        unknown = (
            obj.get("mode") == "subscription"
            and subscription_id is not None
            and await self._source(conn, SourceKind.SUBSCRIPTION, subscription_id) is None
        )
        if unknown and subscription_id not in fetched:
            raise _NeedFetch(str(subscription_id))  # grant now, not when its event comes
        customer_id = ev.customer_of(obj)
        await self._remember_customer(conn, community_id, member_id, customer_id, now)
        if asked.session_id != str(obj.get("id")):  # /join stored it, unless Stripe was slow
            await conn.execute(
                update(checkout_refs)
                .where(checkout_refs.c.id == asked.id)
                .values(session_id=str(obj.get("id")))
            )
        outcome = _Outcome(community_id=community_id, members={member_id})
        if obj.get("mode") == "subscription":
            if unknown:
                await self._on_subscription(
                    conn, fetched[str(subscription_id)], created, now, fetched, reconciling=True
                )
            return outcome
        if kind is ev.EventType.CHECKOUT_ASYNC_FAILED:
            status = PaymentStatus.FAILED
        elif kind is ev.EventType.CHECKOUT_ASYNC_SUCCEEDED or obj.get("payment_status") in (
            "paid",
            "no_payment_required",
        ):
            status = PaymentStatus.PAID
        else:
            status = PaymentStatus.PROCESSING
        session_id = str(obj["id"])
        existing = await self._source(conn, SourceKind.PAYMENT, session_id)
        if existing is not None and existing.status != PaymentStatus.PROCESSING:
            status = PaymentStatus(existing.status)  # settled states never go back
        source_id = await self._put_source(
            conn,
            community_id=community_id,
            member_id=member_id,
            kind=SourceKind.PAYMENT,
            ref=session_id,
            now=now,
            offer_id=asked.offer_id,
            customer_id=customer_id,
            status=status.value,
            version=max(created, existing.version if existing is not None else 0),
            existing=existing,
        )
        if status is PaymentStatus.PAID:
            await self._record_purchase(
                conn,
                community_id=community_id,
                member_id=member_id,
                offer_id=asked.offer_id,
                purchase_ref=session_id,
                amount=obj.get("amount_total"),
                currency=obj.get("currency"),
                paid=created,
                source_id=source_id,
                intents=[p for p in [ev.payment_intent_of(obj)] if p],
                refunded=bool(existing is not None and existing.refunded),
                now=now,
            )
        return outcome

    async def _record_purchase(
        self,
        conn: AsyncConnection,
        *,
        community_id: int,
        member_id: int,
        offer_id: str,
        purchase_ref: str,
        amount: object,
        currency: object,
        paid: int,
        source_id: int,
        intents: list[str],
        refunded: bool,
        now: datetime,
    ) -> None:
        """Write the purchase, its payments, its audit row and its points, each exactly once.

        ``refunded`` is the source's refund flag as read. A new payment is neither refunded
        nor disputed, so it can change the source's flags only by clearing a refund that an
        older payment carried: only then are the flags read again.
        """
        community = self.community(community_id)
        purchased_at = ev.when(paid) or now
        added = await insert_ignore_returning(
            conn,
            purchases,
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "offer_id": offer_id,
                    "source": "stripe",
                    "source_ref": purchase_ref,
                    "amount_minor": amount if isinstance(amount, int) else None,
                    "currency": str(currency).lower()[:3] if currency else None,
                    "purchased_at": purchased_at,
                }
            ],
            keys=("community_id", "source", "source_ref"),
        )
        for intent in intents:
            self._made.add(_payment_key(intent))
            await insert_ignore_returning(
                conn,
                stripe_payments,
                [
                    {
                        "community_id": community_id,
                        "payment_intent": intent,
                        "source_id": source_id,
                        "purchase_ref": purchase_ref,
                        "paid_at": paid,
                        "refunded": False,
                    }
                ],
                keys=("community_id", "payment_intent"),
            )
        if not added:
            return
        await self._audit(
            conn, community_id, member_id, Audit.PURCHASE, offer_id, purchase_ref, now
        )
        reward = community.config.points.purchase
        if reward:
            await award_in(
                conn,
                community,
                member_id,
                reward,
                Reason.PURCHASE,
                f"stripe:{purchase_ref}",
                at=now,
                note=offer_id,
            )
        if refunded:
            await self._refresh_flags(conn, source_id)

    async def _audit(
        self,
        conn: AsyncConnection,
        community_id: int,
        member_id: int,
        action: Audit,
        offer_id: str,
        ref: str,
        now: datetime,
        *,
        actor_id: int | None = None,
        detail: str | None = None,
    ) -> bool:
        added = await insert_ignore_returning(
            conn,
            gating_audit,
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "actor_id": actor_id,
                    "action": action.value,
                    "offer_id": offer_id,
                    "ref": ref,
                    "detail": detail[:500] if detail else None,
                    "created_at": now,
                }
            ],
            keys=("community_id", "action", "ref"),
        )
        return bool(added)

    async def _on_invoice_paid(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: dict[str, dict[str, Any]],
    ) -> _Outcome:
        subscription_id = ev.invoice_subscription(obj)
        if not subscription_id:
            return _Outcome(EventStatus.IGNORED, "not a subscription invoice")
        source = await self._source(conn, SourceKind.SUBSCRIPTION, subscription_id)
        if source is None:
            if subscription_id not in fetched:
                raise _NeedFetch(subscription_id)
            outcome = await self._on_subscription(
                conn, fetched[subscription_id], created, now, fetched, reconciling=True
            )
            if outcome.status is not EventStatus.APPLIED:
                return outcome
            source = await self._source(conn, SourceKind.SUBSCRIPTION, subscription_id)
            assert source is not None
        amount = obj.get("amount_paid")
        if isinstance(amount, int) and amount > 0:
            await self._record_purchase(
                conn,
                community_id=source.community_id,
                member_id=source.member_id,
                offer_id=source.offer_id,
                purchase_ref=str(obj["id"]),
                amount=amount,
                currency=obj.get("currency"),
                paid=created,
                source_id=source.id,
                intents=ev.invoice_payment_intents(obj),
                refunded=bool(source.refunded),
                now=now,
            )
        return _Outcome(community_id=source.community_id, members={source.member_id})

    async def _on_invoice_failed(
        self, conn: AsyncConnection, obj: dict[str, Any], now: datetime
    ) -> _Outcome:
        subscription_id = ev.invoice_subscription(obj)
        source = (
            await self._source(conn, SourceKind.SUBSCRIPTION, subscription_id)
            if subscription_id
            else None
        )
        if source is None:
            raise Defer(
                "failed invoice of an unknown subscription",
                _subscription_key(subscription_id) if subscription_id else None,
            )
        await self._audit(
            conn,
            source.community_id,
            source.member_id,
            Audit.PAYMENT_FAILED,
            source.offer_id,
            str(obj.get("id")),
            now,
        )
        return _Outcome(
            community_id=source.community_id,
            members={source.member_id},
            notices=[(NoticeKind.PAYMENT_FAILED, source.member_id, source.offer_id)],
        )

    async def _payment(self, conn: AsyncConnection, intent: str | None) -> Row[Any]:
        row = None
        if intent:
            found = await conn.execute(
                _PAYMENT, {"b_communities": self._scope(), "b_intent": intent}
            )
            row = found.first()
        if row is None:
            raise Defer(
                f"payment {intent} is not known yet", _payment_key(intent) if intent else None
            )
        return row

    async def _on_refund(
        self, conn: AsyncConnection, obj: dict[str, Any], created: int, now: datetime
    ) -> _Outcome:
        payment = await self._payment(conn, ev.payment_intent_of(obj))
        source = (
            await conn.execute(
                select(access_sources).where(access_sources.c.id == payment.source_id)
            )
        ).one()
        outcome = _Outcome(community_id=source.community_id, members={source.member_id})
        if not ev.fully_refunded(obj) or payment.refunded:
            return outcome
        await conn.execute(
            update(stripe_payments).where(stripe_payments.c.id == payment.id).values(refunded=True)
        )
        refunded_at = ev.when(created) or now
        await conn.execute(
            update(purchases)
            .where(
                purchases.c.community_id == source.community_id,
                purchases.c.source == "stripe",
                purchases.c.source_ref == payment.purchase_ref,
                purchases.c.refunded_at.is_(None),
            )
            .values(refunded_at=refunded_at)
        )
        community = self.community(source.community_id)
        if (
            await self._audit(
                conn,
                source.community_id,
                source.member_id,
                Audit.REFUND,
                source.offer_id,
                payment.purchase_ref,
                now,
            )
            and community.config.points.purchase
        ):
            await award_in(
                conn,
                community,
                source.member_id,
                -community.config.points.purchase,
                Reason.REVERSAL,
                f"stripe-refund:{payment.purchase_ref}",
                at=now,
                note=source.offer_id,
            )
        await self._refresh_flags(conn, source.id)
        return outcome

    async def _on_dispute(
        self, conn: AsyncConnection, obj: dict[str, Any], created: int, now: datetime
    ) -> _Outcome:
        payment = await self._payment(conn, ev.payment_intent_of(obj))
        source = (
            await conn.execute(
                select(access_sources).where(access_sources.c.id == payment.source_id)
            )
        ).one()
        status = str(obj.get("status", ""))
        known = payment.dispute_version
        newer = known is None or created > known
        if known is not None and created == known:
            # The same second: a closed dispute outranks an open one.
            newer = status not in ev.DISPUTE_OPEN or status == "lost"
        if newer:
            await conn.execute(
                update(stripe_payments)
                .where(stripe_payments.c.id == payment.id)
                .values(
                    dispute_id=str(obj.get("id")), dispute_status=status, dispute_version=created
                )
            )
            await self._audit(
                conn,
                source.community_id,
                source.member_id,
                Audit.DISPUTE,
                source.offer_id,
                f"{obj.get('id')}:{status}",
                now,
            )
            await self._refresh_flags(conn, source.id)
        return _Outcome(community_id=source.community_id, members={source.member_id})

    async def _refresh_flags(self, conn: AsyncConnection, source_id: int) -> None:
        """Set a source's refund and dispute flags from its payments."""
        rows = (
            await conn.execute(
                select(stripe_payments)
                .where(stripe_payments.c.source_id == source_id)
                .order_by(stripe_payments.c.paid_at.desc(), stripe_payments.c.id.desc())
            )
        ).all()
        refunded = bool(rows) and bool(rows[0].refunded)
        disputed = any(r.dispute_status in ev.DISPUTE_OPEN for r in rows)
        await conn.execute(
            update(access_sources)
            .where(access_sources.c.id == source_id)
            .values(refunded=refunded, disputed=disputed)
        )

    # --- notices ------------------------------------------------------------------------------

    async def _notify(self, outcome: _Outcome) -> None:
        if outcome.community_id is None:
            return
        community = self.community(outcome.community_id)
        for kind, member_id, offer_id in outcome.notices:
            offer = community.config.offer(offer_id)
            name = offer.name if offer is not None else offer_id
            if kind is NoticeKind.PAYMENT_FAILED:
                await self._dm_payment_failed(community, member_id, name)
            else:
                await self._dm(community, member_id, "gating.notice.trial_ending", offer=name)

    async def _dm_payment_failed(self, community: Community, member_id: int, name: str) -> None:
        url = None
        customer = await self.customer_of(community, member_id)
        if customer and self.gateway is not None:
            try:
                url = await self.gateway.create_portal(customer)
            except StripeUnavailable:
                url = None
        await self._dm(community, member_id, "gating.notice.payment_failed", offer=name, url=url)

    async def _dm(
        self,
        community: Community,
        member_id: int,
        key: str,
        *,
        url: str | None = None,
        **params: Any,
    ) -> bool:
        """Message a member privately on the first platform that reaches them."""
        member, linked = await self.cohort.identity.profile(member_id)
        for account in sorted(linked, key=lambda a: a.last_seen_at, reverse=True):
            platform = self.cohort.platforms.get(account.platform)
            if platform is None:
                continue
            locale = member.locale or normalize_locale(account.locale) or community.config.locale
            i18n = self.cohort.i18n
            buttons = (Button(i18n.plain(locale, "gating.button.billing"), url=url),) if url else ()
            reply = Reply(text=i18n.text(locale, key, **params), buttons=buttons)
            try:
                await asyncio.wait_for(
                    platform.direct_message(account.platform_user_id, reply), PLATFORM_TIMEOUT
                )
                return True
            except (PlatformError, TimeoutError) as exc:
                log.warning(
                    "gating: could not DM member %s on %s: %s", member_id, platform.name, exc
                )
        return False

    async def customer_of(self, community: Community, member_id: int) -> str | None:
        """Return the member's newest Stripe customer in the current mode."""
        async with self.cohort.db.read() as conn:
            return await conn.scalar(
                select(stripe_customers.c.customer_id)
                .where(
                    stripe_customers.c.community_id == community.id,
                    stripe_customers.c.member_id == member_id,
                    stripe_customers.c.livemode.is_(self.live),
                )
                .order_by(stripe_customers.c.id.desc())
                .limit(1)
            )

    # --- checkout and portal ----------------------------------------------------------------

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
        customer = await self.customer_of(community, member_id)
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
        customer = await self.customer_of(community, member_id)
        if customer is None:
            raise UserError("gating.billing.none")
        try:
            return await self.gateway.create_portal(customer)
        except StripeUnavailable:
            raise UserError("gating.stripe_down") from None

    # --- manual grants ------------------------------------------------------------------------

    async def grant(
        self,
        community: Community,
        member_id: int,
        offer: OfferConfig,
        days: int | None,
        actor_id: int,
        note: str | None = None,
    ) -> datetime | None:
        """Give a member an offer by hand (for ``days``, or for good); return when it ends."""
        now = self.cohort.clock.now()
        ends = now + timedelta(days=days) if days else None
        ref = f"grant:{secrets.token_hex(8)}"
        async with self.cohort.db.write() as conn:
            await self._put_source(
                conn,
                community_id=community.id,
                member_id=member_id,
                kind=SourceKind.MANUAL,
                ref=ref,
                now=now,
                offer_id=offer.id,
                status=ManualStatus.GRANTED.value,
                ends_at=ends,
                actor_id=actor_id,
                note=note,
                version=int(now.timestamp()),
                existing=None,  # a fresh reference
            )
            await insert_ignore_returning(
                conn,
                purchases,
                [
                    {
                        "community_id": community.id,
                        "member_id": member_id,
                        "offer_id": offer.id,
                        "source": "manual",
                        "source_ref": ref,
                        "purchased_at": now,
                    }
                ],
                keys=("community_id", "source", "source_ref"),
            )
            detail = f"until {ends.isoformat()}" if ends else "for good"
            await self._audit(
                conn,
                community.id,
                member_id,
                Audit.GRANT,
                offer.id,
                ref,
                now,
                actor_id=actor_id,
                detail=detail,
            )
            await recompute(conn, community, member_id, now)
        self.kick()
        return ends

    async def revoke(
        self, community: Community, member_id: int, offer: OfferConfig, actor_id: int
    ) -> int:
        """End a member's manual grants of an offer; return how many there were."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            rows = (
                await conn.execute(
                    select(access_sources).where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.member_id == member_id,
                        access_sources.c.offer_id == offer.id,
                        access_sources.c.kind == SourceKind.MANUAL.value,
                        access_sources.c.status == ManualStatus.GRANTED.value,
                    )
                )
            ).all()
            for row in rows:
                await conn.execute(
                    update(access_sources)
                    .where(access_sources.c.id == row.id)
                    .values(status=ManualStatus.REVOKED.value, updated_at=now)
                )
                await conn.execute(
                    update(purchases)
                    .where(
                        purchases.c.community_id == community.id,
                        purchases.c.source == "manual",
                        purchases.c.source_ref == row.ref,
                    )
                    .values(refunded_at=now)
                )
                await self._audit(
                    conn,
                    community.id,
                    member_id,
                    Audit.REVOKE,
                    offer.id,
                    row.ref,
                    now,
                    actor_id=actor_id,
                )
            await recompute(conn, community, member_id, now)
        self.kick()
        return len(rows)

    # --- time passing -------------------------------------------------------------------------

    async def _lapse_due(self) -> int:
        """Recompute members whose access lapses by itself now (period end, grace, grant end)."""
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            due = (
                await conn.execute(
                    select(access_sources.c.community_id, access_sources.c.member_id)
                    .where(
                        access_sources.c.entitled.is_(True),
                        access_sources.c.access_until.is_not(None),
                        access_sources.c.access_until <= now,
                    )
                    .distinct()
                )
            ).all()
        for community_id, member_id in due:
            async with self.cohort.db.write() as conn:
                await recompute(conn, self.community(community_id), member_id, now)
        return len(due)

    async def recompute_member(self, community: Community, member_id: int) -> int:
        """Bring one member's access rows up to date now."""
        async with self.cohort.db.write() as conn:
            return await recompute(conn, community, member_id, self.cohort.clock.now())

    # --- the access queue ---------------------------------------------------------------------

    async def _run_access(self) -> int:
        count = 0
        while True:
            now = self.cohort.clock.now()
            async with self.cohort.db.read() as conn:
                due = (
                    await conn.execute(
                        select(gating_access)
                        .where(
                            gating_access.c.next_attempt_at.is_not(None),
                            gating_access.c.next_attempt_at <= now,
                        )
                        .order_by(gating_access.c.next_attempt_at, gating_access.c.id)
                        .limit(ACCESS_BATCH)
                    )
                ).all()
            if not due:
                return count
            count += await self._act_batch(due, now)

    async def _act_batch(self, due: Sequence[Row[Any]], now: datetime) -> int:
        """Make the platform calls of due access rows, then record them in one transaction.

        The calls are made one after the other (the adapters pace them); what each came to is
        written together after them, and the admin channel hears of failures after that write.
        A crash in between only means the calls are made again, which the platforms take as
        no change (a role given twice, a fresh invite link).
        """
        results = _AccessResults()
        started = time.monotonic()
        taken = 0
        for row in due:
            if taken and time.monotonic() - started > BATCH_SECONDS:
                break
            taken += 1
            await self._act(row, now, results)
        async with self.cohort.db.write() as conn:
            for (keys, settle), params in results.writes.items():
                await conn.execute(_access_update(keys, settle), params)
        for community, key, params in results.alerts:
            await self.alert(community, key, **params)
        return taken

    async def _act(self, row: Row[Any], now: datetime, results: _AccessResults) -> None:
        """Make the platform call one access row asks for, and note what came of it."""
        community = self.community(row.community_id)
        target = Target(PlatformName(row.platform), row.space_id, row.role_id)
        state = AccessState(row.state)
        values: dict[str, Any] = {"next_attempt_at": None, "attempts": 0, "last_error": None}
        if row.desired and state in HOLDING:
            results.settle(row, values, now)
            return
        if not row.desired and state not in HOLDING:
            values["state"] = AccessState.NONE.value
            results.settle(row, values, now)
            return
        platform = self.cohort.platforms.get(target.platform)
        if platform is None:
            self._failed(row, community, target, "platform not running", now, results, True)
            return
        try:
            if row.desired:
                values.update(await self._give(community, platform, row, target, now))
            else:
                await asyncio.wait_for(
                    platform.revoke_access(row.user_id, target.port()), PLATFORM_TIMEOUT
                )
                values["state"] = AccessState.NONE.value
                values["invite_link"] = None
        except PlatformError as exc:
            if exc.reason is PlatformErrorReason.NOT_FOUND:
                if row.desired and target.role_id:
                    values["state"] = AccessState.WAITING.value  # not in the guild yet
                    results.settle(row, values, now)
                    return
                if not row.desired:
                    values["state"] = AccessState.NONE.value  # nothing left to take away
                    results.settle(row, values, now)
                    return
            permanent = exc.reason in PERMANENT or exc.reason is PlatformErrorReason.NOT_FOUND
            self._failed(row, community, target, str(exc), now, results, not permanent)
            return
        except Exception as exc:  # a timeout, a dropped connection: try again later
            error = f"{type(exc).__name__}: {exc}"
            self._failed(row, community, target, error, now, results, True)
            return
        results.settle(row, values, now)

    async def _give(
        self, community: Community, platform: Any, row: Row[Any], target: Target, now: datetime
    ) -> dict[str, Any]:
        await asyncio.wait_for(platform.grant_access(row.user_id, target.port()), PLATFORM_TIMEOUT)
        if target.platform is not PlatformName.TELEGRAM:
            return {"state": AccessState.GRANTED.value}
        # Telegram has no roles: a link that asks to join, approved for entitled people only.
        expires = now + community.config.gating.invite_ttl
        link = await asyncio.wait_for(
            platform.create_invite(target.port(), expires_at=expires, join_request=True),
            PLATFORM_TIMEOUT,
        )
        offer = self._offer_for_target(community, target)
        await self._dm_invite(community, row, link, offer)
        return {"state": AccessState.INVITED.value, "invite_link": link}

    async def _dm_invite(self, community: Community, row: Row[Any], link: str, offer: str) -> None:
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

    def _offer_for_target(self, community: Community, target: Target) -> str:
        names = [o.name for o in community.config.offers if target in targets_of(o)]
        return names[0] if names else community.config.name

    def _failed(
        self,
        row: Row[Any],
        community: Community,
        target: Target,
        error: str,
        now: datetime,
        results: _AccessResults,
        transient: bool,
    ) -> None:
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:500]}
        if transient:
            values["next_attempt_at"] = now + _backoff(attempts)
        else:
            values["next_attempt_at"] = None
            values["state"] = AccessState.FAILED.value
        results.write(row, values, now, settle=False)
        log.warning(
            "gating: %s of %s:%s on %s failed (%s, attempt %s)",
            "grant" if row.desired else "revoke",
            row.platform,
            row.user_id,
            target,
            error,
            attempts,
        )
        if not transient or attempts == ALERT_AFTER:
            key = "gating.alert.failed" if not transient else "gating.alert.retrying"
            verb = "gating.alert.grant" if row.desired else "gating.alert.revoke"
            action = self.cohort.i18n.plain(community.config.locale, verb)
            where = f"{target.space_id}/{target.role_id}" if target.role_id else target.space_id
            params = {
                "action": action,
                "user": f"{row.platform}:{row.user_id}",
                "target": where,
                "error": error[:200],
                "attempts": attempts,
            }
            results.alerts.append((community, key, params))

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

    # --- members joining, leaving, asking ------------------------------------------------------

    async def joined(
        self,
        community: Community,
        account_id: int,
        member_id: int,
        space: str,
        platform: PlatformName,
        role: Role,
    ) -> None:
        """Give an entitled person their access on joining; remove an intruder from a chat."""
        gated = [
            t for t in gated_targets(community) if t.platform is platform and t.space_id == space
        ]
        if not gated:
            return
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, now)
            rows = (
                await conn.execute(
                    select(gating_access).where(
                        gating_access.c.account_id == account_id,
                        gating_access.c.space_id == space,
                    )
                )
            ).all()
            by_role = {r.role_id: r for r in rows}
            for target in gated:
                row = by_role.get(target.role_id)
                if target.role_id:
                    # Discord: roles do not survive leaving; give them back on joining.
                    if row is not None and row.desired:
                        await conn.execute(
                            update(gating_access)
                            .where(gating_access.c.id == row.id)
                            .values(state=AccessState.NONE.value, next_attempt_at=now, attempts=0)
                        )
                    continue
                if row is not None and row.desired:
                    await conn.execute(
                        update(gating_access)
                        .where(gating_access.c.id == row.id)
                        .values(
                            state=AccessState.GRANTED.value, next_attempt_at=None, updated_at=now
                        )
                    )
                    continue
                if role is not Role.MEMBER:
                    continue  # staff may be anywhere
                values = {
                    "desired": False,
                    "state": AccessState.GRANTED.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                }
                if row is None:
                    user_id = await conn.scalar(
                        select(accounts.c.platform_user_id).where(accounts.c.id == account_id)
                    )
                    await conn.execute(
                        gating_access.insert().values(
                            community_id=community.id,
                            member_id=member_id,
                            account_id=account_id,
                            platform=platform.value,
                            user_id=user_id,
                            space_id=space,
                            role_id="",
                            **values,
                        )
                    )
                else:
                    await conn.execute(
                        update(gating_access).where(gating_access.c.id == row.id).values(**values)
                    )
                log.info("gating: %s joined gated %s without access: removing", member_id, space)
        self.kick()

    async def left(self, community: Community, account_id: int, space: str) -> None:
        """Note that a person left a gated space (their access there is gone with them)."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            rows = (
                await conn.execute(
                    select(gating_access).where(
                        gating_access.c.community_id == community.id,
                        gating_access.c.account_id == account_id,
                        gating_access.c.space_id == space,
                    )
                )
            ).all()
            for row in rows:
                if row.desired:
                    state = AccessState.WAITING if row.role_id else AccessState.LEFT
                else:
                    state = AccessState.NONE
                await conn.execute(
                    update(gating_access)
                    .where(gating_access.c.id == row.id)
                    .values(
                        state=state.value, next_attempt_at=None, invite_link=None, updated_at=now
                    )
                )

    async def may_enter(
        self, community: Community, account_id: int, member_id: int, space: str
    ) -> bool:
        """Say whether a person asking to join ``space`` is entitled to it."""
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, self.cohort.clock.now())
            found = await conn.scalar(
                select(func.count()).where(
                    gating_access.c.account_id == account_id,
                    gating_access.c.space_id == space,
                    gating_access.c.desired.is_(True),
                )
            )
        return bool(found)

    async def reinvite(self, community: Community, member_id: int) -> int:
        """Send fresh invite links for the chats a member is owed but not in; return how many."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, now)
            result = await conn.execute(
                update(gating_access)
                .where(
                    gating_access.c.member_id == member_id,
                    gating_access.c.desired.is_(True),
                    gating_access.c.role_id == "",
                    gating_access.c.state.in_(
                        [AccessState.INVITED.value, AccessState.LEFT.value, AccessState.NONE.value]
                    ),
                )
                .values(state=AccessState.NONE.value, next_attempt_at=now, attempts=0)
            )
        self.kick()
        return int(result.rowcount)

    async def pending_access(self, community: Community, member_id: int) -> list[Row[Any]]:
        """Return a member's access rows that the platforms have not confirmed."""
        async with self.cohort.db.read() as conn:
            return list(
                (
                    await conn.execute(
                        select(gating_access).where(
                            gating_access.c.community_id == community.id,
                            gating_access.c.member_id == member_id,
                            gating_access.c.desired.is_(True),
                            gating_access.c.state != AccessState.GRANTED.value,
                        )
                    )
                ).all()
            )

    # --- reconciliation -----------------------------------------------------------------------

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
            for community_id, member_id in who:
                report.access_changes += await recompute(
                    conn, self.community(community_id), member_id, now
                )
        report.problems = await self.preflight()
        await self.run_due()
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
                before = await self._source(conn, SourceKind.SUBSCRIPTION, snap.id)
                if before is not None and not _differs(before, snap):
                    continue
                outcome = await self._on_subscription(conn, obj, version, now, {}, reconciling=True)
                if outcome.status is not EventStatus.APPLIED or outcome.community_id is None:
                    continue
                for member_id in outcome.members:
                    await recompute(conn, self.community(outcome.community_id), member_id, now)
            was = before.status if before is not None else "-"
            report.fixed.append(f"{snap.id}: {was} -> {snap.status}")
        for event in await self.gateway.undelivered_events(now - REPLAY_WINDOW):
            if await self.store_event(event, json.dumps(event), now):
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


@dataclass(slots=True)
class _AccessResults:
    """What a run of platform calls came to: row updates grouped by shape, and alerts."""

    writes: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = field(default_factory=dict)
    alerts: list[tuple[Community, str, dict[str, Any]]] = field(default_factory=list)

    def settle(self, row: Row[Any], values: dict[str, Any], now: datetime) -> None:
        """Record a call's outcome, only if nobody changed the row's desire meanwhile."""
        self.write(row, values, now, settle=True)

    def write(self, row: Row[Any], values: dict[str, Any], now: datetime, *, settle: bool) -> None:
        """Queue an update of one access row."""
        keys = tuple(sorted(values))
        params = {f"b_{k}": v for k, v in values.items()}
        params.update(b_id=row.id, b_desired=row.desired, b_updated_at=now)
        self.writes.setdefault((keys, settle), []).append(params)


@lru_cache(maxsize=32)
def _access_update(keys: tuple[str, ...], settle: bool) -> Any:
    """Return the UPDATE of an access row setting ``keys`` (and ``updated_at``).

    A settling update applies only if the row's desire is still the one the call was made
    for: a new desire re-arms the row, and must not be overwritten by an older call's result.
    """
    where = [gating_access.c.id == bindparam("b_id")]
    if settle:
        where.append(gating_access.c.desired == bindparam("b_desired"))
    values = {k: bindparam(f"b_{k}") for k in (*keys, "updated_at")}
    return update(gating_access).where(*where).values(**values)


def _subscription_key(subscription_id: str) -> tuple[str, str]:
    return ("subscription", subscription_id)


def _payment_key(intent: str) -> tuple[str, str]:
    return ("payment", intent)


def _differs(row: Row[Any], snap: ev.SubscriptionSnapshot) -> bool:
    return (
        row.status != snap.status
        or bool(row.cancel_at_period_end) != snap.cancel_at_period_end
        or row.period_start != snap.period_start
        or row.period_end != snap.period_end
    )


def _backoff(attempts: int, *, first: float = 2.0) -> timedelta:
    """Wait ``first`` seconds after the first failure, doubling each time, at most an hour."""
    return min(timedelta(seconds=first * 2 ** min(attempts - 1, 20)), MAX_BACKOFF)


__all__ = ["BadSignature", "Gating", "Received", "Report"]
