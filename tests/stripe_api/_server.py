"""A loopback Stripe API stand-in that keeps state, plus the webhook deliveries Stripe makes.

The real ``stripe`` client talks to it over HTTP (``StripeClient(base_addresses=...)``). Tests
arrange prices, then act as a buyer and as Stripe (``pay``, ``renew``, ``cancel_at_period_end``,
``refund``, ``dispute``…); each such step changes the objects and returns the events Stripe
would send, with ``data.object`` snapshots and ``created`` from the stand-in's clock. The
events can be signed exactly as Stripe signs them and posted to the bot's webhook.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from tests.stripe_api._form import decode, truthy

API_VERSION = "2026-10-28.endive"
DEFAULT_KEY = "sk_test_standin"
DEFAULT_SECRET = "whsec_standin"
MONTH = 30 * 86_400
YEAR = 365 * 86_400


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return a ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Price:
    """A price the stand-in sells."""

    id: str
    amount: int
    currency: str = "usd"
    interval: int | None = None  # seconds between renewals; None for one-time prices


@dataclass
class Failure:
    """An error the next calls of a path answer with."""

    status: int
    times: int
    retry: bool = False


@dataclass
class Delivery:
    """What the stand-in keeps of each event: the event and whether it reached the bot."""

    event: dict[str, Any]
    delivered: bool = False


@dataclass
class StripeServer:
    """Stripe's API on 127.0.0.1 with an in-memory account behind it."""

    api_key: str = DEFAULT_KEY
    webhook_secret: str = DEFAULT_SECRET
    livemode: bool = False
    clock: Callable[[], int] = field(default=lambda: int(time.time()))
    prices: dict[str, Price] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by payment intent
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: list[dict[str, Any]] = field(default_factory=list)
    events: list[Delivery] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    port: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the address to give the ``stripe`` client as its API base."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, path: str, status: int = 500, *, times: int = 1, retry: bool = False
    ) -> None:
        """Make the next ``times`` requests under ``path`` (like ``/v1/subscriptions``) fail."""
        self.failures[path] = Failure(status, times, retry)

    # --- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if request.method == "POST":
            params = decode((await request.post()).items())  # type: ignore[arg-type]
        else:
            params = decode(request.query.items())
        self.requests.append((request.method, request.path, params))
        for prefix, failure in list(self.failures.items()):
            if request.path.startswith(prefix) and failure.times > 0:
                failure.times -= 1
                response = _error(failure.status, "api_error", "the stand-in was told to fail")
                response.headers["Stripe-Should-Retry"] = "true" if failure.retry else "false"
                return response
        parts = request.path.strip("/").split("/")[1:]
        route = (request.method, *parts)
        try:
            body = self._route(route, params)
        except KeyError as exc:
            return _error(404, "invalid_request_error", f"No such object: {exc}")
        except ValueError as exc:
            return _error(400, "invalid_request_error", str(exc))
        return web.json_response(body)

    def _route(self, route: tuple[str, ...], params: dict[str, Any]) -> dict[str, Any]:
        match route:
            case ("POST", "checkout", "sessions"):
                return self._create_session(params)
            case ("GET", "checkout", "sessions", session_id):
                return _public(self.sessions[session_id])
            case ("POST", "billing_portal", "sessions"):
                customer = params.get("customer", "")
                if customer not in self.customers:
                    raise KeyError(customer)
                portal = {
                    "id": self._id("bps"),
                    "object": "billing_portal.session",
                    "customer": customer,
                    "return_url": params.get("return_url"),
                    "url": f"{self.base_url}/portal/{customer}",
                    "livemode": self.livemode,
                }
                self.portal_sessions.append(portal)
                return portal
            case ("GET", "subscriptions", subscription_id):
                return self.subscriptions[subscription_id]
            case ("GET", "subscriptions"):
                found = list(self.subscriptions.values())
                if params.get("status", "all") != "all":
                    found = [s for s in found if s["status"] == params["status"]]
                return self._page("/v1/subscriptions", found[::-1], params)
            case ("GET", "customers", customer_id):
                return self.customers[customer_id]
            case ("GET", "invoices", invoice_id):
                return self.invoices[invoice_id]
            case ("GET", "events"):
                found = [d.event for d in reversed(self.events)]
                if "delivery_success" in params:
                    wanted = truthy(params["delivery_success"])
                    delivered = {d.event["id"]: d.delivered for d in self.events}
                    found = [e for e in found if delivered[e["id"]] == wanted]
                gte = (params.get("created") or {}).get("gte")
                if gte is not None:
                    found = [e for e in found if e["created"] >= int(gte)]
                return self._page("/v1/events", found, params)
        raise KeyError("/".join(route[1:]))

    def _page(
        self, url: str, items: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        limit = int(params.get("limit", 10))
        after = params.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        return {"object": "list", "url": url, "data": items[:limit], "has_more": len(items) > limit}

    # --- objects ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        mode = "live" if self.livemode else "test"
        return f"{prefix}_{mode}_{next(self._ids):06d}"

    def add_price(self, price_id: str, amount: int, *, interval: int | None = None) -> Price:
        """Sell a price: ``interval`` seconds between renewals, or None for one payment."""
        price = Price(price_id, amount, interval=interval)
        self.prices[price_id] = price
        return price

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params.get("line_items") or []
        if len(items) != 1 or items[0].get("price") not in self.prices:
            raise ValueError("line_items[0][price]: No such price")
        mode = params.get("mode")
        price = self.prices[items[0]["price"]]
        if (mode == "subscription") != (price.interval is not None):
            raise ValueError("the price does not fit the mode")
        if not params.get("success_url"):
            raise ValueError("success_url is required")
        session_id = self._id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "url": f"{self.base_url}/pay/{session_id}",
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "customer_creation": params.get("customer_creation"),
            "allow_promotion_codes": truthy(params.get("allow_promotion_codes")),
            "subscription": None,
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "amount_total": price.amount,
            "currency": price.currency,
            "metadata": params.get("metadata") or {},
            "livemode": self.livemode,
            "locale": params.get("locale"),
            "_price": price.id,
            "_subscription_data": params.get("subscription_data") or {},
        }
        self.sessions[session_id] = session
        return _public(session)

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock(),
            "livemode": self.livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": _public(copy.deepcopy(obj))},
        }
        self.events.append(Delivery(event))
        return event

    def _customer(self, session: dict[str, Any]) -> str:
        customer = session.get("customer")
        if not customer:
            customer = self._id("cus")
            self.customers[customer] = {
                "id": customer,
                "object": "customer",
                "livemode": self.livemode,
            }
            session["customer"] = customer
        return str(customer)

    def _charge(self, customer: str, amount: int, currency: str) -> str:
        intent = self._id("pi")
        self.charges[intent] = {
            "id": self._id("ch"),
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "refunded": False,
            "currency": currency,
            "customer": customer,
            "payment_intent": intent,
            "livemode": self.livemode,
        }
        return intent

    def _invoice(self, subscription: dict[str, Any], amount: int, *, paid: bool) -> dict[str, Any]:
        price = self.prices[subscription["items"]["data"][0]["price"]["id"]]
        intent = self._charge(subscription["customer"], amount, price.currency) if amount else None
        invoice = {
            "id": self._id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "paid" if paid else "open",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "currency": price.currency,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": subscription["metadata"],
                },
            },
            "payments": {
                "object": "list",
                "data": (
                    [
                        {
                            "object": "invoice_payment",
                            "payment": {"type": "payment_intent", "payment_intent": intent},
                        }
                    ]
                    if intent and paid
                    else []
                ),
            },
            "livemode": self.livemode,
        }
        self.invoices[invoice["id"]] = invoice
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    # --- acting as the buyer and as Stripe ----------------------------------------------------

    def pay(self, session_id: str, *, asynchronous: bool = False) -> list[dict[str, Any]]:
        """The buyer completes Checkout; return the events Stripe sends, in Stripe's order."""
        session = self.sessions[session_id]
        price = self.prices[session["_price"]]
        customer = self._customer(session)
        now = self.clock()
        session["status"] = "complete"
        events = []
        if session["mode"] == "subscription":
            data = session["_subscription_data"]
            trial_days = int(data.get("trial_period_days", 0) or 0)
            interval = price.interval or MONTH
            end = now + (trial_days * 86_400 if trial_days else interval)
            subscription = {
                "id": self._id("sub"),
                "object": "subscription",
                "customer": customer,
                "status": "trialing" if trial_days else "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "created": now,
                "start_date": now,
                "trial_end": end if trial_days else None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._id("si"),
                            "object": "subscription_item",
                            "price": {"id": price.id, "object": "price"},
                            "quantity": 1,
                            "current_period_start": now,
                            "current_period_end": end,
                        }
                    ],
                },
                "metadata": data.get("metadata") or {},
                "livemode": self.livemode,
                "latest_invoice": None,
            }
            self.subscriptions[subscription["id"]] = subscription
            invoice = self._invoice(subscription, 0 if trial_days else price.amount, paid=True)
            session["subscription"] = subscription["id"]
            session["payment_status"] = "paid"
            events.append(self._event("customer.subscription.created", subscription))
            events.append(self._event("invoice.paid", invoice))
        else:
            session["payment_intent"] = self._charge(customer, price.amount, price.currency)
            session["payment_status"] = "unpaid" if asynchronous else "paid"
        events.append(self._event("checkout.session.completed", session))
        return events

    def settle(self, session_id: str, *, ok: bool) -> list[dict[str, Any]]:
        """An asynchronous payment (a bank debit) succeeds or fails."""
        session = self.sessions[session_id]
        session["payment_status"] = "paid" if ok else "unpaid"
        kind = "succeeded" if ok else "failed"
        return [self._event(f"checkout.session.async_payment_{kind}", session)]

    def _sub(self, subscription_id: str) -> dict[str, Any]:
        return self.subscriptions[subscription_id]

    def _period(self, subscription: dict[str, Any]) -> dict[str, Any]:
        return subscription["items"]["data"][0]

    def renew(self, subscription_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The period ends and Stripe bills the next one; the payment succeeds or fails."""
        subscription = self._sub(subscription_id)
        item = self._period(subscription)
        price = self.prices[item["price"]["id"]]
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = start + (price.interval or MONTH)
        invoice = self._invoice(subscription, price.amount, paid=paid)
        subscription["status"] = "active" if paid else "past_due"
        subscription["trial_end"] = None
        kind = "invoice.paid" if paid else "invoice.payment_failed"
        return [
            self._event(kind, invoice),
            self._event("customer.subscription.updated", subscription),
        ]

    def set_status(self, subscription_id: str, status: str) -> list[dict[str, Any]]:
        """Stripe moves a subscription to ``status`` (unpaid, paused…)."""
        subscription = self._sub(subscription_id)
        subscription["status"] = status
        return [self._event("customer.subscription.updated", subscription)]

    def cancel_at_period_end(
        self, subscription_id: str, *, cancel: bool = True
    ) -> list[dict[str, Any]]:
        """The buyer cancels in the portal (or takes the cancellation back)."""
        subscription = self._sub(subscription_id)
        subscription["cancel_at_period_end"] = cancel
        subscription["canceled_at"] = self.clock() if cancel else None
        return [self._event("customer.subscription.updated", subscription)]

    def delete(self, subscription_id: str) -> list[dict[str, Any]]:
        """The subscription ends (at period end, or cancelled at once)."""
        subscription = self._sub(subscription_id)
        subscription["status"] = "canceled"
        subscription["ended_at"] = self.clock()
        return [self._event("customer.subscription.deleted", subscription)]

    def trial_will_end(self, subscription_id: str) -> list[dict[str, Any]]:
        """Stripe warns three days before a trial ends."""
        return [self._event("customer.subscription.trial_will_end", self._sub(subscription_id))]

    def intent_of(self, session_or_subscription: str) -> str:
        """Return the PaymentIntent of a one-time session, or of a subscription's last invoice."""
        if session_or_subscription in self.sessions:
            return str(self.sessions[session_or_subscription]["payment_intent"])
        invoice = self.invoices[self._sub(session_or_subscription)["latest_invoice"]]
        return str(invoice["payments"]["data"][0]["payment"]["payment_intent"])

    def refund(self, intent: str, *, amount: int | None = None) -> list[dict[str, Any]]:
        """Refund a payment, in full unless ``amount`` says less."""
        charge = self.charges[intent]
        charge["amount_refunded"] = charge["amount"] if amount is None else amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return [self._event("charge.refunded", charge)]

    def dispute(self, intent: str) -> tuple[str, list[dict[str, Any]]]:
        """The card holder disputes a payment; return the dispute id and the event."""
        charge = self.charges[intent]
        dispute = {
            "id": self._id("dp"),
            "object": "dispute",
            "charge": charge["id"],
            "payment_intent": intent,
            "amount": charge["amount"],
            "status": "needs_response",
            "livemode": self.livemode,
        }
        self.disputes[dispute["id"]] = dispute
        return dispute["id"], [self._event("charge.dispute.created", dispute)]

    def close_dispute(self, dispute_id: str, *, won: bool) -> list[dict[str, Any]]:
        """The bank decides a dispute."""
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won" if won else "lost"
        return [self._event("charge.dispute.closed", dispute)]

    def event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Make an arbitrary event (an unknown type, say) about ``obj``."""
        return self._event(kind, obj)

    # --- webhooks ---------------------------------------------------------------------------

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """Return the body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = json.dumps(event, indent=2).encode()
        stamp = self.clock() if timestamp is None else timestamp
        return body, sign(body, secret or self.webhook_secret, stamp)

    async def deliver(self, session: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> int:
        """Post ``event`` to the webhook as Stripe does; remember whether it got a 2xx."""
        body, header = self.signed(event)
        async with session.post(
            url,
            data=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
        ) as response:
            await response.read()
            ok = 200 <= response.status < 300
        if ok:
            for delivery in self.events:
                if delivery.event["id"] == event["id"]:
                    delivery.delivered = True
        return response.status


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the stand-in's own bookkeeping keys."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)
