"""``POST /stripe/webhook`` against hostile signature headers: 400, never 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.core.clock import ManualClock
from bot.runtime import build
from bot.web.app import build_app
from tests.cogs.gating._world import gating_config, stand_in
from tests.web._http import raw_post


@pytest.mark.parametrize(
    "signature",
    [
        b"t=1,v1=\xff\xfe",  # not ASCII: hmac.compare_digest would raise TypeError
        b"\xff",
        b"t=1,v1=\xc3\xa9",  # valid UTF-8, still not ASCII
        b"t=1,v1=00",
        None,
    ],
    ids=["not-utf8", "one-byte", "non-ascii", "wrong", "missing"],
)
async def test_a_bad_signature_header_is_400(
    tmp_path: Path, clock: ManualClock, signature: bytes | None
) -> None:
    async with stand_in(clock) as stripe:
        cohort = await build(gating_config(tmp_path, stripe), clock=clock)
        try:
            event = stripe.event("customer.created", {"id": "cus_1", "object": "customer"})
            body = json.dumps(event).encode()
            headers = {} if signature is None else {"Stripe-Signature": signature}
            async with TestServer(build_app(cohort)) as server:
                assert server.port is not None
                assert await raw_post(server.port, "/stripe/webhook", headers, body) == 400
        finally:
            await cohort.db.close()
