"""Demo mode's pretend Stripe account: the gateway when ``demo.enabled``, never Stripe itself.

It keeps its objects (Checkout Sessions, customers' subscriptions, invoices with their
payments, charges, refunds) in memory, shaped as the pinned API version shows them, and
answers the reads the gating worker makes, so the real inbox and rules run unchanged. Its
Checkout and billing "portal" are pages of the web app (``bot/web/demo.py``): paying or
refunding there returns the events to post, which the web app signs and sends to its own
webhook. With a ``state`` file (``cohort demo`` keeps one beside its database) the objects
outlive a restart, so a payment made yesterday can be refunded today.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cogs.gating import _events as ev
from bot.cogs.gating._simulate import PERIOD, Event, subscription_object
from bot.cogs.gating._stripe import CheckoutLink, Listing, Read
from bot.core.clock import Clock

CURRENCY = "usd"
# What each kind of offer pretends to cost, in cents (the config names Stripe prices only).
TIER_AMOUNT = 1900
COURSE_AMOUNT = 4900
CHECKOUT_PATH = "/demo/checkout/"
BILLING_PATH = "/demo/billing/"
SQLITE = "sqlite+aiosqlite:///"

log = logging.getLogger(__name__)


def state_path(database_url: str) -> Path | None:
    """Return where the demo account is kept: beside the SQLite database (else nowhere)."""
    if not database_url.startswith(SQLITE):
        return None
    database = Path(database_url[len(SQLITE) :].partition("?")[0])
    return database.with_name(f"{database.stem}.demo-stripe.json")


class DemoError(Exception):
    """A demo checkout or refund that cannot be made (unknown, already paid or refunded)."""


@dataclass(frozen=True, slots=True)
class DemoPayment:
    """One payment of a demo customer, as the billing page lists it."""

    charge_id: str
    offer_name: str
    amount: int
    currency: str
    created: datetime
    refunded: bool


class DemoGateway:
    """A pretend Stripe account in memory, behind the gating service's Gateway seam."""

    def __init__(
        self,
        clock: Clock,
        *,
        base_url: str,
        names: Mapping[str, str],
        state: Path | None = None,
    ) -> None:
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.names = dict(names)  # price id -> the offer name people see
        self._key = secrets.token_bytes(32)
        self.sessions: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._refunds: list[dict[str, Any]] = []
        self._locales: dict[str, str] = {}  # customer -> the language of their last checkout
        self.state = state
        self._load()

    # --- the pages' tokens -----------------------------------------------------------------

    def token(self, object_id: str) -> str:
        """Return the token a page's form carries for ``object_id`` (its CSRF guard)."""
        return hmac.new(self._key, object_id.encode(), hashlib.sha256).hexdigest()

    def check(self, object_id: str, token: str) -> bool:
        """Say whether ``token`` is the one this process gave out for ``object_id``."""
        return hmac.compare_digest(self.token(object_id), token)

    # --- what the gating service asks --------------------------------------------------------

    async def close(self) -> None:
        """Hold nothing open."""

    async def create_checkout(
        self,
        *,
        price_id: str,
        subscription: bool,
        ref: str,
        customer_id: str | None,
        trial_days: int,
        locale: str,
        metadata: Mapping[str, str],
    ) -> CheckoutLink:
        """Open a demo Checkout Session whose page is the web app's ``/demo/checkout/<id>``."""
        session_id = "cs_demo_" + secrets.token_hex(12)
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription" if subscription else "payment",
            "client_reference_id": ref,
            "customer": customer_id,
            "metadata": dict(metadata),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": TIER_AMOUNT if subscription else COURSE_AMOUNT,
            "currency": CURRENCY,
            "locale": "zh" if locale.startswith("zh") else "en",
            "livemode": False,
            "price": price_id,
            "trial_days": trial_days,
        }
        self._save()
        return CheckoutLink(session_id, self.base_url + CHECKOUT_PATH + session_id, False)

    async def create_portal(self, customer_id: str) -> str:
        """Return the demo billing page of ``customer_id``."""
        return self.base_url + BILLING_PATH + customer_id

    async def subscription(self, subscription_id: str) -> Read:
        """Return a demo subscription."""
        return self._read(self._subscriptions.get(subscription_id))

    async def invoice(self, invoice_id: str) -> Read:
        """Return a demo invoice with its payments."""
        return self._read(self._invoices.get(invoice_id))

    async def invoice_payment(self, intent: str) -> Read:
        """Return the InvoicePayment of ``intent``, its invoice expanded, if it paid one."""
        for invoice in self._invoices.values():
            for payment in invoice["payments"]["data"]:
                if payment["payment"]["payment_intent"] == intent:
                    return self._read({**payment, "invoice": dict(invoice)})
        return self._read(None)

    async def charge(self, charge_id: str) -> Read:
        """Return a demo charge."""
        return self._read(self._charges.get(charge_id))

    async def subscriptions(self) -> Listing:
        """Return every demo subscription, newest first."""
        return self._listing(list(self._subscriptions.values()))

    async def refunds(self, since: datetime) -> Listing:
        """Return the demo refunds since ``since``, each with its charge."""
        stamp = since.timestamp()
        found = [
            {**r, "charge": dict(self._charges[r["charge"]])}
            for r in self._refunds
            if r["created"] >= stamp
        ]
        return self._listing(found)

    async def disputes(self) -> Listing:
        """Return no disputes: nobody disputes a pretend payment."""
        return self._listing([])

    async def undelivered_events(self, since: datetime) -> list[dict[str, Any]]:
        """Return nothing: the demo posts its events to the bot as it makes them."""
        return []

    # --- what the demo pages do ------------------------------------------------------------

    def pay(self, session_id: str) -> list[Event]:
        """Complete an open Checkout Session; return the events Stripe would send for it."""
        session = self._open(session_id)
        now = self.clock.now()
        stamp = int(now.timestamp())
        customer = session["customer"] or "cus_demo_" + secrets.token_hex(8)
        self._locales[customer] = session["locale"]
        ref = session["client_reference_id"]
        session.update(status="complete", payment_status="paid", customer=customer)
        completed = {k: v for k, v in session.items() if k not in ("price", "trial_days")}
        if session["mode"] == "payment":
            intent = "pi_demo_" + secrets.token_hex(12)
            self._charge(customer, intent, session["amount_total"], session["price"], stamp)
            completed["payment_intent"] = intent
            self._save()
            return [("checkout.session.completed", completed, stamp)]
        subscription_id = "sub_demo_" + secrets.token_hex(12)
        trial = int(session["trial_days"])
        end = now + (timedelta(days=trial) if trial else PERIOD)
        status = "trialing" if trial else "active"
        subscription = subscription_object(
            subscription_id, customer, session["price"], status, now, end
        )
        subscription["metadata"] = {ev.REF_KEY: ref}
        subscription["created"] = stamp
        self._subscriptions[subscription_id] = subscription
        completed["subscription"] = subscription_id
        amount = 0 if trial else int(session["amount_total"])
        invoice_id = "in_demo_" + secrets.token_hex(12)
        payments: list[dict[str, Any]] = []
        if amount:
            intent = "pi_demo_" + secrets.token_hex(12)
            self._charge(customer, intent, amount, session["price"], stamp)
            payments.append(
                {
                    "object": "invoice_payment",
                    "status": "paid",
                    "payment": {"type": "payment_intent", "payment_intent": intent},
                }
            )
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "status": "paid",
            "amount_paid": amount,
            "currency": CURRENCY,
            "parent": {"subscription_details": {"subscription": subscription_id}},
            "status_transitions": {"paid_at": stamp},
            "payments": {"object": "list", "data": payments},
            "livemode": False,
        }
        self._invoices[invoice_id] = invoice
        # An event never carries an invoice's payments (an includable field): the worker reads
        # them back from this gateway, as it does from Stripe.
        in_event = {k: v for k, v in invoice.items() if k != "payments"}
        self._save()
        return [
            ("customer.subscription.created", dict(subscription), stamp),
            ("checkout.session.completed", completed, stamp),
            ("invoice.paid", in_event, stamp),
        ]

    def cancel(self, session_id: str) -> None:
        """Give up an open Checkout Session (the buyer pressed Cancel)."""
        self._open(session_id)["status"] = "expired"
        self._save()

    def locale_of(self, customer_id: str) -> str:
        """Return the language of the customer's last checkout ("en" if none)."""
        return self._locales.get(customer_id, "en")

    def payments_of(self, customer_id: str) -> list[DemoPayment]:
        """Return the customer's payments, newest first."""
        found = [c for c in self._charges.values() if c["customer"] == customer_id]
        return [
            DemoPayment(
                charge_id=c["id"],
                offer_name=self.names.get(c["metadata"]["price"], c["metadata"]["price"]),
                amount=c["amount"],
                currency=c["currency"],
                created=datetime.fromtimestamp(c["created"], self.clock.now().tzinfo),
                refunded=c["refunded"],
            )
            for c in sorted(found, key=lambda c: (c["created"], c["id"]), reverse=True)
        ]

    def refund(self, charge_id: str) -> list[Event]:
        """Refund a payment in full; return the ``charge.refunded`` event for it."""
        charge = self._charges.get(charge_id)
        if charge is None:
            raise DemoError(f"no payment {charge_id}")
        if charge["refunded"]:
            raise DemoError(f"payment {charge_id} is already refunded")
        stamp = int(self.clock.now().timestamp())
        charge.update(refunded=True, amount_refunded=charge["amount"])
        self._refunds.insert(
            0,
            {
                "id": "re_demo_" + secrets.token_hex(12),
                "object": "refund",
                "status": "succeeded",
                "amount": charge["amount"],
                "charge": charge_id,
                "payment_intent": charge["payment_intent"],
                "created": stamp,
            },
        )
        self._save()
        return [("charge.refunded", dict(charge), stamp)]

    # --- helpers ---------------------------------------------------------------------------

    def _open(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise DemoError(f"no checkout {session_id}")
        if session["status"] != "open":
            raise DemoError(f"checkout {session_id} is {session['status']}")
        return session

    def _charge(self, customer: str, intent: str, amount: int, price: str, stamp: int) -> None:
        charge_id = "ch_demo_" + secrets.token_hex(12)
        self._charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "customer": customer,
            "payment_intent": intent,
            "amount": amount,
            "amount_refunded": 0,
            "refunded": False,
            "currency": CURRENCY,
            "created": stamp,
            "metadata": {"price": price},
            "livemode": False,
        }

    def _tables(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "subscriptions": self._subscriptions,
            "invoices": self._invoices,
            "charges": self._charges,
            "refunds": self._refunds,
            "locales": self._locales,
        }

    def _load(self) -> None:
        """Read the objects an earlier run kept, if any (an unreadable file is logged, left)."""
        if self.state is None or not self.state.exists():
            return
        try:
            kept = json.loads(self.state.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("demo: could not read %s (%s); starting with no payments", self.state, exc)
            return
        for name, table in self._tables().items():
            found = kept.get(name) if isinstance(kept, dict) else None
            if isinstance(table, list) and isinstance(found, list):
                table.extend(found)
            elif isinstance(table, dict) and isinstance(found, dict):
                table.update(found)

    def _save(self) -> None:
        """Keep the objects for the next run (written whole, then moved into place)."""
        if self.state is None:
            return
        partial = self.state.with_name(self.state.name + ".partial")
        partial.write_text(json.dumps(self._tables()), encoding="utf-8")
        partial.replace(self.state)

    def _read(self, obj: dict[str, Any] | None) -> Read:
        return Read(dict(obj) if obj is not None else None, int(self.clock.now().timestamp()))

    def _listing(self, items: list[dict[str, Any]]) -> Listing:
        items = sorted(items, key=lambda o: int(o.get("created", 0)), reverse=True)
        return Listing([dict(o) for o in items], int(self.clock.now().timestamp()))
