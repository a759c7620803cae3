"""``cohort stripe simulate``: post a signed, synthetic Stripe event to the running bot.

For trying paid access without paying: the event is built as Stripe would send it, signed with
the configured webhook secret and posted to the bot's ``/stripe/webhook``, which verifies and
applies it like any other. Test mode only. A purchase stores a fresh checkout reference for the
member (what ``/join`` stores), so the bot knows whose it is; a cancellation, a failed renewal
or a refund refers to what the member already holds.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._rules import SourceKind
from bot.cogs.gating._stripe import API_VERSION, sign
from bot.core.config import CommunityConfig, Config, OfferConfig, OfferKind, StripeMode
from bot.store.db import Database
from bot.store.tables import (
    access_sources,
    accounts,
    checkout_refs,
    communities,
    stripe_customers,
    stripe_payments,
)

KINDS = (
    "checkout.session.completed",
    "customer.subscription.deleted",
    "invoice.payment_failed",
    "charge.refunded",
)
PERIOD = timedelta(days=30)
Event = tuple[str, dict[str, Any], int]  # (type, object, created): one event to post


class SimulateError(Exception):
    """The simulation cannot be made; the message says why, in a line."""


@dataclass(frozen=True, slots=True)
class _Buyer:
    community_id: int
    member_id: int
    account_id: int | None


async def simulate(
    config: Config,
    kind: str,
    *,
    member: str,
    offer_id: str,
    now: datetime,
    community: str | None = None,
    url: str | None = None,
) -> list[tuple[str, int]]:
    """Post the events of ``kind`` for ``member`` and ``offer_id``; return (event type, status)."""
    if kind not in KINDS:
        raise SimulateError(f"unknown event type {kind!r}; one of: {', '.join(KINDS)}")
    if config.stripe.mode is not StripeMode.TEST:
        raise SimulateError("simulated events are for test mode only (stripe.mode = 'test')")
    secret = config.stripe.webhook_secret
    if secret is None:
        raise SimulateError("stripe.webhook_secret is not set: the bot would refuse the event")
    settings = _community(config, community)
    offer = settings.offer(offer_id)
    if offer is None:
        known = ", ".join(o.id for o in settings.offers) or "none"
        raise SimulateError(f"{settings.id} sells no offer {offer_id!r} (offers: {known})")
    target = url or webhook_url(config)
    db = Database(config.database.url)
    try:
        async with db.write() as conn:
            buyer = await _buyer(conn, settings.id, member)
            objects = await _events(conn, kind, buyer, offer, now)
    except (OperationalError, ProgrammingError) as exc:  # no tables: SQLite, PostgreSQL
        raise SimulateError(f"the database is not ready ({exc.orig}): has the bot run?") from None
    finally:
        await db.close()
    return await post(target, secret.reveal(), objects, now)


def _envelope(event_type: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    """Return a test-mode event of ``event_type`` about ``obj``, as Stripe sends it."""
    return {
        "id": "evt_sim_" + secrets.token_hex(12),
        "object": "event",
        "api_version": API_VERSION,
        "type": event_type,
        "created": created,
        "livemode": False,
        "data": {"object": obj},
    }


async def post(url: str, secret: str, objects: list[Event], now: datetime) -> list[tuple[str, int]]:
    """Sign each (type, object, created) as an event and post it to ``url``, in order.

    Return (event type, HTTP status) for each; raise SimulateError if ``url`` cannot be reached.
    """
    sent: list[tuple[str, int]] = []
    async with aiohttp.ClientSession() as http:
        for event_type, obj, created in objects:
            body = json.dumps(_envelope(event_type, obj, created)).encode()
            header = sign(body, secret, int(now.timestamp()))
            try:
                async with http.post(
                    url, data=body, headers={"Stripe-Signature": header}
                ) as response:
                    await response.read()
                    sent.append((event_type, response.status))
            except aiohttp.ClientError as exc:
                raise SimulateError(f"could not post to {url}: {exc}") from None
    return sent


def _community(config: Config, wanted: str | None) -> CommunityConfig:
    if wanted is None and len(config.communities) == 1:
        return config.communities[0]
    for settings in config.communities:
        if settings.id == wanted:
            return settings
    known = ", ".join(c.id for c in config.communities)
    raise SimulateError(f"say which community with --community (one of: {known})")


def base_url(config: Config) -> str:
    """Return the address of this bot's own web app, as reached from this machine."""
    host = config.web.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.web.port}"


def webhook_url(config: Config) -> str:
    """Return the address of this bot's own Stripe webhook."""
    return base_url(config) + "/stripe/webhook"


async def _buyer(conn: AsyncConnection, slug: str, who: str) -> _Buyer:
    """Find the member behind ``platform:user_id`` (an account the bot has seen)."""
    community_id = await conn.scalar(select(communities.c.id).where(communities.c.slug == slug))
    if community_id is None:
        raise SimulateError(f"the database has no community {slug!r}: has the bot run?")
    platform, _, user_id = who.partition(":")
    if not user_id:
        raise SimulateError(f"--member {who!r}: give platform:user_id, like console:alice")
    row = (
        await conn.execute(
            select(accounts.c.id, accounts.c.member_id).where(
                accounts.c.community_id == community_id,
                accounts.c.platform == platform,
                accounts.c.platform_user_id == user_id,
            )
        )
    ).first()
    if row is None:
        raise SimulateError(f"no account {who} in {slug}: they must have used the bot first")
    return _Buyer(community_id, row.member_id, row.id)


async def _events(
    conn: AsyncConnection, kind: str, buyer: _Buyer, offer: OfferConfig, now: datetime
) -> list[Event]:
    """Return the (type, object, created) of each event to send, storing what a purchase needs."""
    stamp = int(now.timestamp())
    price = next(iter(offer.prices), None)
    if price is None:
        raise SimulateError(f"offer {offer.id} has no Stripe price")
    if kind == "checkout.session.completed":
        return await _purchase(conn, buyer, offer, price, stamp, now)
    if kind == "charge.refunded":
        intent = await conn.scalar(
            select(stripe_payments.c.payment_intent)
            .join(access_sources, access_sources.c.id == stripe_payments.c.source_id)
            .where(
                access_sources.c.member_id == buyer.member_id,
                access_sources.c.offer_id == offer.id,
                stripe_payments.c.refunded.is_(False),
            )
            .order_by(stripe_payments.c.id.desc())
            .limit(1)
        )
        if intent is None:
            raise SimulateError(f"the member has no unrefunded payment for {offer.id}")
        charge = {
            "id": "ch_sim_" + secrets.token_hex(8),
            "object": "charge",
            "payment_intent": intent,
            "refunded": True,
            "livemode": False,
        }
        return [(kind, charge, stamp)]
    source = (
        await conn.execute(
            select(access_sources)
            .where(
                access_sources.c.member_id == buyer.member_id,
                access_sources.c.offer_id == offer.id,
                access_sources.c.kind == SourceKind.SUBSCRIPTION.value,
            )
            .order_by(access_sources.c.id.desc())
            .limit(1)
        )
    ).first()
    if source is None:
        raise SimulateError(f"the member has no subscription to {offer.id}")
    if kind == "invoice.payment_failed":
        invoice = {
            "id": "in_sim_" + secrets.token_hex(8),
            "object": "invoice",
            "customer": source.customer_id,
            "parent": {"subscription_details": {"subscription": source.ref}},
            "livemode": False,
        }
        return [(kind, invoice, stamp)]
    ended = subscription_object(
        source.ref, source.customer_id, price, "canceled", source.period_start, source.period_end
    )
    return [(kind, ended, max(stamp, int(source.version) + 1))]  # newer than the state held


async def _purchase(
    conn: AsyncConnection,
    buyer: _Buyer,
    offer: OfferConfig,
    price: str,
    stamp: int,
    now: datetime,
) -> list[Event]:
    """Store a checkout reference as /join does; return a paid Checkout (and its subscription)."""
    ref = "co_sim_" + secrets.token_urlsafe(12)
    session_id = "cs_sim_" + secrets.token_hex(12)
    customer = await conn.scalar(
        select(stripe_customers.c.customer_id)
        .where(
            stripe_customers.c.member_id == buyer.member_id,
            stripe_customers.c.livemode.is_(False),
        )
        .order_by(stripe_customers.c.id.desc())
        .limit(1)
    ) or ("cus_sim_" + secrets.token_hex(8))
    await conn.execute(
        checkout_refs.insert().values(
            community_id=buyer.community_id,
            ref=ref,
            member_id=buyer.member_id,
            account_id=buyer.account_id,
            offer_id=offer.id,
            price_id=price,
            livemode=False,
            session_id=session_id,
            created_at=now,
        )
    )
    session: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "client_reference_id": ref,
        "customer": customer,
        "metadata": {ev.REF_KEY: ref},
        "payment_status": "paid",
        "livemode": False,
    }
    if offer.kind is not OfferKind.TIER:
        session |= {"mode": "payment", "payment_intent": "pi_sim_" + secrets.token_hex(12)}
        return [("checkout.session.completed", session, stamp)]
    subscription_id = "sub_sim_" + secrets.token_hex(12)
    status = "trialing" if offer.trial_days else "active"
    end = now + (timedelta(days=offer.trial_days) if offer.trial_days else PERIOD)
    subscription = subscription_object(subscription_id, customer, price, status, now, end)
    subscription["metadata"] = {ev.REF_KEY: ref}
    session |= {"mode": "subscription", "subscription": subscription_id}
    return [
        ("customer.subscription.created", subscription, stamp),
        ("checkout.session.completed", session, stamp),
    ]


def subscription_object(
    subscription_id: str,
    customer: str | None,
    price: str,
    status: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """Return a test-mode subscription of one price, as Stripe's API version shows it."""
    period = {
        "current_period_start": int(start.timestamp()) if start else None,
        "current_period_end": int(end.timestamp()) if end else None,
    }
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": False,
        "items": {"object": "list", "data": [{"price": {"id": price}, **period}]},
        "metadata": {},
        "livemode": False,
    }
