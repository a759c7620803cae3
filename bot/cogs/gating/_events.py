"""Read the parts of Stripe event payloads that gating uses, from plain JSON (no ``stripe``).

Field locations follow the API version the gateway pins (``2026-10-28``): a subscription's
period sits on its items, an invoice names its subscription under ``parent``; the older
top-level fields are read as a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

REF_KEY = "cohort_ref"
COMMUNITY_KEY = "cohort_community"


class EventType(StrEnum):
    """The Stripe event types gating acts on."""

    CHECKOUT_COMPLETED = "checkout.session.completed"
    CHECKOUT_ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
    CHECKOUT_ASYNC_FAILED = "checkout.session.async_payment_failed"
    SUBSCRIPTION_CREATED = "customer.subscription.created"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    SUBSCRIPTION_TRIAL_WILL_END = "customer.subscription.trial_will_end"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    CHARGE_REFUNDED = "charge.refunded"
    DISPUTE_CREATED = "charge.dispute.created"
    DISPUTE_CLOSED = "charge.dispute.closed"


SUBSCRIPTION_EVENTS = frozenset(
    {
        EventType.SUBSCRIPTION_CREATED,
        EventType.SUBSCRIPTION_UPDATED,
        EventType.SUBSCRIPTION_DELETED,
    }
)
DISPUTE_OPEN = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review", "lost"}
)


def when(epoch: object) -> datetime | None:
    """Turn Stripe's epoch seconds into an aware UTC datetime."""
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    return datetime.fromtimestamp(epoch, UTC)


def _id(value: object) -> str | None:
    """Return an expandable field's id, whether Stripe sent the id or the object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def metadata(obj: dict[str, Any]) -> dict[str, str]:
    """Return an object's metadata, as strings."""
    found = obj.get("metadata")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


@dataclass(frozen=True, slots=True)
class SubscriptionSnapshot:
    """A subscription as one event (or a fetch) shows it."""

    id: str
    customer_id: str | None
    status: str
    cancel_at_period_end: bool
    period_start: datetime | None
    period_end: datetime | None
    price_id: str | None
    ref: str | None
    livemode: bool


def subscription(obj: dict[str, Any]) -> SubscriptionSnapshot:
    """Read a subscription object."""
    items = obj.get("items")
    first: dict[str, Any] = {}
    if isinstance(items, dict) and isinstance(items.get("data"), list) and items["data"]:
        first = items["data"][0]
    price = first.get("price") if first else None
    start = first.get("current_period_start", obj.get("current_period_start"))
    end = first.get("current_period_end", obj.get("current_period_end"))
    return SubscriptionSnapshot(
        id=str(obj["id"]),
        customer_id=_id(obj.get("customer")),
        status=str(obj.get("status", "")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        period_start=when(start),
        period_end=when(end),
        price_id=_id(price),
        ref=metadata(obj).get(REF_KEY),
        livemode=bool(obj.get("livemode")),
    )


def invoice_subscription(obj: dict[str, Any]) -> str | None:
    """Return the id of the subscription an invoice bills, if any."""
    parent = obj.get("parent")
    if isinstance(parent, dict):
        details = parent.get("subscription_details")
        if isinstance(details, dict):
            found = _id(details.get("subscription"))
            if found:
                return found
    return _id(obj.get("subscription"))


def invoice_payment_intents(obj: dict[str, Any]) -> list[str]:
    """Return the PaymentIntents that paid an invoice."""
    found: list[str] = []
    payments = obj.get("payments")
    if isinstance(payments, dict):
        for item in payments.get("data") or []:
            payment = item.get("payment") if isinstance(item, dict) else None
            intent = _id(payment.get("payment_intent")) if isinstance(payment, dict) else None
            if intent:
                found.append(intent)
    legacy = _id(obj.get("payment_intent"))
    if legacy and legacy not in found:
        found.append(legacy)
    return found


def payment_intent_of(obj: dict[str, Any]) -> str | None:
    """Return the PaymentIntent of a charge, a dispute or a Checkout Session."""
    return _id(obj.get("payment_intent"))


def fully_refunded(charge: dict[str, Any]) -> bool:
    """Say whether a charge was refunded in full."""
    amount = charge.get("amount")
    refunded = charge.get("amount_refunded")
    if charge.get("refunded") is True:
        return True
    return isinstance(amount, int) and isinstance(refunded, int) and refunded >= amount > 0


def customer_of(obj: dict[str, Any]) -> str | None:
    """Return the customer id an object names."""
    return _id(obj.get("customer"))
