"""``POST /stripe/webhook``: verify a Stripe delivery, put it in the inbox, answer at once."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.cogs.gating import BadSignature, Gating, Received
from bot.core.cohort import Cohort
from bot.web._keys import COHORT_KEY

log = logging.getLogger(__name__)

PATH = "/stripe/webhook"
SIGNATURE_HEADER = "Stripe-Signature"


async def stripe_webhook(request: web.Request) -> web.Response:
    """Answer 200 once the event is stored (or was already), 400 for anything not genuine."""
    cohort: Cohort = request.app[COHORT_KEY]
    service = cohort.entitlements
    if not isinstance(service, Gating):
        return web.Response(status=404, text="gating is not loaded")
    body = await request.read()
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        if signature is not None and not signature.isascii():
            raise BadSignature("the signature header is not ASCII")
        received = await service.receive(body, signature)
    except BadSignature as exc:
        log.warning("stripe: webhook refused from %s: %s", request.remote, exc)
        return web.json_response({"error": "bad signature"}, status=400)
    return web.json_response({"received": True, "duplicate": received is Received.DUPLICATE})
