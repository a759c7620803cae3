"""Read the parts of Stripe event payloads that gating uses, from plain JSON (no ``stripe``).

Field locations follow the API version the gateway pins (``_stripe.API_VERSION``, a
2025-03-31.basil successor): a subscription's period sits on its items, an invoice names its
subscription under ``parent`` and has no ``payment_intent``; its ``payments`` are includable,
so they come only with an invoice read with ``expand=["payments"]``, never in an event. The
older top-level fields are read as a fallback.

``problem`` says whether an object can be read at all; the readers take any JSON and never
raise on a field of the wrong type (they read it as absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

REF_KEY = "cohort_ref"
COMMUNITY_KEY = "cohort_community"
MAX_ID = 255  # the width of the columns Stripe ids are stored in
MAX_STATUS = 32


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
CHECKOUT_EVENTS = frozenset(
    {
        EventType.CHECKOUT_COMPLETED,
        EventType.CHECKOUT_ASYNC_SUCCEEDED,
        EventType.CHECKOUT_ASYNC_FAILED,
    }
)
DISPUTE_OPEN = frozenset(
    {
        "warning_needs_response",
        "warning_under_review",
        "needs_response",
        "under_review",
        "appeal_needs_response",
        "appeal_under_review",
        "lost",
    }
)

# The fields each kind of event reads that hold an id (or an expanded object with one).
_ID_FIELDS: dict[str, tuple[str, ...]] = {
    "subscription": ("customer",),
    "checkout": ("customer", "subscription", "payment_intent", "client_reference_id"),
    "invoice": ("customer",),
    "charge": ("payment_intent", "customer"),
    "dispute": ("payment_intent", "charge"),
}
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "subscription": ("status",),
    "checkout": ("mode", "payment_status"),
    "dispute": ("status",),
}


def _family(kind: EventType) -> str:
    if kind in SUBSCRIPTION_EVENTS or kind is EventType.SUBSCRIPTION_TRIAL_WILL_END:
        return "subscription"
    if kind in CHECKOUT_EVENTS:
        return "checkout"
    if kind in (EventType.INVOICE_PAID, EventType.INVOICE_PAYMENT_FAILED):
        return "invoice"
    if kind is EventType.CHARGE_REFUNDED:
        return "charge"
    return "dispute"


def problem(kind: EventType, obj: object) -> str | None:
    """Say why an event's ``data.object`` cannot be what Stripe sends (None: it can)."""
    if not isinstance(obj, dict):
        return f"data.object is {_json_type(obj)}, not an object"
    if _good_id(obj.get("id")) is None:
        return "data.object has no usable id"
    family = _family(kind)
    for name in _ID_FIELDS[family]:
        value = obj.get(name)
        if value is not None and _good_id(value) is None:
            return f"data.object.{name} is not an id"
    for name in _TEXT_FIELDS.get(family, ()):
        value = obj.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_STATUS):
            return f"data.object.{name} is not a status"
    if family == "subscription":
        found = first_item(obj)
        if found is not None and _good_id(found.get("price")) is None:
            return "data.object.items has no price"
    if family == "invoice":
        subscription = _subscription_details(obj).get("subscription", obj.get("subscription"))
        if subscription is not None and _good_id(subscription) is None:
            return "data.object.parent names no subscription"
    return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _good_id(value: object) -> str | None:
    """Return an id (or an expanded object's id) that fits where ids are stored."""
    found = _id(value)
    return found if found and len(found) <= MAX_ID else None


def when(epoch: object) -> datetime | None:
    """Turn Stripe's epoch seconds into an aware UTC datetime."""
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _id(value: object) -> str | None:
    """Return an expandable field's id, whether Stripe sent the id or the object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def id_of(obj: dict[str, Any], name: str) -> str | None:
    """Return the id an object's field ``name`` holds (an id or an expanded object)."""
    return _id(obj.get(name))


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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


def first_item(obj: dict[str, Any]) -> dict[str, Any] | None:
    """Return a subscription's first item (where its period and price are), if any."""
    data = _dict(obj.get("items")).get("data")
    if isinstance(data, list) and data:
        return _dict(data[0])
    return None


def subscription(obj: dict[str, Any]) -> SubscriptionSnapshot:
    """Read a subscription object."""
    first = first_item(obj) or {}
    start = first.get("current_period_start", obj.get("current_period_start"))
    end = first.get("current_period_end", obj.get("current_period_end"))
    status = obj.get("status")
    return SubscriptionSnapshot(
        id=str(obj["id"]),
        customer_id=_id(obj.get("customer")),
        status=status if isinstance(status, str) else "",
        cancel_at_period_end=obj.get("cancel_at_period_end") is True,
        period_start=when(start),
        period_end=when(end),
        price_id=_id(first.get("price")),
        ref=metadata(obj).get(REF_KEY),
        livemode=obj.get("livemode") is True,
    )


def _subscription_details(obj: dict[str, Any]) -> dict[str, Any]:
    return _dict(_dict(obj.get("parent")).get("subscription_details"))


def invoice_subscription(obj: dict[str, Any]) -> str | None:
    """Return the id of the subscription an invoice bills, if any."""
    found = _id(_subscription_details(obj).get("subscription"))
    return found or _id(obj.get("subscription"))


def payments_included(obj: dict[str, Any]) -> bool:
    """Say whether an invoice carries its payments (only when read with them expanded)."""
    return isinstance(obj.get("payments"), dict)


def invoice_payment_intents(obj: dict[str, Any]) -> list[str]:
    """Return the PaymentIntents that paid an invoice, as far as the object shows them."""
    found: list[str] = []
    data = _dict(obj.get("payments")).get("data")
    for item in data if isinstance(data, list) else []:
        payment = _dict(item)
        if payment.get("status", "paid") != "paid":
            continue
        intent = _good_id(_dict(payment.get("payment")).get("payment_intent"))
        if intent:
            found.append(intent)
    legacy = _good_id(obj.get("payment_intent"))
    if legacy and legacy not in found:
        found.append(legacy)
    return found


def paid_at(invoice: dict[str, Any]) -> int | None:
    """Return when an invoice was paid, in epoch seconds."""
    stamp = _dict(invoice.get("status_transitions")).get("paid_at")
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None


def payment_intent_of(obj: dict[str, Any]) -> str | None:
    """Return the PaymentIntent of a charge, a dispute or a Checkout Session (it may be null)."""
    return _good_id(obj.get("payment_intent"))


def fully_refunded(charge: dict[str, Any]) -> bool:
    """Say whether a charge was refunded in full."""
    amount = charge.get("amount")
    refunded = charge.get("amount_refunded")
    if charge.get("refunded") is True:
        return True
    return isinstance(amount, int) and isinstance(refunded, int) and refunded >= amount > 0


def customer_of(obj: dict[str, Any]) -> str | None:
    """Return the customer id an object names."""
    return _good_id(obj.get("customer"))


def amount(obj: dict[str, Any], name: str) -> int | None:
    """Return an amount in minor units, if the field holds one."""
    value = obj.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
