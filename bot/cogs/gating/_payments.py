"""Payments behind a source: purchases with their points, refunds and disputes (rule 5).

A purchase, its payments, its audit row and its points are written exactly once, by natural
keys. Refunds and disputes live on ``stripe_payments`` (per PaymentIntent) and set the source's
``refunded`` and ``disputed`` flags, which ``_rules.entitled`` reads.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import community_by_id, loaded_ids
from bot.cogs.gating._lookups import Lookups
from bot.cogs.gating._outcomes import Audit, Defer, Outcome, payment_key
from bot.cogs.points import Reason, award_in
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    access_sources,
    gating_audit,
    purchases,
    stripe_payments,
)

log = logging.getLogger(__name__)

_IN_SCOPE = bindparam("b_communities", expanding=True)
_PAYMENT = select(stripe_payments).where(
    stripe_payments.c.community_id.in_(_IN_SCOPE),
    stripe_payments.c.payment_intent == bindparam("b_intent"),
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
            await self._refresh_flags(conn, source_id)

    async def _payment(
        self, conn: AsyncConnection, intent: str | None
    ) -> tuple[Row[Any], Row[Any]]:
        """Return a PaymentIntent's payment row and its source; Defer if it is not known."""
        row = None
        if intent:
            held, row = self.lookups.get(("payment", intent))
            if not held:
                found = await conn.execute(
                    _PAYMENT, {"b_communities": loaded_ids(self.cohort), "b_intent": intent}
                )
                row = found.first()
        if row is None:
            raise Defer(
                f"payment {intent} is not known yet", payment_key(intent) if intent else None
            )
        held, source = self.lookups.get(("source_id", row.source_id))
        if not held or source is None:
            found = await conn.execute(
                select(access_sources).where(access_sources.c.id == row.source_id)
            )
            source = found.one()
        return row, source

    async def on_refund(
        self, conn: AsyncConnection, obj: dict[str, Any], created: int, now: datetime
    ) -> Outcome:
        payment, source = await self._payment(conn, ev.payment_intent_of(obj))
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
        await self._refresh_flags(conn, source.id)
        return outcome

    async def on_dispute(
        self, conn: AsyncConnection, obj: dict[str, Any], created: int, now: datetime
    ) -> Outcome:
        payment, source = await self._payment(conn, ev.payment_intent_of(obj))
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
            await self._refresh_flags(conn, source.id)
        return Outcome(community_id=source.community_id, members={source.member_id})

    async def _refresh_flags(self, conn: AsyncConnection, source_id: int) -> None:
        """Set a source's refund and dispute flags from its payments."""
        self.lookups.forget_source(source_id)
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
