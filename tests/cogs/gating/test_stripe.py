"""Gating ``_stripe``: webhook signatures, checked as Stripe signs them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cogs.gating import BadSignature
from bot.cogs.gating._stripe import verify
from tests.cogs.gating._world import NOW, World
from tests.stripe_api import DEFAULT_SECRET, sign

# --- the webhook: signatures -------------------------------------------------------------------


def _event(event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.created",
        "created": int(NOW.timestamp()),
        "livemode": False,
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("genuine", 200),
        ("tampered", 400),
        ("wrong_secret", 400),
        ("missing_header", 400),
        ("garbled_header", 400),
        ("too_old", 400),
        ("too_far_ahead", 400),
        ("not_an_event", 400),
    ],
)
async def test_webhook_signatures(w: World, case: str, status: int) -> None:
    event = _event()
    body = json.dumps(event).encode()
    stamp = int(w.clock.now().timestamp())
    secret = DEFAULT_SECRET
    if case == "too_old":
        stamp -= 5 * 60 + 1
    elif case == "too_far_ahead":
        stamp += 5 * 60 + 1
    elif case == "wrong_secret":
        secret = "whsec_other"
    elif case == "not_an_event":
        body = b'{"hello": "world"}'
    header = sign(body, secret, stamp)
    if case == "tampered":
        body = body.replace(b"cus_1", b"cus_2")
    headers = {"Stripe-Signature": header}
    if case == "missing_header":
        headers = {}
    elif case == "garbled_header":
        headers = {"Stripe-Signature": "v1=abc"}
    response = await w.web.post("/stripe/webhook", data=body, headers=headers)
    assert response.status == status
    assert await w.count("stripe_events") == (1 if status == 200 else 0)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(min_size=1, max_size=300), flip=st.integers(min_value=0, max_value=299))
def test_any_changed_byte_breaks_the_signature(body: bytes, flip: int) -> None:
    event = {**_event(), "data": {"object": {"blob": body.hex()}}}
    payload = json.dumps(event).encode()
    stamp = int(NOW.timestamp())
    header = sign(payload, DEFAULT_SECRET, stamp)
    assert verify(payload, header, DEFAULT_SECRET, now=NOW, tolerance=timedelta(minutes=5))
    index = flip % len(payload)
    changed = payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]
    with pytest.raises(BadSignature):
        verify(changed, header, DEFAULT_SECRET, now=NOW, tolerance=timedelta(minutes=5))
