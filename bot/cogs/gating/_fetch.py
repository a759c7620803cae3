"""What events need read from Stripe, read after the write transaction, a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.cogs.gating._outcomes import FetchKey, FetchKind
from bot.cogs.gating._stripe import Gateway, Read, StripeUnavailable

FETCH_CONCURRENCY = 8  # reads in flight at once
# How many rounds of reads one event may ask for (a dispute without a PaymentIntent: its
# charge, then the invoice its PaymentIntent paid, then that invoice's subscription).
FETCH_ROUNDS = 3
NO_KEY = "needs Stripe to settle it, and no secret key is set"

Reads = dict[FetchKey, Read]


async def read(gateway: Gateway, key: FetchKey) -> Read:
    """Read one thing an event needs from Stripe; raise StripeUnavailable if it cannot."""
    kind, ref = key
    if kind is FetchKind.SUBSCRIPTION:
        return await gateway.subscription(ref)
    if kind is FetchKind.INVOICE:
        return await gateway.invoice(ref)
    if kind is FetchKind.PAYMENT:
        return await gateway.invoice_payment(ref)
    return await gateway.charge(ref)


async def read_all(
    gateway: Gateway | None, keys: Iterable[FetchKey]
) -> tuple[Reads, dict[FetchKey, str]]:
    """Read ``keys``, a few at once; return what was read and why the others were not."""
    wanted = list(dict.fromkeys(keys))
    if gateway is None:
        return {}, dict.fromkeys(wanted, NO_KEY)
    found: Reads = {}
    failed: dict[FetchKey, str] = {}
    limit = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(key: FetchKey) -> None:
        async with limit:
            try:
                found[key] = await read(gateway, key)
            except StripeUnavailable as exc:
                failed[key] = str(exc)

    await asyncio.gather(*(one(key) for key in wanted))
    return found, failed
