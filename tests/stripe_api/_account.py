"""The Stripe account behind the stand-in: its objects, and the steps a buyer and Stripe take.

Each step (``pay``, ``renew``, ``refund``, ``dispute``…) changes the objects and returns the
events Stripe sends for it, in Stripe's order, each with ``created`` from the account's clock
and ``data.object`` serialised as Stripe serialises it for a webhook (no includable fields).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.stripe_api._form import truthy
from tests.stripe_api._objects import API_VERSION, render

MONTH = 30 * 86_400
YEAR = 365 * 86_400


@dataclass
class Price:
    """A price the stand-in sells."""

    id: str
    amount: int
    currency: str = "usd"
    interval: int | None = None  # seconds between renewals; None for one-time prices


@dataclass
class Delivery:
    """What the stand-in keeps of each event: the event and whether it reached the bot."""

    event: dict[str, Any]
    delivered: bool = False


@dataclass
class Account:
    """Stripe's objects for one account, and the buyer's and Stripe's steps that change them."""

    livemode: bool = False
    clock: Callable[[], int] = field(default=lambda: int(time.time()))
    prices: dict[str, Price] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[Delivery] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- objects ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        mode = "live" if self.livemode else "test"
        return f"{prefix}_{mode}_{next(self._ids):06d}"

    def lookup(self, object_id: str) -> dict[str, Any]:
        """Return any stored object by its id (KeyError if there is none)."""
        for store in (
            self.sessions,
            self.customers,
            self.subscriptions,
            self.invoices,
            self.invoice_payments,
            self.charges,
            self.refunds,
            self.disputes,
        ):
            if object_id in store:
                return store[object_id]
        raise KeyError(object_id)

    def add_price(self, price_id: str, amount: int, *, interval: int | None = None) -> Price:
        """Sell a price: ``interval`` seconds between renewals, or None for one payment."""
        price = Price(price_id, amount, interval=interval)
        self.prices[price_id] = price
        return price

    def create_session(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        """Create a Checkout Session from the form the client posted."""
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
            "url": f"{base_url}/pay/{session_id}",
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
            "line_items": {
                "object": "list",
                "data": [{"object": "item", "price": {"id": price.id}, "quantity": 1}],
            },
            "_price": price.id,
            "_subscription_data": params.get("subscription_data") or {},
        }
        self.sessions[session_id] = session
        return session

    def _event(
        self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": render(obj, [], self.lookup)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock(),
            "livemode": self.livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": data,
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
        """Take a payment; return its PaymentIntent id."""
        intent = self._id("pi")
        charge_id = self._id("ch")
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "captured": True,
            "paid": True,
            "status": "succeeded",
            "refunded": False,
            "disputed": False,
            "currency": currency,
            "customer": customer,
            "payment_intent": intent,
            "created": self.clock(),
            "livemode": self.livemode,
            "refunds": {"object": "list", "data": [], "has_more": False},
        }
        return intent

    def charge_of(self, intent: str) -> dict[str, Any]:
        """Return the charge of a PaymentIntent."""
        return next(c for c in self.charges.values() if c["payment_intent"] == intent)

    def _invoice(self, subscription: dict[str, Any], amount: int, *, paid: bool) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        price = self.prices[str(item["price"]["id"])]
        now = self.clock()
        invoice_id = self._id("in")
        payments = []
        if amount and paid:
            intent = self._charge(subscription["customer"], amount, price.currency)
            payment_id = self._id("inpay")
            payment: dict[str, Any] = {
                "id": payment_id,
                "object": "invoice_payment",
                "amount_paid": amount,
                "amount_requested": amount,
                "created": now,
                "currency": price.currency,
                "invoice": invoice_id,
                "is_default": True,
                "livemode": self.livemode,
                "payment": {"type": "payment_intent", "payment_intent": intent},
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": now},
            }
            self.invoice_payments[payment_id] = payment
            payments.append(payment)
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "billing_reason": (
                "subscription_create"
                if subscription["latest_invoice"] is None
                else "subscription_cycle"
            ),
            "customer": subscription["customer"],
            "status": "paid" if paid else "open",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "currency": price.currency,
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            },
            "payments": {
                "object": "list",
                "data": payments,
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={invoice_id}",
            },
            "status_transitions": {"finalized_at": now, "paid_at": now if paid else None},
            "livemode": self.livemode,
        }
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    # --- acting as the buyer and as Stripe ----------------------------------------------------

    def pay(
        self, session_id: str, *, asynchronous: bool = False, names_buyer: bool = True
    ) -> list[dict[str, Any]]:
        """The buyer completes Checkout; return the events Stripe sends, in Stripe's order.

        A subscription starts ``incomplete`` (``trialing`` with a trial) and turns ``active``
        once its first invoice is paid, as Checkout does. ``names_buyer=False`` leaves out the
        ``subscription_data.metadata`` the session was made with, as for a subscription whose
        metadata was replaced in the Dashboard: then only the checkout names the buyer.
        """
        session = self.sessions[session_id]
        price = self.prices[str(session["_price"])]
        customer = self._customer(session)
        now = self.clock()
        session["status"] = "complete"
        events = []
        if session["mode"] == "subscription":
            data = session["_subscription_data"]
            trial_days = int(data.get("trial_period_days", 0) or 0)
            interval = price.interval or MONTH
            end = now + (trial_days * 86_400 if trial_days else interval)
            subscription_id = self._id("sub")
            subscription: dict[str, Any] = {
                "id": subscription_id,
                "object": "subscription",
                "customer": customer,
                "status": "trialing" if trial_days else "incomplete",
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
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
                "metadata": dict(data.get("metadata") or {}) if names_buyer else {},
                "livemode": self.livemode,
                "latest_invoice": None,
            }
            self.subscriptions[subscription_id] = subscription
            session["subscription"] = subscription_id
            session["payment_status"] = "paid"
            events.append(self._event("customer.subscription.created", subscription))
            invoice = self._invoice(subscription, 0 if trial_days else price.amount, paid=True)
            events.append(self._event("invoice.paid", invoice))
            if not trial_days:
                subscription["status"] = "active"
                events.append(
                    self._event(
                        "customer.subscription.updated", subscription, {"status": "incomplete"}
                    )
                )
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

    def renew(self, subscription_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The period ends and Stripe bills the next one; the payment succeeds or fails."""
        subscription = self._sub(subscription_id)
        item = subscription["items"]["data"][0]
        price = self.prices[item["price"]["id"]]
        previous = {
            "status": subscription["status"],
            "items": {"data": [{"current_period_start": item["current_period_start"]}]},
        }
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = start + (price.interval or MONTH)
        invoice = self._invoice(subscription, price.amount, paid=paid)
        subscription["status"] = "active" if paid else "past_due"
        subscription["trial_end"] = None
        kind = "invoice.paid" if paid else "invoice.payment_failed"
        return [
            self._event(kind, invoice),
            self._event("customer.subscription.updated", subscription, previous),
        ]

    def set_status(self, subscription_id: str, status: str) -> list[dict[str, Any]]:
        """Stripe moves a subscription to ``status`` (unpaid, paused…)."""
        subscription = self._sub(subscription_id)
        previous = {"status": subscription["status"]}
        subscription["status"] = status
        return [self._event("customer.subscription.updated", subscription, previous)]

    def cancel_at_period_end(
        self, subscription_id: str, *, cancel: bool = True
    ) -> list[dict[str, Any]]:
        """The buyer cancels in the portal (or takes the cancellation back)."""
        subscription = self._sub(subscription_id)
        previous = {"cancel_at_period_end": subscription["cancel_at_period_end"]}
        subscription["cancel_at_period_end"] = cancel
        subscription["canceled_at"] = self.clock() if cancel else None
        end = subscription["items"]["data"][0]["current_period_end"]
        subscription["cancel_at"] = end if cancel else None
        return [self._event("customer.subscription.updated", subscription, previous)]

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
        charge = self.charge_of(intent)
        amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": intent,
            "currency": charge["currency"],
            "status": "succeeded",
            "created": self.clock(),
        }
        self.refunds[refund["id"]] = refund
        charge["refunds"]["data"].insert(0, refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return [self._event("charge.refunded", charge)]

    def dispute(
        self, intent: str, *, names_intent: bool = True
    ) -> tuple[str, list[dict[str, Any]]]:
        """The card holder disputes a payment; return the dispute id and the event.

        ``Dispute.payment_intent`` is nullable: ``names_intent=False`` leaves it null, so that
        only the disputed ``charge`` leads to the payment.
        """
        charge = self.charge_of(intent)
        charge["disputed"] = True
        dispute = {
            "id": self._id("dp"),
            "object": "dispute",
            "charge": charge["id"],
            "payment_intent": intent if names_intent else None,
            "amount": charge["amount"],
            "currency": charge["currency"],
            "status": "needs_response",
            "created": self.clock(),
            "livemode": self.livemode,
        }
        self.disputes[dispute["id"]] = dispute
        return dispute["id"], [self._event("charge.dispute.created", dispute)]

    def close_dispute(self, dispute_id: str, *, won: bool) -> list[dict[str, Any]]:
        """The bank decides a dispute."""
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won" if won else "lost"
        return [self._event("charge.dispute.closed", dispute)]

    def event(self, kind: str, obj: Any) -> dict[str, Any]:
        """Make an arbitrary event (an unknown type, a malformed object…) about ``obj``."""
        if isinstance(obj, dict):
            return self._event(kind, obj)
        event = self._event(kind, {})
        event["data"]["object"] = obj
        return event
