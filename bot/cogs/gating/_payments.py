"""Payments behind a source: purchases with their points, refunds and disputes (rule 5).

A purchase, its payments, its audit row and its points are written exactly once, by natural
keys. Refunds and disputes live on ``stripe_payments`` (per PaymentIntent) and set the source's
``refunded`` and ``disputed`` flags, which ``_rules.entitled`` reads.

A refund or a dispute names a PaymentIntent (a dispute may name only its charge). One Cohort
has not seen is looked up in Stripe: the InvoicePayment of that PaymentIntent says which
invoice, and so which subscription, it paid; that payment is then recorded as ``invoice.paid``
would have. A PaymentIntent that paid no invoice waits for its Checkout.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import community_by_id, loaded_ids, lock_members
from bot.cogs.gating._fetch import Reads
from bot.cogs.gating._lookups import Lookups
from bot.cogs.gating._outcomes import (
    Audit,
    Defer,
    EventStatus,
    FetchKind,
    NeedFetch,
    Orphaned,
    Outcome,
    payment_key,
    subscription_key,
)
from bot.cogs.gating._rules import SourceKind
from bot.cogs.points import Reason, award_in
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    access_sources,
    communities,
    gating_audit,
    purchases,
    stripe_customers,
    stripe_payments,
)

log = logging.getLogger(__name__)

_IN_SCOPE: BindParameter[int] = bindparam("b_communities", expanding=True)
_PAYMENT = select(stripe_payments).where(
    stripe_payments.c.community_id.in_(_IN_SCOPE),
    stripe_payments.c.payment_intent == bindparam("b_intent"),
)
_SUBSCRIPTION = select(access_sources).where(
    access_sources.c.community_id.in_(_IN_SCOPE),
    access_sources.c.kind == SourceKind.SUBSCRIPTION.value,
    access_sources.c.ref == bindparam("b_ref"),
)


class Payments:
    """Records purchases and what happens to their payments, in the caller's transaction."""

    def __init__(self, cohort: Cohort, made: set[tuple[str, str]], lookups: Lookups) -> None:
        self.cohort = cohort
        self.made = made  # shared with the Applier: what was made since the inbox looked
        self.lookups = lookups  # shared with the Applier: what a batch read up front

    def community(self, community_id: int) -> Community:
        """Return a loaded community by its row id."""
        return community_by_id(self.cohort, community_id)

    async def record_purchase(
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
            self.made.add(payment_key(intent))
            self.lookups.forget(("payment", intent))
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
        await audit(conn, community_id, member_id, Audit.PURCHASE, offer_id, purchase_ref, now)
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
            await self._refresh_flags(conn, source_id, member_id)

    async def find(self, conn: AsyncConnection, intent: str) -> Row[Any] | None:
        """Return the payment row of a PaymentIntent, if Cohort knows it."""
        held, row = self.lookups.get(("payment", intent))
        if held:
            return row
        found = await conn.execute(
            _PAYMENT, {"b_communities": loaded_ids(self.cohort), "b_intent": intent}
        )
        return found.first()

    async def payment(
        self, conn: AsyncConnection, obj: dict[str, Any], fetched: Reads, now: datetime
    ) -> tuple[Row[Any], Row[Any]] | None:
        """Return the payment row a charge or dispute is about, and its source.

        None if it is no payment Cohort took. Raise NeedFetch for what Stripe must say first,
        and Defer while the payment's Checkout or subscription is not known yet.
        """
        intent = ev.payment_intent_of(obj)
        if intent is None:  # a dispute's PaymentIntent is nullable; its charge is not
            charge_id = ev.id_of(obj, "charge") if obj.get("object") == "dispute" else None
            if charge_id is None:
                return None
            charge = fetched.get((FetchKind.CHARGE, charge_id))
            if charge is None:
                raise NeedFetch((FetchKind.CHARGE, charge_id))
            intent = ev.payment_intent_of(charge.obj) if charge.obj is not None else None
            if intent is None:
                return None  # Checkout always pays through a PaymentIntent
        row = await self.find(conn, intent)
        if row is None:
            customer = ev.customer_of(obj)
            await self._orphaned(conn, intent, customer)
            if obj.get("object") == "charge" and (
                customer is None
                or await self.lookups.customer(conn, loaded_ids(self.cohort), customer) is None
            ):
                # Not a buyer Cohort knows (yet): its Checkout, or its subscription, to come.
                raise Defer(f"payment {intent} of no known customer", payment_key(intent))
            await self._record_invoice_payment(conn, intent, fetched, now)
            row = await self.find(conn, intent)
            assert row is not None
        held, source = self.lookups.get(("source_id", row.source_id))
        if not held or source is None:
            found = await conn.execute(
                select(access_sources).where(access_sources.c.id == row.source_id)
            )
            source = found.one()
        return row, source

    async def _orphaned(self, conn: AsyncConnection, intent: str, customer: str | None) -> None:
        """Raise ``Orphaned`` if the payment, or its buyer, is a community's not loaded.

        Its refund or dispute then waits, its tries not counted, until the community is back
        (``_orphans``); as a payment not known yet it would expire after its tries, lost.
        Asked only when no loaded community knows the payment.
        """
        gone = select(communities.c.id).where(communities.c.id.not_in(loaded_ids(self.cohort)))
        found = await conn.scalar(
            select(stripe_payments.c.community_id)
            .where(
                stripe_payments.c.community_id.in_(gone),
                stripe_payments.c.payment_intent == intent,
            )
            .limit(1)
        )
        if found is None and customer is not None:
            found = await conn.scalar(
                select(stripe_customers.c.community_id)
                .where(
                    stripe_customers.c.community_id.in_(gone),
                    stripe_customers.c.customer_id == customer,
                )
                .limit(1)
            )
        if found is not None:
            raise Orphaned(int(found))

    async def _record_invoice_payment(
        self, conn: AsyncConnection, intent: str, fetched: Reads, now: datetime
    ) -> None:
        """Record the invoice payment ``intent`` made, as Stripe reports it (see the module)."""
        read = fetched.get((FetchKind.PAYMENT, intent))
        if read is None:
            raise NeedFetch((FetchKind.PAYMENT, intent))
        payment = read.obj
        invoice = payment.get("invoice") if payment is not None else None
        if payment is None or not isinstance(invoice, dict):
            raise Defer(f"payment {intent} is not known yet", payment_key(intent))
        subscription_id = ev.invoice_subscription(invoice)
        source = None
        if subscription_id:
            found = await conn.execute(
                _SUBSCRIPTION,
                {"b_communities": loaded_ids(self.cohort), "b_ref": subscription_id},
            )
            source = found.first()
        if source is None or not isinstance(invoice.get("id"), str):
            raise Defer(
                f"the subscription {subscription_id} that payment {intent} paid is not known yet",
                subscription_key(subscription_id) if subscription_id else None,
            )
        await self.record_purchase(
            conn,
            community_id=source.community_id,
            member_id=source.member_id,
            offer_id=source.offer_id,
            purchase_ref=str(invoice["id"]),
            amount=ev.amount(invoice, "amount_paid"),
            currency=invoice.get("currency"),
            paid=ev.paid_at(invoice) or read.as_of,
            source_id=source.id,
            intents=[intent],
            refunded=bool(source.refunded),
            now=now,
        )

    async def on_refund(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: Reads,
    ) -> Outcome:
        found = await self.payment(conn, obj, fetched, now)
        if found is None:
            return Outcome(EventStatus.IGNORED, "not a payment of ours")
        payment, source = found
        outcome = Outcome(community_id=source.community_id, members={source.member_id})
        if not ev.fully_refunded(obj) or payment.refunded:
            return outcome
        await conn.execute(
            update(stripe_payments).where(stripe_payments.c.id == payment.id).values(refunded=True)
        )
        self.lookups.forget(("payment", payment.payment_intent))
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
            await audit(
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
        await self._refresh_flags(conn, source.id, source.member_id)
        return outcome

    async def on_dispute(
        self,
        conn: AsyncConnection,
        obj: dict[str, Any],
        created: int,
        now: datetime,
        fetched: Reads,
    ) -> Outcome:
        found = await self.payment(conn, obj, fetched, now)
        if found is None:
            return Outcome(EventStatus.IGNORED, "not a payment of ours")
        payment, source = found
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
            self.lookups.forget(("payment", payment.payment_intent))
            await audit(
                conn,
                source.community_id,
                source.member_id,
                Audit.DISPUTE,
                source.offer_id,
                f"{obj.get('id')}:{status}",
                now,
            )
            await self._refresh_flags(conn, source.id, source.member_id)
        return Outcome(community_id=source.community_id, members={source.member_id})

    async def _refresh_flags(self, conn: AsyncConnection, source_id: int, member_id: int) -> None:
        """Set a source's (``member_id``'s) refund and dispute flags from its payments."""
        self.lookups.forget_source(source_id)
        await lock_members(conn, [member_id])  # before its source, as recompute takes it
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


async def audit(
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
