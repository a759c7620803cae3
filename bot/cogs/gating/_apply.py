"""How one Stripe event changes the sources of access (rules 1, 2 and 5).

``Applier.apply`` runs inside the caller's write transaction and returns an ``Outcome``: what
became of the event, whose access to recompute and which direct messages to send once it is
committed. An event that refers to something not known yet raises ``Defer``; one that needs
something read from Stripe first (a subscription whose state it cannot settle alone, an
invoice's payments, the invoice a PaymentIntent paid) raises ``NeedFetch``, and is applied
again with those reads. Both are raised before the event writes anything, so a batch of
events can go on past them (see ``_inbox``).

A subscription's state is versioned by the ``created`` second of the event that showed it, or,
when read from Stripe, by Stripe's clock at the read: an event older than the state held
changes nothing, whichever order they come in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import community_by_id, loaded_community, loaded_ids, lock_members
from bot.cogs.gating._fetch import Reads
from bot.cogs.gating._lookups import Lookups
from bot.cogs.gating._outcomes import (
    Audit,
    Defer,
    EventStatus,
    FetchKind,
    NeedFetch,
    NoticeKind,
    Orphaned,
    Outcome,
    subscription_key,
)
from bot.cogs.gating._payments import Payments, audit
from bot.cogs.gating._rules import PaymentStatus, SourceKind
from bot.cogs.gating._stripe import API_VERSION
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    access_sources,
    checkout_refs,
    stripe_customers,
)

log = logging.getLogger(__name__)

_IN_SCOPE: BindParameter[int] = bindparam("b_communities", expanding=True)
_SOURCE = select(access_sources).where(
    access_sources.c.community_id.in_(_IN_SCOPE),
    access_sources.c.kind == bindparam("b_kind"),
    access_sources.c.ref == bindparam("b_ref"),
)


class Applier:
    """Applies Stripe events to ``access_sources`` and what hangs off them, in a transaction."""

    def __init__(self, cohort: Cohort, live: bool) -> None:
        self.cohort = cohort
        self.live = live
        # What the transactions made (a subscription, a payment) since the inbox last looked:
        # hints that wake the events waiting for them (see ``Inbox``).
        self.made: set[tuple[str, str]] = set()
        # The rows a batch looks up, read before it (see ``Inbox``); inactive outside one.
        self.lookups = Lookups()
        self.payments = Payments(cohort, self.made, self.lookups)
        self._versions_seen = {API_VERSION}

    def community(self, community_id: int) -> Community:
        """Return a loaded community by its row id."""
        return community_by_id(self.cohort, community_id)

    async def apply(
        self,
        conn: AsyncConnection,
        event: dict[str, Any],
        now: datetime,
        fetched: Reads,
    ) -> Outcome:
        """Apply one verified event; ``fetched`` holds what was read from Stripe for it."""
        if bool(event.get("livemode")) != self.live:
            return Outcome(EventStatus.IGNORED, "other mode")
        version = event.get("api_version")
        if isinstance(version, str) and version not in self._versions_seen:
            self._versions_seen.add(version)
            log.warning(
                "gating: Stripe sends events in API version %s; set the webhook endpoint to %s",
                version[:40],
                API_VERSION,
            )
        try:
            kind = ev.EventType(event["type"])
        except ValueError:
            return Outcome(EventStatus.IGNORED, "unhandled type")
        obj = event["data"].get("object")
        wrong = ev.problem(kind, obj)
        if wrong is not None:
            return Outcome(EventStatus.REJECTED, wrong)
        created = int(event["created"])
        if kind in ev.SUBSCRIPTION_EVENTS:
            return await self.on_subscription(
                conn, obj, created, now, fetched, tie=_tie_rule(kind, event["data"])
            )
        if kind is ev.EventType.SUBSCRIPTION_TRIAL_WILL_END:
            return await self._on_trial_ending(conn, obj)
        if kind in ev.CHECKOUT_EVENTS:
            return await self._on_checkout(conn, kind, obj, created, now, fetched)
        if kind is ev.EventType.INVOICE_PAID:
            return await self._on_invoice_paid(conn, obj, created, now, fetched)
        if kind is ev.EventType.INVOICE_PAYMENT_FAILED:
            return await self._on_invoice_failed(conn, obj, now)
        if kind is ev.EventType.CHARGE_REFUNDED:
            return await self.payments.on_refund(conn, obj, created, now, fetched)
        return await self.payments.on_dispute(conn, obj, created, now, fetched)

    async def _owner(
        self, conn: AsyncConnection, ref: str | None, customer_id: str | None
    ) -> tuple[int, int, str | None, int | None] | None:
        """Return (community, member, offer asked for, account) from our ref or the customer."""
        if ref:
            row = await self._checkout_ref(conn, ref)
            if row is not None:
                return row.community_id, row.member_id, row.offer_id, row.account_id
        if customer_id:
            row = await self.lookups.customer(conn, loaded_ids(self.cohort), customer_id)
            if row is not None:
                return row.community_id, row.member_id, None, None
        return None

    async def _checkout_ref(self, conn: AsyncConnection, ref: str) -> Row[Any] | None:
        """Return the checkout reference ``ref`` (our own, unique across communities).

        One of a community the config no longer has raises ``Orphaned``, before anything is
        written: the event waits for the community rather than be lost or half-applied.
        """
        held, row = self.lookups.get(("ref", ref))
        if not held:
            row = (
                await conn.execute(select(checkout_refs).where(checkout_refs.c.ref == ref))
            ).first()
        if row is not None and loaded_community(self.cohort, row.community_id) is None:
            raise Orphaned(row.community_id)
        return row

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
        held, known = self.lookups.get(("customer", customer_id))
        if held and known is not None and known.community_id == community_id:
            return  # remembered already (the insert would be ignored)
        self.lookups.forget(("customer", customer_id))
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

    async def source(self, conn: AsyncConnection, kind: SourceKind, ref: str) -> Row[Any] | None:
        """Return the source ``(kind, ref)`` of any loaded community, or None."""
        held, row = self.lookups.get(("source", (kind.value, ref)))
        if held:
            return row
        found = await conn.execute(
            _SOURCE, {"b_communities": loaded_ids(self.cohort), "b_kind": kind.value, "b_ref": ref}
        )
        return found.first()

    async def put_source(
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
        await lock_members(conn, [member_id])  # before its source: the order recompute takes
        self.lookups.forget(("source", (kind.value, ref)))
        if existing is not None:
            self.lookups.forget_source(existing.id)
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
                self.made.add(subscription_key(ref))
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        await conn.execute(
            update(access_sources)
            .where(access_sources.c.id == existing.id)
            .values(updated_at=now, **values)
        )
        return int(existing.id)

    async def on_subscription(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: Reads,
        *,
        read_at: int | None = None,
        owner: tuple[int, int] | None = None,
        tie: TieRule | None = None,
    ) -> Outcome:
        """Apply a subscription's state as an event shows it (or as read from Stripe).

        ``read_at`` marks ``obj`` as read from Stripe then (Stripe's clock). A subscription
        read for this event replaces what the event shows. A read is at least as new as every
        event sent before it, so it is versioned by its time and wins a tie. Of two events of
        the same second that disagree, a creation comes first, a deletion last, and an update
        whose ``previous_attributes`` are the state held comes after it (``tie``); other ties
        are settled by reading the subscription. One that no member can be found for yet (its
        checkout has not come) waits for it; a checkout gives the ``owner`` (community,
        member) it names.
        """
        snap = ev.subscription(obj)
        read = fetched.get((FetchKind.SUBSCRIPTION, snap.id))
        if read is not None and read.obj is not None:
            snap = ev.subscription(read.obj)
            read_at = read.as_of
        version = created if read_at is None else max(created, read_at)
        existing = await self.source(conn, SourceKind.SUBSCRIPTION, snap.id)
        if existing is not None:
            community_id, member_id = existing.community_id, existing.member_id
            if version < existing.version:
                return Outcome(EventStatus.IGNORED, "stale", community_id)
            if version == existing.version and read_at is None and differs(existing, snap):
                if tie is not None and tie.first:
                    return Outcome(EventStatus.IGNORED, "stale", community_id)
                if tie is None or not tie.after(existing):
                    raise NeedFetch((FetchKind.SUBSCRIPTION, snap.id))  # two states, one second
        else:
            if owner is None:
                found = await self._owner(conn, snap.ref, snap.customer_id)
                owner = (found[0], found[1]) if found is not None else None
            if owner is None:
                if not self._sold(snap.price_id):
                    return Outcome(EventStatus.IGNORED, "not ours")
                # Only its checkout can say whose it is: wait for it to place the subscription.
                raise Defer(f"subscription {snap.id} of no known member", subscription_key(snap.id))
            community_id, member_id = owner
        community = self.community(community_id)
        offer = community.config.offer_for_price(snap.price_id or "")
        if offer is None and existing is not None:
            offer = community.config.offer(existing.offer_id)
        if offer is None:
            return Outcome(EventStatus.IGNORED, "price of no offer", community_id)
        await self.put_source(
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
            version=max(version, existing.version if existing is not None else 0),
            existing=existing,
        )
        if existing is None or existing.customer_id != snap.customer_id:
            # (A source's customer was remembered in the transaction that stored it.)
            await self._remember_customer(conn, community_id, member_id, snap.customer_id, now)
        return Outcome(community_id=community_id, members={member_id})

    def _sold(self, price_id: str | None) -> bool:
        """Say whether a loaded community sells ``price_id``."""
        return any(
            c.config.offer_for_price(price_id or "") is not None
            for c in self.cohort.communities.values()
        )

    async def _on_trial_ending(self, conn: AsyncConnection, obj: dict[str, Any]) -> Outcome:
        existing_id = str(obj.get("id"))
        existing = await self.source(conn, SourceKind.SUBSCRIPTION, existing_id)
        if existing is None:
            raise Defer("trial ending of an unknown subscription", subscription_key(existing_id))
        return Outcome(
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
        fetched: Reads,
    ) -> Outcome:
        ref = ev.id_of(obj, "client_reference_id") or ev.metadata(obj).get(ev.REF_KEY)
        asked = await self._checkout_ref(conn, ref) if ref else None
        if asked is None:
            return Outcome(EventStatus.IGNORED, "not ours")
        community_id, member_id = asked.community_id, asked.member_id
        subscription_id = ev.id_of(obj, "subscription")
        unknown = (
            obj.get("mode") == "subscription"
            and subscription_id is not None
            and await self.source(conn, SourceKind.SUBSCRIPTION, subscription_id) is None
        )
        read = fetched.get((FetchKind.SUBSCRIPTION, subscription_id)) if subscription_id else None
        if unknown and read is None:
            # Grant now, not when its events come (which may have come and be waiting).
            raise NeedFetch((FetchKind.SUBSCRIPTION, str(subscription_id)))
        customer_id = ev.customer_of(obj)
        await self._remember_customer(conn, community_id, member_id, customer_id, now)
        if asked.session_id != str(obj.get("id")):  # /join stored it, unless Stripe was slow
            self.lookups.forget(("ref", asked.ref))
            await conn.execute(
                update(checkout_refs)
                .where(checkout_refs.c.id == asked.id)
                .values(session_id=str(obj.get("id")))
            )
        outcome = Outcome(community_id=community_id, members={member_id})
        if obj.get("mode") == "subscription":
            if unknown and read is not None and read.obj is not None:
                await self.on_subscription(
                    conn, read.obj, created, now, fetched, owner=(community_id, member_id)
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
        existing = await self.source(conn, SourceKind.PAYMENT, session_id)
        if existing is not None and existing.status != PaymentStatus.PROCESSING:
            status = PaymentStatus(existing.status)  # settled states never go back
        source_id = await self.put_source(
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
            await self.payments.record_purchase(
                conn,
                community_id=community_id,
                member_id=member_id,
                offer_id=asked.offer_id,
                purchase_ref=session_id,
                amount=ev.amount(obj, "amount_total"),
                currency=obj.get("currency"),
                paid=created,
                source_id=source_id,
                intents=[p for p in [ev.payment_intent_of(obj)] if p],
                refunded=bool(existing is not None and existing.refunded),
                now=now,
            )
        return outcome

    async def _on_invoice_paid(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: Reads,
    ) -> Outcome:
        subscription_id = ev.invoice_subscription(obj)
        if not subscription_id:
            return Outcome(EventStatus.IGNORED, "not a subscription invoice")
        source = await self.source(conn, SourceKind.SUBSCRIPTION, subscription_id)
        if source is None:
            read = fetched.get((FetchKind.SUBSCRIPTION, subscription_id))
            if read is None:
                raise NeedFetch((FetchKind.SUBSCRIPTION, subscription_id))
            if read.obj is None:
                return Outcome(EventStatus.IGNORED, "not ours")
            snap = ev.subscription(read.obj)
            if not self._sold(snap.price_id):
                if snap.ref:  # raises Orphaned if a community the config lost sold it
                    await self._checkout_ref(conn, snap.ref)
                return Outcome(EventStatus.IGNORED, "not ours")
        paid = ev.amount(obj, "amount_paid")
        # Its payments are includable, so an event never has them: read them (what a refund
        # or a dispute of this payment will name) with the invoice.
        full = obj
        if paid and not ev.payments_included(obj):
            invoice = fetched.get((FetchKind.INVOICE, str(obj["id"])))
            if invoice is None:
                raise NeedFetch((FetchKind.INVOICE, str(obj["id"])))
            if invoice.obj is not None:
                full = invoice.obj
        if source is None:
            outcome = await self.on_subscription(
                conn, {"id": subscription_id}, created, now, fetched
            )
            if outcome.status is not EventStatus.APPLIED:
                return outcome
            source = await self.source(conn, SourceKind.SUBSCRIPTION, subscription_id)
            assert source is not None
        if paid:
            await self.payments.record_purchase(
                conn,
                community_id=source.community_id,
                member_id=source.member_id,
                offer_id=source.offer_id,
                purchase_ref=str(obj["id"]),
                amount=paid,
                currency=obj.get("currency"),
                paid=created,
                source_id=source.id,
                intents=ev.invoice_payment_intents(full),
                refunded=bool(source.refunded),
                now=now,
            )
        return Outcome(community_id=source.community_id, members={source.member_id})

    async def _on_invoice_failed(
        self, conn: AsyncConnection, obj: dict[str, Any], now: datetime
    ) -> Outcome:
        subscription_id = ev.invoice_subscription(obj)
        source = (
            await self.source(conn, SourceKind.SUBSCRIPTION, subscription_id)
            if subscription_id
            else None
        )
        if source is None:
            raise Defer(
                "failed invoice of an unknown subscription",
                subscription_key(subscription_id) if subscription_id else None,
            )
        await audit(
            conn,
            source.community_id,
            source.member_id,
            Audit.PAYMENT_FAILED,
            source.offer_id,
            str(obj.get("id")),
            now,
        )
        return Outcome(
            community_id=source.community_id,
            members={source.member_id},
            notices=[(NoticeKind.PAYMENT_FAILED, source.member_id, source.offer_id)],
        )


@dataclass(frozen=True, slots=True)
class TieRule:
    """Where a subscription event stands among others of the same second."""

    first: bool = False  # a creation: before anything else of its second
    last: bool = False  # a deletion: nothing follows it
    previous: dict[str, Any] | None = None  # an update's ``previous_attributes``

    def after(self, held: Row[Any]) -> bool:
        """Say whether the event comes after the state ``held`` (it changed that state)."""
        if self.last:
            return True
        if self.previous is None:
            return False
        checked = False
        for name in ("status", "cancel_at_period_end"):
            if name in self.previous:
                if self.previous[name] != getattr(held, name):
                    return False
                checked = True
        item = ev.first_item(self.previous)
        for name in ("current_period_start", "current_period_end"):
            if item is not None and name in item:
                if ev.when(item[name]) != getattr(held, name.removeprefix("current_")):
                    return False
                checked = True
        return checked


def _tie_rule(kind: ev.EventType, data: dict[str, Any]) -> TieRule:
    previous = data.get("previous_attributes")
    return TieRule(
        first=kind is ev.EventType.SUBSCRIPTION_CREATED,
        last=kind is ev.EventType.SUBSCRIPTION_DELETED,
        previous=previous if isinstance(previous, dict) else None,
    )


def differs(row: Row[Any], snap: ev.SubscriptionSnapshot) -> bool:
    return (
        row.status != snap.status
        or bool(row.cancel_at_period_end) != snap.cancel_at_period_end
        or row.period_start != snap.period_start
        or row.period_end != snap.period_end
    )
