"""What applying an event comes to, and the two ways it can be put off."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EventStatus(StrEnum):
    """Where an inbox event stands."""

    PENDING = "pending"
    APPLIED = "applied"
    IGNORED = "ignored"  # genuine, and nothing for Cohort (another mode, type or product)
    REJECTED = "rejected"  # signed, but its object is not what Stripe sends: never retried
    EXPIRED = "expired"  # waited for what it refers to, which never came
    FAILED = "failed"  # could not be applied, try after try


class FetchKind(StrEnum):
    """What an event may need read from Stripe before it can be applied."""

    SUBSCRIPTION = "subscription"  # a subscription, by id
    INVOICE = "invoice"  # an invoice with its payments, by id
    PAYMENT = "payment"  # the InvoicePayment of a PaymentIntent, by the PaymentIntent
    CHARGE = "charge"  # a charge, by id


FetchKey = tuple[FetchKind, str]


class Audit(StrEnum):
    """What an audit row records."""

    PURCHASE = "purchase"
    REFUND = "refund"
    DISPUTE = "dispute"
    GRANT = "grant"
    REVOKE = "revoke"
    PAYMENT_FAILED = "payment_failed"


class NoticeKind(StrEnum):
    """Direct messages the worker sends after an event is committed."""

    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"


class Defer(Exception):
    """The event refers to something not known yet (it came early): try it again later."""

    def __init__(self, message: str, waits_for: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.waits_for = waits_for  # what it needs, when the worker can tell it comes


class Orphaned(Defer):
    """The event belongs to a community the config no longer has: kept pending, not tried.

    It waits untouched (its tries are not counted, so it never expires) until a process that
    loads the community starts again; see ``_orphans``.
    """

    def __init__(self, community_id: int) -> None:
        super().__init__(f"community {community_id} is not loaded")
        self.community_id = community_id


class NeedFetch(Exception):
    """The event cannot be applied on what Cohort knows: read these from Stripe first."""

    def __init__(self, *keys: FetchKey) -> None:
        super().__init__(", ".join(f"{kind.value} {ref}" for kind, ref in keys))
        self.keys = keys


@dataclass(slots=True)
class Outcome:
    """What applying one event came to."""

    status: EventStatus = EventStatus.APPLIED
    note: str | None = None
    community_id: int | None = None
    members: set[int] = field(default_factory=set)
    notices: list[tuple[NoticeKind, int, str]] = field(default_factory=list)  # kind, member, offer


def subscription_key(subscription_id: str) -> tuple[str, str]:
    return ("subscription", subscription_id)


def payment_key(intent: str) -> tuple[str, str]:
    return ("payment", intent)
