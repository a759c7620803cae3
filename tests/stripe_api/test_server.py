"""The Stripe stand-in, driven by the real ``stripe`` client: it serialises as Stripe does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from bot.cogs.gating import _stripe as gateway_module
from bot.cogs.gating._stripe import StripeGateway
from bot.core.clock import ManualClock
from tests.cogs.gating._world import add_prices
from tests.conftest import make_config
from tests.stripe_api import API_VERSION, DEFAULT_KEY, MONTH, StripeServer

NOW = 1_790_000_000


@pytest.fixture
async def stripe_api() -> AsyncIterator[StripeServer]:
    async with StripeServer(clock=lambda: NOW) as server:
        add_prices(server)
        yield server


@asynccontextmanager
async def client(
    server: StripeServer, version: str = API_VERSION
) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.AIOHTTPClient()
    try:
        yield stripe.StripeClient(
            DEFAULT_KEY,
            base_addresses={"api": server.base_url},
            http_client=http,
            stripe_version=version,
            max_network_retries=0,
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def a_renewed_subscription(server: StripeServer) -> tuple[str, list[dict[str, Any]]]:
    session = server.create_session(
        {
            "mode": "subscription",
            "line_items": [{"price": "price_pro_m", "quantity": "1"}],
            "success_url": "https://example.com/ok",
        },
        server.base_url,
    )
    events = server.pay(session["id"])
    subscription = str(server.sessions[session["id"]]["subscription"])
    return subscription, events + server.renew(subscription)


async def test_includable_fields_come_only_when_expanded_and_never_in_events(
    stripe_api: StripeServer,
) -> None:
    subscription, events = a_renewed_subscription(stripe_api)
    invoice_id = stripe_api.subscriptions[subscription]["latest_invoice"]
    intent = stripe_api.intent_of(subscription)
    async with client(stripe_api) as api:
        plain = (await api.v1.invoices.retrieve_async(invoice_id)).to_dict()
        full = (
            await api.v1.invoices.retrieve_async(invoice_id, {"expand": ["payments"]})
        ).to_dict()
        (payment,) = (
            await api.v1.invoice_payments.list_async(
                {
                    "payment": {"type": "payment_intent", "payment_intent": intent},
                    "expand": ["data.invoice"],
                }
            )
        ).data
        charge_id = stripe_api.charge_of(intent)["id"]
        charge = (await api.v1.charges.retrieve_async(charge_id)).to_dict()
        with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
            await api.v1.invoices.retrieve_async(invoice_id, {"expand": ["nothing"]})
    assert "payments" not in plain
    assert "subscription" not in plain and "payment_intent" not in plain  # gone since basil
    assert plain["parent"]["subscription_details"]["subscription"] == subscription
    assert full["payments"]["data"][0]["payment"]["payment_intent"] == intent
    assert payment.to_dict()["invoice"]["id"] == invoice_id  # expanded
    assert "refunds" not in charge and "invoice" not in charge
    paid = [e for e in events if e["type"] == "invoice.paid"]
    assert paid and all("payments" not in e["data"]["object"] for e in paid)
    assert all(e["api_version"] == API_VERSION for e in events)
    (refunded,) = stripe_api.refund(intent)
    assert "refunds" not in refunded["data"]["object"]


async def test_a_subscription_from_checkout_starts_incomplete_then_turns_active(
    stripe_api: StripeServer,
) -> None:
    _subscription, events = a_renewed_subscription(stripe_api)
    kinds = [(e["type"], e["data"]["object"].get("status")) for e in events[:4]]
    assert kinds == [
        ("customer.subscription.created", "incomplete"),
        ("invoice.paid", "paid"),
        ("customer.subscription.updated", "active"),
        ("checkout.session.completed", "complete"),
    ]
    assert events[2]["data"]["previous_attributes"] == {"status": "incomplete"}
    assert "line_items" not in events[3]["data"]["object"]  # includable on a Checkout Session


async def test_the_stand_in_answers_only_the_version_it_serialises_for(
    stripe_api: StripeServer,
) -> None:
    async with client(stripe_api, version="2024-06-20") as api:
        with pytest.raises(stripe.InvalidRequestError, match="Invalid Stripe API version"):
            await api.v1.subscriptions.list_async()


async def test_the_gateway_pins_the_api_version_and_dates_what_it_reads(
    stripe_api: StripeServer, tmp_path: Path
) -> None:
    subscription, _events = a_renewed_subscription(stripe_api)
    config = make_config(
        tmp_path, stripe={"secret_key": DEFAULT_KEY, "api_base": stripe_api.base_url}
    ).stripe
    gateway = StripeGateway(config, ManualClock(datetime.fromtimestamp(NOW - MONTH, UTC)))
    try:
        read = await gateway.subscription(subscription)
        listing = await gateway.subscriptions()
    finally:
        await gateway.close()
    assert gateway_module.API_VERSION == API_VERSION
    assert stripe_api.versions and set(stripe_api.versions) == {API_VERSION}
    assert read.as_of == listing.as_of == NOW  # Stripe's clock, not ours
